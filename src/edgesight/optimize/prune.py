"""Magnitude pruning of ONNX conv/gemm weights, with an honest report of what it buys.

Unstructured: zero the smallest-|w| fraction of each weight tensor. Channel: zero whole output
channels with the smallest L1 norm (their bias too). The graph keeps its shapes: dense CPU kernels
(ONNX Runtime, OpenVINO) do the same work on zeros, so latency does not change; what shrinks is the
compressed size (zeros compress), and channel-pruned models can be physically slimmed and fine-tuned
in the training framework afterwards.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgesight.errors import ConfigError
from edgesight.optimize.detection_head import find_decode_tail
from edgesight.optimize.model_file import copy_metadata, load_onnx

__all__ = ["PruneReport", "prune_model", "zipped_size"]


@dataclass
class PruneReport:
    """Sizes in bytes; sparsity = fraction of zero weights over the pruned tensors."""

    output: Path
    mode: str
    target: float
    sparsity: float
    tensors: int
    size_before: int
    size_after: int
    zip_before: int
    zip_after: int
    per_tensor: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["output"] = str(self.output)
        return d


def zipped_size(data: bytes) -> int:
    """Bytes after deflate (what a download or an OTA update costs)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.onnx", data)
    return len(buf.getvalue())


def prune_model(source: Path, output: Path, sparsity: float, mode: str = "unstructured") -> PruneReport:
    """Write a magnitude-pruned copy of ``source`` to ``output``; ``source`` is not modified.

    Args:
        sparsity: fraction (0..0.99) of each conv/gemm weight tensor to zero (channels in 'channel' mode).
        mode: 'unstructured' or 'channel'.

    Raises:
        ConfigError: bad sparsity or mode. ModelError: bad model file (see ``load_onnx``).
    """
    if mode not in ("unstructured", "channel"):
        raise ConfigError(f"--prune-mode: expected unstructured or channel, got {mode!r}")
    if not 0.0 < sparsity < 1.0:
        raise ConfigError(f"--prune: expected a fraction between 0 and 1, got {sparsity}")
    src_bytes = Path(source).read_bytes()
    model = load_onnx(Path(source))
    tail = {t.name for t in find_decode_tail(model)}  # fixed decode weights (DFL) are not learned: keep them
    inits = {t.name: t for t in model.graph.initializer}
    weight_of: dict[str, str] = {}  # weight -> bias
    for n in model.graph.node:
        if (
            n.op_type in ("Conv", "Gemm", "ConvTranspose")
            and n.name not in tail
            and len(n.input) > 1
            and n.input[1] in inits
        ):
            weight_of[n.input[1]] = n.input[2] if len(n.input) > 2 else ""
    zeros = total = 0
    per_tensor = []
    for wname, bname in weight_of.items():
        w = numpy_helper.to_array(inits[wname]).copy()
        if w.size < 16 or not np.issubdtype(w.dtype, np.floating):
            continue
        if mode == "unstructured":
            k = int(sparsity * w.size)
            if k:  # exactly k smallest |w| (ties broken by position: dequantized weights repeat values)
                flat = w.reshape(-1)
                flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0
        else:
            norms = np.abs(w.reshape(w.shape[0], -1)).sum(axis=1)
            k = int(sparsity * w.shape[0])
            if k:
                drop = np.argsort(norms)[:k]
                w[drop] = 0
                if bname and bname in inits:
                    b = numpy_helper.to_array(inits[bname]).copy()
                    b[drop] = 0
                    inits[bname].CopyFrom(numpy_helper.from_array(b, bname))
        inits[wname].CopyFrom(numpy_helper.from_array(w, wname))
        z = int((w == 0).sum())
        zeros += z
        total += w.size
        per_tensor.append({"tensor": wname, "shape": list(w.shape), "sparsity": z / w.size})
    copy_metadata(model, model, {"edgesight.pruning": f"{mode} {sparsity:.2f}"})
    onnx.save(model, str(output))
    out_bytes = Path(output).read_bytes()
    return PruneReport(
        output=Path(output),
        mode=mode,
        target=sparsity,
        sparsity=zeros / total if total else 0.0,
        tensors=len(per_tensor),
        size_before=len(src_bytes),
        size_after=len(out_bytes),
        zip_before=zipped_size(src_bytes),
        zip_after=zipped_size(out_bytes),
        per_tensor=per_tensor,
    )

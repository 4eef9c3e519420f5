"""Load and check ONNX model files for the optimizers (clear errors for bad input)."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgesight.errors import ModelError

__all__ = ["copy_metadata", "load_onnx", "weight_bytes"]


def load_onnx(path: Path, need_weights: bool = True) -> onnx.ModelProto:
    """Load an ONNX model with its weights.

    Raises:
        ModelError: missing/empty file, not ONNX, external weights missing, or (``need_weights``)
            a graph without any weight initializer.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    if p.suffix.lower() != ".onnx":
        raise ModelError(f"{p}: expected an ONNX model (.onnx), got {p.suffix or 'no suffix'!r}")
    if p.stat().st_size == 0:
        raise ModelError(f"{p}: the file is empty")
    try:
        model = onnx.load(str(p), load_external_data=False)
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                loc = {e.key: e.value for e in t.external_data}.get("location", "")
                if not (p.parent / loc).is_file():
                    raise ModelError(
                        f"{p}: its external weight file is missing ({p.parent / loc}, tensor {t.name})"
                    )
        onnx.load_external_data_for_model(model, str(p.parent))
    except ModelError:
        raise
    except Exception as exc:  # DecodeError / ValueError for a file that is not ONNX
        raise ModelError(
            f"{p}: not a valid ONNX model ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})"
        ) from None
    if not model.graph.node:
        raise ModelError(f"{p}: the ONNX graph has no nodes")
    if need_weights and weight_bytes(model) == 0:
        raise ModelError(
            f"{p}: the model has no weights (no initializer tensors): nothing to quantize or prune; "
            "export it with its weights"
        )
    return model


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of initializer data (weights) held in the model."""
    total = 0
    for t in model.graph.initializer:
        if t.raw_data:
            total += len(t.raw_data)
        else:
            total += (
                len(t.float_data) * 4 + len(t.int64_data) * 8 + len(t.int32_data) * 4 + len(t.double_data) * 8
            )
    return total


def copy_metadata(src: onnx.ModelProto, dst: onnx.ModelProto, extra: dict[str, str]) -> None:
    """Give ``dst`` (a model this module built) the metadata of ``src`` plus ``extra``; src is not modified."""
    props = {p.key: p.value for p in src.metadata_props}
    props.update({p.key: p.value for p in dst.metadata_props if p.key not in props})
    props.update(extra)
    del dst.metadata_props[:]
    for k, v in props.items():
        dst.metadata_props.add(key=k, value=v)

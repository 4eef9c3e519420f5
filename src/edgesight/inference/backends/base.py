"""What every inference backend exposes: tensor descriptions, model metadata and ``run``.

A backend only runs a model (input tensors in, output tensors out); pre- and post-processing
live in :mod:`edgesight.inference.preprocess` and :mod:`edgesight.inference.decoders`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgesight.errors import ModelError

__all__ = [
    "InferenceBackend",
    "TensorInfo",
    "check_model_file",
    "first_line",
    "tflite_metadata",
]


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output.

    Attributes:
        name: tensor name in the model.
        shape: dimensions; ``None`` marks a dynamic (symbolic or -1) dimension.
        dtype: numpy element type the backend expects/returns.
        scale: quantization scale (real = scale * (q - zero_point)); 0.0 when not quantized.
        zero_point: quantization zero point.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype[Any]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        """True for integer tensors carrying a (per-tensor) quantization scale."""
        return self.scale > 0 and np.issubdtype(self.dtype, np.integer)

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        q = f" (scale {self.scale:g}, zero point {self.zero_point})" if self.quantized else ""
        return f"{self.name} [{dims}] {np.dtype(self.dtype).name}{q}"


@runtime_checkable
class InferenceBackend(Protocol):
    """A loaded model ready to run (not thread-safe: one caller at a time).

    Attributes:
        kind: registry name ("onnxruntime", "openvino", "litert").
        path: the model file.
        inputs / outputs: tensor descriptions in the model's order.
        metadata: string key/values the file carries (Ultralytics: names, imgsz, task, stride...).
    """

    kind: str
    path: Path
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    metadata: dict[str, str]

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once; ``inputs`` maps input names to arrays of the input's dtype. Outputs in model order."""
        ...


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message (library errors can be pages long)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line:
            return line[:300]
    return type(exc).__name__


def check_model_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Raise ModelError unless ``path`` is an existing, non-empty file with one of ``suffixes``."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    if not p.is_file():
        raise ModelError(f"model path is not a file: {p}")
    if p.stat().st_size == 0:
        raise ModelError(f"model file is empty: {p}")
    if p.suffix.lower() not in suffixes:
        raise ModelError(f"expected a model file ending in {', '.join(suffixes)}, got {p.name}")
    return p


def tflite_metadata(path: Path) -> dict[str, str]:
    """Metadata Ultralytics appends to .tflite exports as a zip member (``metadata.json``); {} if none."""
    try:
        if not zipfile.is_zipfile(path):
            return {}
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not names:
                return {}
            import ast
            import json

            text = zf.read(names[0]).decode("utf-8", errors="replace")
            try:
                data = json.loads(text)
            except ValueError:
                data = ast.literal_eval(text)
    except (OSError, zipfile.BadZipFile, ValueError, SyntaxError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v if isinstance(v, str) else repr(v) for k, v in data.items()}

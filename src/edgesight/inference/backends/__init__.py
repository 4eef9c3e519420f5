"""Inference backends, one file each, joined by the explicit ``BACKENDS`` registry.

Each backend module imports its runtime library only when a model is opened, so a missing
optional runtime (OpenVINO, LiteRT) fails with an install hint instead of at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesight.config import (
    LiteRtBackendConfig,
    OnnxRuntimeBackendConfig,
    OpenVinoBackendConfig,
)
from edgesight.errors import ModelError
from edgesight.inference.backends import litert, onnxruntime, openvino
from edgesight.inference.backends.base import InferenceBackend, TensorInfo

__all__ = ["BACKENDS", "InferenceBackend", "TensorInfo", "default_backend_config", "open_backend"]

AnyBackendConfig = OnnxRuntimeBackendConfig | OpenVinoBackendConfig | LiteRtBackendConfig

# type name -> (opener, config class). Explicit: adding a backend is one line here.
BACKENDS: dict[str, tuple[Callable[[Path, Any], InferenceBackend], type[AnyBackendConfig]]] = {
    "onnxruntime": (onnxruntime.open_backend, OnnxRuntimeBackendConfig),
    "openvino": (openvino.open_backend, OpenVinoBackendConfig),
    "litert": (litert.open_backend, LiteRtBackendConfig),
}

# file suffix -> default backend type
_DEFAULT_FOR_SUFFIX = {".onnx": "onnxruntime", ".xml": "openvino", ".tflite": "litert"}


def default_backend_config(path: Path) -> AnyBackendConfig:
    """The backend config used when the user names none: chosen from the file suffix."""
    suffix = Path(path).suffix.lower()
    kind = _DEFAULT_FOR_SUFFIX.get(suffix)
    if kind is None:
        raise ModelError(
            f"cannot tell the model format of {path}: expected .onnx, .tflite or OpenVINO .xml, got {suffix or 'no suffix'!r}"
        )
    return BACKENDS[kind][1].model_validate({})


def open_backend(path: Path, config: AnyBackendConfig | None = None) -> InferenceBackend:
    """Open ``path`` with the backend ``config`` names (default: chosen from the file suffix).

    Raises:
        ModelError: missing/corrupt file, wrong format for the backend, or runtime not installed.
    """
    cfg = config if config is not None else default_backend_config(path)
    opener, _ = BACKENDS[cfg.type]
    return opener(Path(path), cfg)

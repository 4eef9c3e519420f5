"""ONNX Runtime backend (core dependency): CPU by default, other execution providers when installed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.config import OnnxRuntimeBackendConfig
from edgesight.errors import ModelError
from edgesight.inference.backends.base import TensorInfo, check_model_file, first_line

__all__ = ["OnnxRuntimeBackend", "open_backend"]

log = logging.getLogger(__name__)

# ONNX type strings -> numpy dtypes for the element types detection models use.
_ORT_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _dim(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` over one .onnx file.

    Attributes:
        providers: execution providers actually in use, in priority order.
    """

    kind = "onnxruntime"

    def __init__(self, path: Path, config: OnnxRuntimeBackendConfig | None = None) -> None:
        cfg = config or OnnxRuntimeBackendConfig.model_validate({})
        self.path = check_model_file(Path(path), (".onnx",))
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - core dependency
            raise ModelError("onnxruntime is not installed: pip install onnxruntime") from None

        available = ort.get_available_providers()
        missing = [p for p in cfg.providers if p not in available]
        providers = [p for p in cfg.providers if p in available]
        if missing:
            log.warning(
                "execution provider(s) %s not available in this onnxruntime build (available: %s); using %s",
                ", ".join(missing),
                ", ".join(available),
                ", ".join(providers or ["CPUExecutionProvider"]),
            )
        if not providers:
            providers = ["CPUExecutionProvider"]
        self.missing_providers: list[str] = missing

        opts = ort.SessionOptions()
        if cfg.threads:
            opts.intra_op_num_threads = cfg.threads
            opts.inter_op_num_threads = 1
        # Spinning worker threads win a few % when inference runs alone but fight the pipeline's
        # decode/letterbox/tracking threads for the same cores (bench/pipeline.py: 0.81 -> 1.00 of raw).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if cfg.spin else "0")
        opts.log_severity_level = 3  # errors only; warnings about unused initializers are noise here
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises Fail/InvalidProtobuf/InvalidGraph/NotImplemented
            reason = first_line(exc).replace(f"Load model from {self.path} failed:", "")
            raise ModelError(f"{self.path}: onnxruntime cannot load it ({reason})") from None
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        self.providers: list[str] = list(self._session.get_providers())
        self.inputs: list[TensorInfo] = [self._info(i) for i in self._session.get_inputs()]
        self.outputs: list[TensorInfo] = [self._info(o) for o in self._session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]

    def _info(self, node: Any) -> TensorInfo:
        dtype = _ORT_DTYPES.get(node.type)
        if dtype is None:
            raise ModelError(f"{self.path}: tensor {node.name!r} has unsupported type {node.type}")
        return TensorInfo(node.name, tuple(_dim(d) for d in node.shape), np.dtype(dtype))

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session; returns outputs in model order (fresh arrays owned by the caller)."""
        try:
            return list(self._session.run(self._output_names, inputs))
        except Exception as exc:
            raise ModelError(f"{self.path}: onnxruntime failed to run ({first_line(exc)})") from None


def open_backend(path: Path, config: OnnxRuntimeBackendConfig | None = None) -> OnnxRuntimeBackend:
    """Load ``path`` with ONNX Runtime (missing providers fall back to the CPU with a warning)."""
    return OnnxRuntimeBackend(path, config)

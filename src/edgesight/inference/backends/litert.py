"""LiteRT (TFLite) backend (``pip install edgesight[litert]``) via ``ai_edge_litert.interpreter``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesight.config import LiteRtBackendConfig
from edgesight.errors import ModelError
from edgesight.inference.backends.base import TensorInfo, check_model_file, first_line, tflite_metadata

__all__ = ["LiteRtBackend", "open_backend"]

INSTALL_HINT = "LiteRT is not installed: pip install edgesight[litert]"


class LiteRtBackend:
    """A LiteRT interpreter with tensors allocated once (static shapes)."""

    kind = "litert"

    def __init__(self, path: Path, config: LiteRtBackendConfig | None = None) -> None:
        cfg = config or LiteRtBackendConfig.model_validate({})
        self.path = check_model_file(Path(path), (".tflite",))
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ModelError(INSTALL_HINT) from None
        try:
            self._interp = Interpreter(model_path=str(self.path), num_threads=cfg.threads or None)
            self._interp.allocate_tensors()
        except Exception as exc:  # ValueError for bad flatbuffers, RuntimeError for unsupported ops
            raise ModelError(f"{self.path}: LiteRT cannot load it ({first_line(exc)})") from None
        self.metadata: dict[str, str] = tflite_metadata(self.path)
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs: list[TensorInfo] = [self._info(d) for d in self._in]
        self.outputs: list[TensorInfo] = [self._info(d) for d in self._out]

    @staticmethod
    def _info(d: dict[str, Any]) -> TensorInfo:
        sig = d.get("shape_signature", d["shape"])
        shape = tuple(int(s) if s > 0 else None for s in sig)
        scale, zero_point = d.get("quantization", (0.0, 0))
        return TensorInfo(str(d["name"]), shape, np.dtype(d["dtype"]), float(scale), int(zero_point))

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Set inputs, invoke, copy outputs out (in model order, raw dtypes: quantized stays quantized)."""
        try:
            for d in self._in:
                self._interp.set_tensor(d["index"], inputs[d["name"]])
            self._interp.invoke()
            return [np.array(self._interp.get_tensor(d["index"]), copy=True) for d in self._out]
        except KeyError as exc:
            raise ModelError(
                f"{self.path}: missing input {exc} (inputs: {[d['name'] for d in self._in]})"
            ) from None
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: LiteRT failed to run ({first_line(exc)})") from None


def open_backend(path: Path, config: LiteRtBackendConfig | None = None) -> LiteRtBackend:
    """Load ``path`` with the LiteRT interpreter (``threads`` 0 = LiteRT's default)."""
    return LiteRtBackend(path, config)

"""OpenVINO backend (``pip install edgesight[openvino]``): reads .onnx or OpenVINO IR (.xml + .bin)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.config import OpenVinoBackendConfig
from edgesight.errors import ModelError
from edgesight.inference.backends.base import TensorInfo, check_model_file, first_line

__all__ = ["OpenVinoBackend", "open_backend"]

INSTALL_HINT = "OpenVINO is not installed: pip install edgesight[openvino]"


def _ov_message(exc: BaseException) -> str:
    """The informative line of an OpenVINO error (they start with source-location lines)."""
    skip = ("Exception from ", "Check '", "FrontEnd API failed")
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith(skip)]
    return lines[0][:300] if lines else first_line(exc)


def _ovany_str(value: Any) -> str:
    return str(value.astype(str)) if hasattr(value, "astype") else str(value)


def _ir_metadata(path: Path, model: Any) -> dict[str, str]:
    """Metadata of an IR model, later sources overriding earlier ones.

    1. rt_info ``framework``: the ONNX ``metadata_props`` when the IR was converted from ONNX;
    2. rt_info ``model_info``: what Ultralytics' OpenVINO export writes (``labels`` = names with
       spaces as underscores);
    3. ``metadata.yaml`` beside an .xml (Ultralytics' export folder).
    """
    meta: dict[str, str] = {}
    try:
        info = model.get_rt_info()
        for section in ("framework", "model_info"):
            if section in info:
                for key, value in info[section].items():
                    meta[str(key)] = _ovany_str(value)
    except Exception:  # rt_info layouts vary between OpenVINO versions; metadata is optional
        meta = {}
    yaml_path = path.with_name("metadata.yaml")
    if path.suffix.lower() == ".xml" and yaml_path.is_file():
        import yaml

        try:
            data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ModelError(f"{yaml_path}: unreadable model metadata ({first_line(exc)})") from None
        if isinstance(data, dict):
            for k, v in data.items():
                meta[str(k)] = v if isinstance(v, str) else repr(v)
    if "names" in meta:
        try:
            ast.literal_eval(meta["names"])
        except (ValueError, SyntaxError):
            meta.pop("names")
    if "names" not in meta and meta.get("labels", "").strip():
        labels = [w.replace("_", " ") for w in meta["labels"].split()]
        meta["names"] = repr(dict(enumerate(labels)))
    return meta


class OpenVinoBackend:
    """A compiled OpenVINO model with one infer request."""

    kind = "openvino"

    def __init__(self, path: Path, config: OpenVinoBackendConfig | None = None) -> None:
        cfg = config or OpenVinoBackendConfig.model_validate({})
        self.path = check_model_file(Path(path), (".onnx", ".xml"))
        try:
            import openvino as ov
        except ImportError:
            raise ModelError(INSTALL_HINT) from None
        if self.path.suffix.lower() == ".xml" and not self.path.with_suffix(".bin").is_file():
            raise ModelError(
                f"{self.path}: OpenVINO IR weights not found (expected {self.path.with_suffix('.bin').name})"
            )
        core = ov.Core()
        # Virtual devices (AUTO, MULTI:..., HETERO:..., BATCH:...) pick among real ones themselves.
        virtual = cfg.device.split(":")[0] in ("AUTO", "MULTI", "HETERO", "BATCH")
        if not virtual and cfg.device.split(".")[0] not in {d.split(".")[0] for d in core.available_devices}:
            raise ModelError(
                f"OpenVINO device {cfg.device!r} not available here (available: {', '.join(core.available_devices)})"
            )
        try:
            if self.path.suffix.lower() == ".onnx":
                # The ONNX frontend directly: core.read_model would also try other frontends on a bad file.
                from openvino.frontend import FrontEndManager

                frontend = FrontEndManager().load_by_framework("onnx")
                model = frontend.convert(frontend.load(str(self.path)))
            else:
                model = core.read_model(str(self.path))
        except Exception as exc:
            raise ModelError(f"{self.path}: OpenVINO cannot read it ({_ov_message(exc)})") from None
        self.metadata: dict[str, str] = _ir_metadata(self.path, model)
        props: dict[str, Any] = {"PERFORMANCE_HINT": cfg.performance_hint}
        if cfg.threads:
            props["INFERENCE_NUM_THREADS"] = cfg.threads
        try:
            self._compiled = core.compile_model(model, cfg.device, props)
        except Exception as exc:
            raise ModelError(
                f"{self.path}: OpenVINO cannot compile it for {cfg.device} ({first_line(exc)})"
            ) from None
        self._request = self._compiled.create_infer_request()
        self.device = cfg.device
        self.inputs: list[TensorInfo] = [self._info(p, i) for i, p in enumerate(self._compiled.inputs)]
        self.outputs: list[TensorInfo] = [self._info(p, i) for i, p in enumerate(self._compiled.outputs)]

    @staticmethod
    def _info(port: Any, index: int) -> TensorInfo:
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        try:
            name = port.get_any_name()
        except RuntimeError:  # unnamed port
            name = f"port{index}"
        return TensorInfo(name, shape, np.dtype(port.get_element_type().to_dtype()))

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one synchronous inference; outputs in model order, copied out of the request."""
        try:
            result = self._request.infer(inputs)
        except Exception as exc:
            raise ModelError(f"{self.path}: OpenVINO failed to run ({_ov_message(exc)})") from None
        return [np.array(result[port], copy=True) for port in self._compiled.outputs]


def open_backend(path: Path, config: OpenVinoBackendConfig | None = None) -> OpenVinoBackend:
    """Load ``path`` (.onnx or IR .xml) with OpenVINO on the configured device."""
    return OpenVinoBackend(path, config)

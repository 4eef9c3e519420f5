"""What a model file is: format, precision, size on disk, and a note on how it runs on CPU."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgesight.errors import ModelError

__all__ = ["ModelInfo", "describe_model"]


@dataclass(frozen=True)
class ModelInfo:
    """Attributes: format (ONNX/OpenVINO IR/TFLite), precision, size_bytes (all files), note."""

    path: Path
    format: str
    precision: str
    size_bytes: int
    note: str = ""

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def _onnx_info(path: Path) -> ModelInfo:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path}: not a valid ONNX model ({type(exc).__name__})") from None
    ops = {n.op_type for n in model.graph.node}
    meta = {p.key: p.value for p in model.metadata_props}
    note = ""
    if ops & {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}:
        precision = "int8 dynamic"
        note = (
            "ConvInteger/DynamicQuantizeLinear: activations are re-quantized on every call and ONNX Runtime's "
            "CPU ConvInteger has no fused fast kernel, so it is not faster than fp32"
        )
    elif "DequantizeLinear" in ops or ops & {"QLinearConv", "QLinearMatMul"}:
        precision = "int8 static"
        try:
            q = json.loads(meta.get("edgesight.quantization", "{}"))
        except ValueError:
            q = {}
        if q.get("float_nodes"):
            note = f"{len(q['float_nodes'])} nodes kept in float"
    elif any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        precision = "fp16"
        note = "fp16 weights: half the size; x86 CPUs without native fp16 arithmetic gain no speed"
    else:
        precision = "fp32"
    size = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob(path.name + ".data"))
    return ModelInfo(path, "ONNX", precision, size, note)


def _openvino_info(path: Path) -> ModelInfo:
    text = path.read_text(errors="replace")
    if "FakeQuantize" in text or 'element_type="i8"' in text or 'element_type="u8"' in text:
        precision = "int8"
    elif 'element_type="f16"' in text:
        precision = "fp16 weights"
    else:
        precision = "fp32"
    bin_path = path.with_suffix(".bin")
    size = path.stat().st_size + (bin_path.stat().st_size if bin_path.exists() else 0)
    return ModelInfo(path, "OpenVINO IR", precision, size)


def describe_model(path: Path) -> ModelInfo:
    """Inspect ``path`` (.onnx, OpenVINO .xml, .tflite).

    Raises:
        ModelError: missing file or unknown format.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return _onnx_info(p)
    if suffix == ".xml":
        return _openvino_info(p)
    if suffix == ".tflite":
        data = p.read_bytes()
        return ModelInfo(
            p, "TFLite", "int8/uint8" if b"quant" in data[:4096].lower() else "see model", len(data)
        )
    raise ModelError(
        f"{p}: unknown model format {suffix or '(no suffix)'!r}: expected .onnx, OpenVINO .xml or .tflite"
    )

"""Convert models for other runtimes and verify each export against its source."""

from edgesight.export.convert import FORMATS, export_model, to_onnx, to_openvino, to_tflite
from edgesight.export.verify import Verification, verify_export

__all__ = ["FORMATS", "Verification", "export_model", "to_onnx", "to_openvino", "to_tflite", "verify_export"]

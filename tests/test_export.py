"""edgesight export: onnxslim / OpenVINO conversions verified against the source; clear errors otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgesight.errors import ConfigError, ModelError
from edgesight.export import export_model, verify_export
from test_optimize_models import yolo_like_tail


def _frames(n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_slim_onnx_matches_source(tmp_path: Path) -> None:
    src = yolo_like_tail(tmp_path / "m.onnx", stride=4.0)
    out = export_model(src, "onnx", tmp_path / "slim.onnx")
    assert out.is_file()
    v = verify_export(src, out, _frames())
    assert max(v.max_abs_diff) < 1e-3
    assert v.fidelity.agreement.f1 == pytest.approx(1.0)


def test_openvino_ir_of_small_model_matches(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    src = yolo_like_tail(tmp_path / "m.onnx", stride=4.0)
    xml = export_model(src, "openvino", tmp_path / "ov" / "m.xml")
    assert xml.suffix == ".xml" and xml.with_suffix(".bin").is_file()
    v = verify_export(src, xml, _frames())
    assert max(v.max_abs_diff) < 0.5  # fp16 weights, boxes in pixels (0..480)
    assert v.passed


def test_unknown_format_and_non_onnx_source(tmp_path: Path) -> None:
    src = yolo_like_tail(tmp_path / "m.onnx", stride=4.0)
    with pytest.raises(ConfigError, match="unknown format 'coreml'"):
        export_model(src, "coreml")
    other = tmp_path / "m.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"starts from an ONNX model"):
        export_model(other, "openvino")


@pytest.mark.skipif(importlib.util.find_spec("onnx2tf") is not None, reason="a TFLite converter is installed")
def test_tflite_without_converter_says_what_to_install(tmp_path: Path) -> None:
    src = yolo_like_tail(tmp_path / "m.onnx", stride=4.0)
    with pytest.raises(ConfigError, match=r"onnx2tf.*pip install onnx2tf"):
        export_model(src, "tflite")


@pytest.mark.slow
def test_yolov8n_openvino_export_matches_detections(assets: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from edgesight.evaluation.frames import sample_frames

    src = assets / "models" / "yolov8n_coco_fp32_640.onnx"
    xml = export_model(src, "openvino", tmp_path / "ov" / "yolov8n.xml")
    frames = sample_frames(assets / "videos" / "pedestrians_480x360.avi", 3, (0.5, 1.0)).images
    v = verify_export(src, xml, frames)
    assert v.passed, v.as_dict()
    assert v.fidelity.agreement.reference > 5  # real detections were compared
    assert v.fidelity.agreement.mean_iou > 0.98

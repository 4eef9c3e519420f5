"""Real models on real images (../shared/assets), checked against tests/data/decoder_reference.json.

The reference file is the quality gate: the decoder must keep finding the same objects (class
counts) with the same boxes (IoU > 0.9) and confidences (within 0.03).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import ModelConfig
from edgesight.inference import ModelDetector, box_iou, load_detector
from edgesight.inference.preprocess import InputSpec, Preprocessor
from edgesight.types import Detections

REFERENCE = json.loads((Path(__file__).parent / "data" / "decoder_reference.json").read_text())["models"]
YOLO = "yolov8n_coco_fp32_640.onnx"
SSD = "ssd_mobilenet_v1_coco_quant.tflite"
IMAGES = ["bus.jpg", "zidane.jpg"]


def _detector(assets: Path, model: str, backend: str | None = None) -> ModelDetector:
    ref = REFERENCE[model]
    cfg: dict = {"path": assets / "models" / model, "confidence": ref["confidence"]}
    if "labels" in ref:
        cfg["labels"] = assets / "models" / ref["labels"]
    if backend:
        cfg["backend"] = {"type": backend}
    return load_detector(ModelConfig.model_validate(cfg))


@pytest.fixture(scope="module")
def yolo_ort(assets: Path) -> ModelDetector:
    return _detector(assets, YOLO, "onnxruntime")


@pytest.fixture(scope="module")
def yolo_ov(assets: Path) -> ModelDetector:
    return _detector(assets, YOLO, "openvino")


@pytest.fixture(scope="module")
def ssd(assets: Path) -> ModelDetector:
    return _detector(assets, SSD)


def _image(assets: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(assets / "images" / name))
    assert img is not None
    return img


def _counts(d: Detections) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in d.class_names:
        out[n] = out.get(n, 0) + 1
    return out


def _assert_matches_reference(d: Detections, ref: dict) -> None:
    assert _counts(d) == ref["counts"]
    ref_boxes = np.array([r["xyxy"] for r in ref["detections"]], np.float32)
    iou = box_iou(ref_boxes, d.xyxy)
    for i, r in enumerate(ref["detections"]):
        same = [j for j in range(len(d)) if d.class_names[j] == r["class"]]
        j = max(same, key=lambda j: iou[i, j])
        assert iou[i, j] > 0.9, (r, d.xyxy[j])
        assert abs(float(d.confidence[j]) - r["confidence"]) < 0.03, (r, float(d.confidence[j]))


@pytest.mark.assets
@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_yolov8n_matches_reference(assets, yolo_ort, yolo_ov, backend, image) -> None:
    det = yolo_ort if backend == "onnxruntime" else yolo_ov
    assert det.backend.kind == backend
    [d] = det.detect([_image(assets, image)])
    _assert_matches_reference(d, REFERENCE[YOLO]["images"][image])


@pytest.mark.assets
def test_bus_has_four_persons_and_a_bus(assets, yolo_ort) -> None:
    [d] = yolo_ort.detect([_image(assets, "bus.jpg")])
    assert _counts(d) == {"person": 4, "bus": 1}
    assert yolo_ort.names[0] == "person" and len(yolo_ort.names) == 80  # from the ONNX metadata


@pytest.mark.assets
@pytest.mark.parametrize("image", IMAGES)
def test_onnxruntime_and_openvino_agree(assets, yolo_ort, yolo_ov, image) -> None:
    frame = _image(assets, image)
    [a] = yolo_ort.detect([frame])
    [b] = yolo_ov.detect([frame])
    assert len(a) == len(b) and a.class_id.tolist() == b.class_id.tolist()
    assert np.all(np.diag(box_iou(a.xyxy, b.xyxy)) > 0.9)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=0.02)


@pytest.mark.assets
@pytest.mark.parametrize("image", IMAGES)
def test_ssd_litert_matches_reference(assets, ssd, image) -> None:
    assert ssd.backend.kind == "litert" and ssd.decoder.kind == "ssd"
    assert ssd.input_spec.dtype == np.uint8 and ssd.input_spec.layout == "NHWC"
    [inp] = ssd.backend.inputs
    assert (inp.shape, inp.scale, inp.zero_point) == ((1, 300, 300, 3), 0.0078125, 128)
    assert ssd.input_spec.value_range == (-1.0, 1.0) and ssd.input_spec.resize == "stretch"
    [d] = ssd.detect([_image(assets, image)])
    _assert_matches_reference(d, REFERENCE[SSD]["images"][image])


@pytest.mark.assets
def test_ssd_finds_persons_on_bus(assets, ssd) -> None:
    [d] = ssd.detect([_image(assets, "bus.jpg")])
    assert _counts(d).get("person", 0) >= 3


@pytest.mark.assets
def test_preprocessing_equals_ultralytics_letterbox(assets, yolo_ort) -> None:
    """Our buffers hold exactly what Ultralytics' LetterBox + /255 + BGR->RGB + HWC->CHW produce."""
    frame = _image(assets, "bus.jpg")
    spec: InputSpec = yolo_ort.input_spec
    tensor, _ = Preprocessor(spec)([frame])
    h, w = frame.shape[:2]
    r = min(640 / h, 640 / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (640 - nw) / 2, (640 - nh) / 2
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    expected = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    np.testing.assert_allclose(tensor, expected, atol=1e-6)


@pytest.mark.assets
def test_frames_not_modified_and_timings_reported(assets, yolo_ort) -> None:
    frame = _image(assets, "zidane.jpg")
    before = frame.copy()
    yolo_ort.detect([frame])
    np.testing.assert_array_equal(frame, before)
    t = yolo_ort.last_timings
    assert set(t) == {"preprocess", "infer", "postprocess"} and t["infer"] > 0


@pytest.mark.assets
def test_ssd_class_filter_and_unknown_class(assets) -> None:
    ref = REFERENCE[SSD]
    base = {"path": assets / "models" / SSD, "labels": assets / "models" / ref["labels"], "confidence": 0.5}
    det = load_detector(ModelConfig.model_validate({**base, "classes": ["truck"]}))
    [d] = det.detect([_image(assets, "bus.jpg")])
    assert d.class_names == ["truck"]
    from edgesight.errors import ModelError

    with pytest.raises(ModelError, match="not one of the model's classes"):
        load_detector(ModelConfig.model_validate({**base, "classes": ["???"]}))


@pytest.mark.assets
@pytest.mark.slow
def test_truncated_real_model_is_a_model_error(assets, tmp_path) -> None:
    from edgesight.errors import ModelError

    data = (assets / "models" / YOLO).read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        load_detector(ModelConfig.model_validate({"path": bad}))


@pytest.mark.assets
@pytest.mark.slow
def test_cli_detect_json_and_errors(assets, tmp_path) -> None:
    exe = [sys.executable, "-c", "from edgesight.cli import main; main()"]
    model = str(assets / "models" / YOLO)
    res = subprocess.run(
        [
            *exe,
            "detect",
            str(assets / "images" / "bus.jpg"),
            "--model",
            model,
            "--json",
            "--classes",
            "person,bus",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    [img] = out["images"]
    assert out["backend"] == "onnxruntime"
    assert sorted(d["class_name"] for d in img["detections"]) == [
        "bus",
        "person",
        "person",
        "person",
        "person",
    ]
    assert set(img["timings_ms"]) == {"preprocess", "infer", "postprocess"}

    res = subprocess.run(
        [*exe, "detect", str(assets / "images" / "bus.jpg"), "--model", str(tmp_path / "missing.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "model file not found" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

"""The same pedestrian pipeline on three backends/models: persons are found by each (issue 2, item 3)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgesight.config import parse_config
from edgesight.pipeline.runner import Runner

FRAMES = 40


def _run(assets: Path, tmp: Path, model: dict) -> Counter[str]:
    cfg = parse_config(
        {
            "sources": [
                {"type": "file", "name": "street", "path": str(assets / "videos/pedestrians_480x360.avi")}
            ],
            "model": {"confidence": 0.4, **model},
            "rules": [{"type": "object", "name": "objects", "min_seconds": 0.3}],
            "store": {"path": str(tmp)},
        }
    )
    res = Runner(cfg, max_frames=FRAMES).run()
    assert res.summary["frames"] == FRAMES
    return Counter(e.class_name for e in res.events if e.seq == 0)


@pytest.fixture(scope="module")
def yolo_onnxruntime(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    return _run(
        assets, tmp_path_factory.mktemp("ort"), {"path": str(assets / "models/yolov8n_coco_fp32_640.onnx")}
    )


def test_openvino_backend_agrees_with_onnxruntime(
    assets: Path, tmp_path: Path, yolo_onnxruntime: Counter[str]
) -> None:
    pytest.importorskip("openvino")
    ov = _run(
        assets,
        tmp_path,
        {"path": str(assets / "models/yolov8n_coco_fp32_640.onnx"), "backend": {"type": "openvino"}},
    )
    assert ov["person"] >= 3
    # Same weights, same frames: the tracked persons must come out (nearly) the same.
    assert abs(ov["person"] - yolo_onnxruntime["person"]) <= 1, (ov, yolo_onnxruntime)


def test_tflite_ssd_finds_persons_like_yolo(
    assets: Path, tmp_path: Path, yolo_onnxruntime: Counter[str]
) -> None:
    pytest.importorskip("ai_edge_litert")
    ssd = _run(
        assets,
        tmp_path,
        {
            "path": str(assets / "models/ssd_mobilenet_v1_coco_quant.tflite"),
            "labels": str(assets / "models/ssd_mobilenet_v1_coco_labels.txt"),
        },
    )
    assert yolo_onnxruntime["person"] >= 3
    assert ssd["person"] >= 2, ssd  # a weaker 300x300 model: fewer, but persons all the same
    assert ssd.most_common(1)[0][0] == "person"

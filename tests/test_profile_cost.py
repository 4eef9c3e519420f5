"""Cost model on real models: YOLOv8n at 640 must match Ultralytics' published figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.profile.catalog import load_catalog
from edgesight.profile.cost import graph_cost
from edgesight.profile.fit import profile_model
from edgesight.profile.graph import load_graph

# Ultralytics model card / `model.info()` for YOLOv8n at imgsz 640, fused:
# 3,151,904 parameters, 8.7 GFLOPs (FLOPs = 2 x MACs, thop convention).
YOLOV8N_PARAMS = 3_151_904
YOLOV8N_GFLOPS = 8.7


@pytest.fixture(scope="module")
def yolo(assets: Path):  # type: ignore[no-untyped-def]
    return load_graph(assets / "models" / "yolov8n_coco_fp32_640.onnx")


def test_yolov8n_params_and_flops_match_published(yolo) -> None:  # type: ignore[no-untyped-def]
    cost = graph_cost(yolo)
    assert abs(cost.params / YOLOV8N_PARAMS - 1) <= 0.02, cost.params
    assert abs(cost.flops / 1e9 / YOLOV8N_GFLOPS - 1) <= 0.02, cost.flops
    # Constant tables (anchors, strides, DFL projection) are not parameters.
    assert cost.constants > 0
    assert yolo.precision == "fp32"


def test_yolov8n_cannot_fit_any_mcu_and_says_why(yolo) -> None:  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    mcus = tuple(t for t in catalog if t.kind == "mcu")
    assert {t.id for t in mcus} >= {"cortex-m4", "cortex-m7", "esp32-s3"}
    prof = profile_model(yolo, mcus, catalog)
    for fit in prof.fits:
        assert fit.status == "no", fit.target.id
        text = " ".join(fit.reasons)
        assert "RAM" in text and "SRAM" in text, text
        assert fit.ram_need_bytes > fit.ram_have_bytes
        assert "TFLite" in text  # format: needs conversion to an int8 .tflite
    verdict = prof.mcu_verdict
    assert verdict is not None and verdict.startswith("cannot fit any MCU") and "RAM" in verdict


def test_tflite_cost_counts_conv_and_depthwise(assets: Path) -> None:
    g = load_graph(assets / "models" / "tflm" / "person_detect.tflite")
    cost = graph_cost(g)
    by_type = {}
    for r in cost.ops:
        by_type[r.op_type] = by_type.get(r.op_type, 0) + r.macs
    assert by_type["CONV_2D"] > 0 and by_type["DEPTHWISE_CONV_2D"] > 0
    # First op: depthwise 3x3, multiplier 8 on the 1-channel input -> 48x48x8 outputs x 9 MACs.
    first = cost.ops[0]
    assert first.op_type == "DEPTHWISE_CONV_2D" and first.macs == 48 * 48 * 8 * 9
    pointwise = cost.ops[2]  # 1x1 conv 8 -> 16 channels at 48x48
    assert pointwise.op_type == "CONV_2D" and pointwise.macs == 48 * 48 * 16 * 8
    assert cost.params == sum(r.params for r in cost.ops)
    assert g.quantized and g.precision == "int8"

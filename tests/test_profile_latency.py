"""Latency estimates: labelled assumptions, sane ordering across targets, and a working calibration."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.profile.catalog import load_catalog
from edgesight.profile.cost import graph_cost
from edgesight.profile.graph import load_graph
from edgesight.profile.latency import conv_rate, estimate_latency


def _targets() -> dict:  # type: ignore[type-arg]
    return {t.id: t for t in load_catalog()}


def test_estimates_order_targets_sensibly(assets: Path) -> None:
    g = load_graph(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    c = graph_cost(g)
    t = _targets()
    est = {tid: estimate_latency(g, c, t[tid]) for tid in t if tid != "this-machine"}
    assert est["cortex-m4"].seconds > est["cortex-m7"].seconds > est["raspberry-pi-5"].seconds
    assert est["raspberry-pi-4"].seconds > est["raspberry-pi-5"].seconds > est["jetson-orin-nano"].seconds
    assert est["jetson-agx-orin"].seconds < est["jetson-nano"].seconds
    # GPUs assume an FP16 engine, NPUs int8 after quantization: said in the assumptions.
    assert est["jetson-orin-nano"].precision == "fp16"
    assert est["hailo-8"].precision == "int8"
    assert any("quantized to int8" in a for a in est["hailo-8"].assumptions)
    for e in est.values():
        assert e.assumptions and e.seconds > 0
        assert len(e.per_op_seconds) == len(g.ops)


def test_edge_tpu_streams_parameters_that_do_not_fit_cache(assets: Path) -> None:
    g = load_graph(assets / "models" / "ssd_mobilenet_v1_coco_quant.tflite")
    c = graph_cost(g)
    coral = _targets()["coral-usb"]
    e = estimate_latency(g, c, coral)
    assert not any("do not fit" in a for a in e.assumptions)  # 4 MB of weights fit the 8 MB cache
    big = load_graph(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    cb = graph_cost(big)
    e_big = estimate_latency(big, cb, coral)
    assert e_big.precision == "int8" and e_big.seconds > 0


def test_conv_rate_interpolates_in_log_k() -> None:
    pts = ((9, 10.0), (81, 30.0), (729, 50.0))
    assert conv_rate(pts, 1) == 10.0 and conv_rate(pts, 5000) == 50.0
    assert conv_rate(pts, 27) == pytest.approx(20.0)  # halfway between 9 and 81 in log space
    assert 30.0 < conv_rate(pts, 200) < 50.0


@pytest.mark.slow
def test_calibration_measures_positive_rates_and_estimates_this_machine(assets: Path) -> None:
    pytest.importorskip("onnxruntime")
    from edgesight.profile.latency import calibrate_this_machine, calibrated_target

    cal = calibrate_this_machine(threads=1, repeats=3)
    assert len(cal.conv_points) == 4 and all(r > 0 for _, r in cal.conv_points)
    assert cal.depthwise_gflops > 0 and cal.elementwise_gbps > 0 and cal.op_overhead_s >= 0
    target = calibrated_target(_targets()["this-machine"], cal)
    assert target.peak_gops["fp32"].source.startswith("measured")
    g = load_graph(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    e = estimate_latency(g, graph_cost(g), target, cal)
    assert e.seconds > 0 and "calibrated on this machine" in e.assumptions[0]

"""Op-support checks flag known-unsupported ops by name and position, on models built for the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.errors import ModelError
from edgesight.profile.catalog import load_catalog
from edgesight.profile.op_support import check_support
from edgesight.profile.tflite_reader import read_tflite

pytest.importorskip("tflite_micro")

from edgesight.profile.tflite_builder import build_int8_model
from edgesight.profile.tflm_validate import measure_tflm_arena


def _target(tid: str):  # type: ignore[no-untyped-def]
    return next(t for t in load_catalog() if t.id == tid)


def test_tflm_flags_unregistered_op_by_name_and_position() -> None:
    # GELU is a TFLite builtin that TFLite Micro does not register.
    data = build_int8_model((1, 8, 8, 4), [("conv", 4, 1, 1), ("op", "GELU"), ("conv", 4, 1, 1)])
    graph = read_tflite(data, Path("gelu.tflite"))
    rep = check_support(graph, _target("cortex-m4"))
    assert not rep.ok
    assert [(u.op_type, u.position) for u in rep.unsupported] == [("GELU", 1)]
    # The real interpreter agrees: it refuses the model.
    with pytest.raises(ModelError, match="rejected"):
        measure_tflm_arena(data)


def test_tflm_flags_float_only_kernel_in_int8_model() -> None:
    data = build_int8_model((1, 8, 8, 4), [("conv", 4, 1, 1), ("conv", 4, 1, 1), ("op", "EXP")])
    graph = read_tflite(data, Path("exp.tflite"))
    rep = check_support(graph, _target("cortex-m7"))
    assert [(u.op_type, u.position) for u in rep.unsupported] == [("EXP", 2)]
    assert "int8" in rep.unsupported[0].reason
    with pytest.raises(ModelError):
        measure_tflm_arena(data)


def test_tflm_passes_a_supported_model() -> None:
    data = build_int8_model((1, 8, 8, 4), [("conv", 4, 1, 1), ("op", "HARD_SWISH"), ("res", 8)])
    rep = check_support(read_tflite(data, Path("ok.tflite")), _target("cortex-m4"))
    assert rep.ok and not rep.unsupported
    measure_tflm_arena(data)  # and the interpreter runs it


def test_edgetpu_flags_op_and_cpu_fallback_after_it() -> None:
    # EXP runs in TFLite Micro (float) but is not in the Edge TPU's supported-operations table.
    layers = [("conv", 8, 3, 1), ("dw", 3, 1), ("op", "GELU"), ("conv", 8, 1, 1), ("gap",)]
    graph = read_tflite(build_int8_model((1, 16, 16, 3), layers), Path("tpu.tflite"))
    rep = check_support(graph, _target("coral-usb"))
    assert not rep.ok
    assert [(u.op_type, u.position) for u in rep.unsupported] == [("GELU", 2)]
    assert rep.offloaded_ops == 2
    assert "op 2 (GELU)" in rep.notes[0] and "host CPU" in rep.notes[0]


def test_edgetpu_requires_int8(assets: Path) -> None:
    from edgesight.profile.graph import load_graph

    graph = load_graph(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    rep = check_support(graph, _target("coral-usb"))
    assert not rep.ok and any("int8" in p for p in rep.problems)


def test_edgetpu_accepts_quantized_ssd_with_postprocess_tail(assets: Path) -> None:
    from edgesight.profile.graph import load_graph

    graph = load_graph(assets / "models" / "ssd_mobilenet_v1_coco_quant.tflite")
    rep = check_support(graph, _target("coral-usb"))
    # uint8 SSD MobileNet is the canonical Edge TPU model; only post-processing stays on the CPU.
    assert rep.ok, (rep.problems, rep.unsupported)


def test_tflm_flags_legacy_uint8_model(assets: Path) -> None:
    """uint8 SSD MobileNet: TFLM refuses it ("Hybrid models are not supported"); so must the check."""
    from edgesight.profile.graph import load_graph

    path = assets / "models" / "ssd_mobilenet_v1_coco_quant.tflite"
    rep = check_support(load_graph(path), _target("cortex-m7"))
    assert not rep.ok
    assert rep.unsupported[0].position == 0 and "uint8" in rep.unsupported[0].reason
    with pytest.raises(ModelError, match="not supported"):
        measure_tflm_arena(path.read_bytes(), arena_size=16 * 1024 * 1024)

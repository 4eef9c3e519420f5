"""TFLite Micro arena: the planned head must equal what the real tflite-micro interpreter plans,
and the predicted total must be within 10% of the interpreter's reported arena."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.profile.memory_planner import Buffer, greedy_plan, plan_tflm
from edgesight.profile.tflite_reader import read_tflite
from edgesight.profile.tflm_arena import estimate_tflm_arena

pytest.importorskip("tflite_micro")

from edgesight.profile.tflite_builder import build_int8_model
from edgesight.profile.tflm_validate import measure_tflm_arena

# Models built here, int8, with branches (residual adds, concatenation) and every common kernel.
BUILT = {
    "chain": ((1, 32, 32, 3), [("conv", 8, 3, 2), ("dw", 3, 1), ("conv", 16, 1, 1), ("gap",), ("flatten",), ("fc", 4)]),
    "residual": ((1, 24, 24, 3), [("conv", 16, 3, 1), ("res", 32), ("res", 32), ("maxpool", 2), ("flatten",), ("fc", 10), ("softmax",)]),
    "branchy_concat": ((1, 16, 16, 4), [("conv", 8, 3, 1), ("concat_branch", 8), ("res", 16), ("avgpool", 2), ("flatten",), ("fc", 3)]),
    "mobilenet_like": (
        (1, 48, 48, 1),
        [("conv", 8, 3, 2), ("dw", 3, 1), ("conv", 16, 1, 1), ("res", 32), ("dw", 3, 2), ("conv", 32, 1, 1), ("res", 64), ("gap",), ("flatten",), ("fc", 2), ("softmax",)],
    ),
}  # fmt: skip


def _asset_models(assets: Path) -> list[Path]:
    models = sorted((assets / "models" / "tflm").glob("*.tflite"))
    assert models, "no .tflite in shared/assets/models/tflm"
    return models


def _check(name: str, data: bytes) -> tuple[int, int]:
    graph = read_tflite(data, Path(name))
    est = estimate_tflm_arena(graph)
    real = measure_tflm_arena(data)
    assert est.head_bytes == real.head_bytes, (
        f"{name}: planned head {est.head_bytes} != TFLM {real.head_bytes}"
    )
    err = est.total_bytes / real.total_bytes - 1
    assert abs(err) <= 0.10, f"{name}: total {est.total_bytes} vs TFLM {real.total_bytes} ({err:+.1%})"
    return est.total_bytes, real.total_bytes


def test_shared_tflm_models_arena_matches_interpreter(assets: Path) -> None:
    for path in _asset_models(assets):
        _check(path.name, path.read_bytes())


def test_person_detect_head_is_exact(assets: Path) -> None:
    data = (assets / "models" / "tflm" / "person_detect.tflite").read_bytes()
    graph = read_tflite(data, Path("person_detect.tflite"))
    plan = plan_tflm(graph)
    real = measure_tflm_arena(data)
    assert plan.arena_bytes == real.head_bytes == 55296
    assert plan.lower_bound <= plan.arena_bytes


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_int8_models_arena_matches_interpreter(name: str) -> None:
    shape, layers = BUILT[name]
    data = build_int8_model(shape, layers, seed=3)
    _check(name, data)


def test_residual_add_keeps_skip_tensor_alive() -> None:
    """The skip input of an ADD must stay live across the branch: the plan can't reuse its bytes."""
    data = build_int8_model((1, 16, 16, 8), [("res", 16)], seed=0)
    graph = read_tflite(data, Path("res"))
    plan = plan_tflm(graph)
    skip = next(b for b in plan.buffers if b.tensor == graph.inputs[0])
    assert skip.last == len(graph.ops)  # read by the ADD, the last op
    for i, b in enumerate(plan.buffers):
        for j, c in enumerate(plan.buffers):
            if i < j and not (b.last < c.first or c.last < b.first):
                lo_b, lo_c = plan.offsets[i], plan.offsets[j]
                assert lo_b + b.size <= lo_c or lo_c + c.size <= lo_b, "live buffers overlap in memory"


def test_greedy_planner_hand_case() -> None:
    """Largest first; ties keep TFLM's order (later-added first); first gap that fits, 16-byte sizes."""
    bufs = [
        Buffer("a", 0, 32, 0, 1),
        Buffer("b", 1, 64, 1, 2),
        Buffer("c", 2, 32, 2, 3),
        Buffer("d", 3, 16, 3, 3),
    ]
    offsets = greedy_plan(bufs)
    # b (largest) at 0; c (32, added after a) placed before a: c overlaps b -> 64; a overlaps b -> 64
    # but a and c do not overlap in time, so both at 64; d overlaps c only -> 0 (b not live at 3).
    assert offsets == (64, 0, 64, 0)


def test_offline_offsets_are_kept() -> None:
    bufs = [Buffer("a", 0, 32, 0, 1, offline_offset=96), Buffer("b", 1, 64, 0, 1)]
    assert greedy_plan(bufs) == (96, 0)


@pytest.mark.parametrize(
    "offsets",
    [{"input": 20000}, {"t6": 3072, "t12": 9000}, {"t9": 16, "t3": 16000}],
)
def test_offline_planned_model_matches_interpreter(offsets: dict[str, int]) -> None:
    """Models carrying TFLM's OfflineMemoryAllocation metadata: fixed offsets, the rest planned around them."""
    layers = [("conv", 8, 3, 1), ("res", 16), ("conv", 4, 1, 1)]
    plain = build_int8_model((1, 16, 16, 3), layers)
    data = build_int8_model((1, 16, 16, 3), layers, offline_offsets=offsets)
    graph = read_tflite(data, Path("offline.tflite"))
    assert graph.tflite is not None and graph.tflite.offline_offsets is not None
    head = plan_tflm(graph).arena_bytes
    assert head != plan_tflm(read_tflite(plain, Path("plain.tflite"))).arena_bytes  # the plan really changed
    assert head == measure_tflm_arena(data).head_bytes


def test_mean_scratch_buffers_are_planned() -> None:
    """int8 MEAN requests an int32 accumulator + temp index + resolved axes in the arena head."""
    data = build_int8_model((1, 4, 4, 3), [("conv", 256, 1, 1), ("gap",)])
    graph = read_tflite(data, Path("mean.tflite"))
    plan = plan_tflm(graph)
    scratch = [b for b in plan.buffers if b.tensor == -1]
    assert sorted(b.size for b in scratch) == [16, 16, 1024]
    assert plan.arena_bytes == measure_tflm_arena(data).head_bytes == 4096 + 256 + 1056


@pytest.mark.parametrize(
    "op",
    [
        "HARD_SWISH",
        "LOGISTIC",
        "TANH",
        "RELU",
        "RELU6",
        "ELU",
        "LEAKY_RELU",
        "QUANTIZE",
        "ABS",
        "RSQRT",
        "L2_NORMALIZATION",
    ],
)
def test_elementwise_int8_ops_arena_matches_interpreter(op: str) -> None:
    data = build_int8_model((1, 8, 8, 4), [("conv", 16, 1, 1), ("op", op), ("conv", 8, 1, 1)])
    _check(op, data)

"""Roofline latency ESTIMATES per op and per model, and calibration of "this machine".

For a catalog target, each op takes
    max(ops / (peak_gops[precision] x efficiency), bytes moved / bandwidth) + per-op overhead
summed over the graph, plus host-link transfers for USB/PCIe accelerators (input + output, and on
the Edge TPU the parameters that do not fit its ~8 MB on-chip cache). These are estimates built from
vendor peak figures and an assumed efficiency (see catalog.yaml): they say which targets are in the
right order of magnitude, not what a board will measure.

For this machine the rates are measured, not assumed: `calibrate_this_machine` times three tiny
ONNX Runtime graphs (a dense 3x3 convolution, an elementwise chain, a chain of tiny ops) and the
estimate uses those effective rates per op class. `bench/latency_estimate.py` compares that
estimate with a measured ONNX Runtime run of whole models.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from edgesight.profile.catalog import Figure, Target
from edgesight.profile.cost import GraphCost, OpCost
from edgesight.profile.graph import Graph

__all__ = [
    "LatencyEstimate",
    "MachineCalibration",
    "calibrate_this_machine",
    "calibrated_target",
    "estimate_latency",
]

_DEPTHWISE_EFFICIENCY = 0.15  # assumption: depthwise convs reach ~15% of dense-conv rate (memory bound)
# Assumed fixed cost per op (kernel dispatch/launch) by target kind, seconds.
_OP_OVERHEAD_S: Mapping[str, float] = MappingProxyType(
    {"mcu": 20e-6, "cpu": 10e-6, "gpu": 30e-6, "npu": 5e-6, "host": 0.0}
)


@dataclass(frozen=True)
class MachineCalibration:
    """Effective rates of this machine under ONNX Runtime (measured, not vendor figures).

    Attributes:
        conv_points: (reduction length K, GFLOP/s) of the timed convolutions (FLOP = 2 x MAC).
        depthwise_gflops: 3x3 depthwise convolution throughput, GFLOP/s.
        elementwise_gbps: bytes read + written per second by elementwise ops, GB/s.
        op_overhead_s: fixed cost per op (dispatch), seconds.
        threads: ONNX Runtime intra-op threads used.
        dram_bytes: physical memory.
    """

    conv_points: tuple[tuple[int, float], ...]
    depthwise_gflops: float
    elementwise_gbps: float
    op_overhead_s: float
    threads: int
    dram_bytes: int


@dataclass(frozen=True)
class LatencyEstimate:
    """An ESTIMATE of one inference on a target.

    Attributes:
        seconds: total estimated latency.
        compute_bound_ops / memory_bound_ops: how many ops hit each roof.
        per_op_seconds: estimate per op, execution order.
        precision: precision the estimate assumes the model runs in on the target.
        assumptions: what the number rests on (human readable).
    """

    seconds: float
    compute_bound_ops: int
    memory_bound_ops: int
    per_op_seconds: tuple[float, ...]
    precision: str
    assumptions: tuple[str, ...]

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds if self.seconds > 0 else float("inf")


def _choose_precision(graph: Graph, target: Target) -> tuple[str, list[str]]:
    """The precision a model would run in on `target` as it is usually deployed there."""
    peaks = target.peak_gops
    model_prec = graph.precision
    if model_prec == "int8":
        if "int8" in peaks:
            return "int8", []
        alt = "fp16" if "fp16" in peaks else "fp32"
        return alt, [f"this target has no int8 path: assumes the float ({alt}) version of the model"]
    if target.kind == "npu":
        if "int8" in peaks:
            return "int8", ["assumes the model is first quantized to int8 (what this accelerator runs)"]
        if "fp16" in peaks:
            return "fp16", ["assumes an FP16 build of the float model"]
    if target.kind == "gpu" and "fp16" in peaks:
        return "fp16", ["assumes a TensorRT FP16 engine built from the float model"]
    if model_prec in peaks:
        return model_prec, []
    for p in ("fp32", "fp16", "int8"):
        if p in peaks:
            return p, [f"model is {model_prec}; estimate uses this target's {p} rate"]
    return "fp32", []


def _reduction_length(graph: Graph, c: OpCost) -> int:
    """K = MACs per output element: (input channels / groups) x kernel area, or the GEMM depth."""
    op = graph.ops[c.index]
    outs = [graph.tensors[i] for i in op.outputs if i >= 0]
    n_out = outs[0].elements if outs else 0
    return max(1, c.macs // max(n_out, 1))


def _is_depthwise(graph: Graph, c: OpCost) -> bool:
    op = graph.ops[c.index]
    if c.op_type == "DEPTHWISE_CONV_2D":
        return True
    g = op.attrs.get("group", 1)
    return c.op_type == "Conv" and isinstance(g, int) and g > 1


def estimate_latency(
    graph: Graph, cost: GraphCost, target: Target, calibration: MachineCalibration | None = None
) -> LatencyEstimate:
    """Estimate one inference of `graph` on `target` (see module docstring).

    Args:
        graph / cost: the model and its cost.
        target: a catalog target.
        calibration: this machine's measured rates; when given, they replace the catalog's peak x
            efficiency (per-op rate by reduction length K, depthwise and elementwise rates measured).
    """
    precision, notes = _choose_precision(graph, target)
    peak = target.peak_gops.get(precision, Figure(0.0, "")).value
    eff = target.value("efficiency", 0.2) or 0.2
    bw = target.value("bandwidth_gbps", 1.0) or 1.0
    overhead = _OP_OVERHEAD_S.get(target.kind, 10e-6)
    if calibration is not None:
        overhead = calibration.op_overhead_s
        bw = calibration.elementwise_gbps
    bytes_scale = {"int8": 0.25, "fp16": 0.5}.get(precision, 1.0) if graph.precision == "fp32" else 1.0
    accel = target.requires_host is not None
    per_op: list[float] = []
    n_compute = n_mem = 0
    for c in cost.ops:
        ops = 2.0 * c.macs + c.other_ops
        if calibration is not None and c.macs:
            if _is_depthwise(graph, c):
                rate = calibration.depthwise_gflops * 1e9
            else:
                rate = conv_rate(calibration.conv_points, _reduction_length(graph, c)) * 1e9
            ops = 2.0 * c.macs
        else:
            rate = peak * eff * 1e9
        t_compute = ops / rate if rate > 0 else 0.0
        moved = c.bytes_moved * bytes_scale
        t_mem = 0.0 if accel or (c.macs == 0 and c.other_ops == 0) else moved / (bw * 1e9)
        if calibration is not None and c.macs:
            t_mem = 0.0  # the measured conv rates already include their memory traffic
        if t_compute >= t_mem:
            n_compute += 1
        else:
            n_mem += 1
        per_op.append(max(t_compute, t_mem) + overhead)
    total = sum(per_op)
    if calibration is not None:
        pts = ", ".join(f"K={k}: {r:.0f}" for k, r in calibration.conv_points)
        first = (
            f"calibrated on this machine ({calibration.threads} threads, ONNX Runtime micro-benchmarks): "
            f"conv GFLOP/s by reduction length [{pts}], depthwise {calibration.depthwise_gflops:.1f} GFLOP/s, "
            f"elementwise {calibration.elementwise_gbps:.1f} GB/s, {overhead * 1e6:.1f} us per op"
        )
    else:
        first = (
            f"roofline over {len(cost.ops)} ops at {precision}: peak {peak:g} GOPS x efficiency {eff:g} "
            f"(assumed), memory {bw:g} GB/s, {overhead * 1e6:.0f} us per op"
        )
    assumptions = [first, *notes]
    if calibration is not None and any(
        op.op_type in ("ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul") for op in graph.ops
    ):
        assumptions.append(
            "integer ONNX ops (ConvInteger/QLinear*) are estimated at the measured float convolution rates; "
            "ONNX Runtime's integer kernels are not faster on every CPU (dynamic quantization adds work)"
        )
    if accel:
        link = bw * 1e9
        io_bytes = sum(graph.tensors[i].nbytes for i in (*graph.inputs, *graph.outputs)) * bytes_scale
        total += io_bytes / link
        assumptions.append(f"input/output over the host link at {bw:g} GB/s")
        cache = target.value("sram_bytes", 0.0)
        wbytes = cost.weight_bytes_at(precision)
        if cache and wbytes > cache:
            total += (wbytes - cache) / link
            assumptions.append(
                f"{(wbytes - cache) / 1e6:.1f} MB of parameters do not fit the {cache / 1e6:.0f} MB on-chip cache "
                "and stream over the link every inference"
            )
    return LatencyEstimate(total, n_compute, n_mem, tuple(per_op), precision, tuple(assumptions))


# ---- this machine --------------------------------------------------------------------------------


def _time_session(model_bytes: bytes, feed: dict[str, np.ndarray], threads: int, repeats: int) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    for _ in range(2):
        sess.run(None, feed)
    # One thread: CPU seconds of this process, which other load on a shared machine barely moves.
    clock = time.process_time if threads == 1 else time.perf_counter
    times = []
    for _ in range(repeats):
        t0 = clock()
        sess.run(None, feed)
        times.append(clock() - t0)
    return min(times)


def _conv_model(cin: int, cout: int, hw: int, k: int, stride: int = 1, group: int = 1) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(
        rng.standard_normal((cout, cin // group, k, k)).astype(np.float32) * 0.05, "w"
    )
    b = numpy_helper.from_array(np.zeros(cout, np.float32), "b")
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"],
        ["y"],
        kernel_shape=[k, k],
        pads=[k // 2] * 4,
        strides=[stride, stride],
        group=group,
    )
    g = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, hw, hw])],
        [
            helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, [1, cout, -(-hw // stride), -(-hw // stride)]
            )
        ],
        [w, b],
    )
    return onnx.helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9
    ).SerializeToString()


def _chain_model(shape: list[int], n: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    nodes = []
    prev = "x"
    for i in range(n):
        s = f"s{i}"
        nodes.append(helper.make_node("Sigmoid", [prev], [s]))
        nodes.append(helper.make_node("Mul", [prev, s], [f"m{i}"]))
        prev = f"m{i}"
    g = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, shape)],
    )
    return onnx.helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9
    ).SerializeToString()


def calibrate_this_machine(threads: int | None = None, repeats: int = 15) -> MachineCalibration:
    """Measure this machine's effective ONNX Runtime rates (about 1-3 s of CPU).

    Convolution throughput depends on the reduction length K = (input channels / groups) x kernel
    area, so five layers spanning K = 9 (depthwise) .. 576 (dense 3x3) are timed; an op's rate is
    interpolated in log K between them. Each micro-benchmark takes the fastest of `repeats` runs,
    the least disturbed by other load on a shared machine.

    Args:
        threads: intra-op threads (default: CPUs available to this process).
        repeats: timed runs per micro-benchmark.
    """
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    points: list[tuple[int, float]] = []
    # (cin, cout, hw, k, stride, group): stem, small 3x3, 1x1, dense 3x3; then depthwise.
    layers = ((3, 16, 320, 3, 2, 1), (16, 16, 160, 3, 1, 1), (64, 128, 80, 1, 1, 1), (64, 64, 80, 3, 1, 1))
    for cin, cout, hw, k, stride, group in layers:
        x = rng.standard_normal((1, cin, hw, hw)).astype(np.float32)
        t = _time_session(_conv_model(cin, cout, hw, k, stride, group), {"x": x}, threads, repeats)
        out_hw = -(-hw // stride)
        points.append((cin // group * k * k, 2.0 * out_hw * out_hw * cout * cin // group * k * k / t / 1e9))
    cin, hw = 64, 80
    x = rng.standard_normal((1, cin, hw, hw)).astype(np.float32)
    t = _time_session(_conv_model(cin, cin, hw, 3, 1, cin), {"x": x}, threads, repeats)
    dw_gflops = 2.0 * hw * hw * cin * 9 / t / 1e9
    # Elementwise: SiLU chain (Sigmoid + Mul) on a 1.6 MB activation, typical of mid-network layers.
    shape = [1, 64, 80, 80]
    xe = rng.standard_normal(shape).astype(np.float32)
    n = 4
    t_el = _time_session(_chain_model(shape, n), {"x": xe}, threads, repeats)
    el_gbps = n * 5 * xe.nbytes / t_el / 1e9  # Sigmoid: read + write; Mul: 2 reads + write
    # Per-op overhead: the same chain on a tiny tensor.
    small = [1, 8]
    n_small = 50
    t_small = _time_session(_chain_model(small, n_small), {"x": np.ones(small, np.float32)}, threads, repeats)
    try:
        dram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        dram = 0
    return MachineCalibration(
        conv_points=tuple(sorted(points)),
        depthwise_gflops=dw_gflops,
        elementwise_gbps=el_gbps,
        op_overhead_s=t_small / (2 * n_small),
        threads=threads,
        dram_bytes=int(dram),
    )


def conv_rate(cal_points: tuple[tuple[int, float], ...], k: int) -> float:
    """GFLOP/s for a convolution with reduction length `k`, interpolated in log k (clamped)."""
    if not cal_points:
        return 1.0
    if k <= cal_points[0][0]:
        return cal_points[0][1]
    if k >= cal_points[-1][0]:
        return cal_points[-1][1]
    for (k0, r0), (k1, r1) in itertools.pairwise(cal_points):
        if k0 <= k <= k1:
            w = (math.log(k) - math.log(k0)) / (math.log(k1) - math.log(k0)) if k1 > k0 else 0.0
            return r0 + w * (r1 - r0)
    return cal_points[-1][1]


def calibrated_target(base: Target, cal: MachineCalibration) -> Target:
    """`this-machine` catalog entry with the measured figures filled in (sources say 'measured')."""
    src = f"measured now: ONNX Runtime CPU micro-benchmarks, {cal.threads} threads"
    figures = dict(base.figures)
    figures.update(
        {
            "dram_bytes": Figure(float(cal.dram_bytes), "measured now: os.sysconf physical pages"),
            "bandwidth_gbps": Figure(cal.elementwise_gbps, src),
            "efficiency": Figure(1.0, "measured rates already include runtime efficiency"),
        }
    )
    peaks = {"fp32": Figure(max(r for _, r in cal.conv_points), src)}
    return replace(base, figures=figures, peak_gops=peaks)

"""Estimated vs measured latency on this machine (ONNX Runtime, CPU), side by side.

    .venv/bin/python bench/latency_estimate.py [--threads N] [--repeats R]

1. Calibrates "this machine" with edgesight's micro-benchmarks (convolutions of several reduction
   lengths, depthwise, elementwise, per-op overhead).
2. For each model: edgesight's per-op ESTIMATE from the calibration, then the measured ONNX Runtime
   latency (fastest of R runs, as the calibration), and the ratio estimate/measured
   (target: 0.75 .. 1.25).

Models: the real YOLOv8n, float and dynamic-int8 (../shared/assets, skipped when absent), and two
generated ONNX CNNs of different shape (a ResNet-style residual net and a MobileNet-style depthwise
net; random weights: latency does not depend on weight values).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"


def _resnet_like(hw: int = 224) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    nodes, inits = [], []
    n = [0]

    def conv(x: str, cin: int, cout: int, k: int, s: int, relu: bool = True) -> str:
        n[0] += 1
        w = numpy_helper.from_array(
            (rng.standard_normal((cout, cin, k, k)) * 0.05).astype(np.float32), f"w{n[0]}"
        )
        b = numpy_helper.from_array(np.zeros(cout, np.float32), f"b{n[0]}")
        inits.extend([w, b])
        y = f"c{n[0]}"
        nodes.append(
            helper.make_node(
                "Conv", [x, w.name, b.name], [y], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4
            )
        )
        if relu:
            nodes.append(helper.make_node("Relu", [y], [y + "r"]))
            return y + "r"
        return y

    x = conv("x", 3, 32, 3, 2)
    c = 32
    for cout, stride in ((64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1)):
        y = conv(x, c, cout, 3, stride)
        y = conv(y, cout, cout, 3, 1, relu=False)
        if stride == 1 and c == cout:
            nodes.append(helper.make_node("Add", [x, y], [y + "a"]))
            y = y + "a"
        x, c = y, cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    w = numpy_helper.from_array((rng.standard_normal((c, 1000)) * 0.05).astype(np.float32), "fcw")
    inits.append(w)
    nodes.append(helper.make_node("MatMul", ["flat", "fcw"], ["out"]))
    g = helper.make_graph(
        nodes, "resnet_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, hw, hw])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1000])], inits,
    )  # fmt: skip
    return onnx.helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9
    ).SerializeToString()


def _mobilenet_like(hw: int = 224) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    nodes, inits = [], []
    n = [0]

    def conv(x: str, cin: int, cout: int, k: int, s: int, group: int = 1) -> str:
        n[0] += 1
        w = numpy_helper.from_array(
            (rng.standard_normal((cout, cin // group, k, k)) * 0.05).astype(np.float32), f"w{n[0]}"
        )
        b = numpy_helper.from_array(np.zeros(cout, np.float32), f"b{n[0]}")
        inits.extend([w, b])
        y = f"c{n[0]}"
        nodes.append(
            helper.make_node(
                "Conv",
                [x, w.name, b.name],
                [y],
                kernel_shape=[k, k],
                strides=[s, s],
                pads=[k // 2] * 4,
                group=group,
            )
        )
        nodes.append(helper.make_node("Clip", [y, "lo", "hi"], [y + "r"]))
        return y + "r"

    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "lo"))
    inits.append(numpy_helper.from_array(np.array(6.0, np.float32), "hi"))
    x = conv("x", 3, 32, 3, 2)
    c = 32
    for cout, s in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (1024, 2)):
        x = conv(x, c, c, 3, s, group=c)
        x = conv(x, c, cout, 1, 1)
        c = cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    inits.append(numpy_helper.from_array((rng.standard_normal((c, 1000)) * 0.05).astype(np.float32), "fcw"))
    nodes.append(helper.make_node("MatMul", ["flat", "fcw"], ["out"]))
    g = helper.make_graph(
        nodes, "mobilenet_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, hw, hw])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1000])], inits,
    )  # fmt: skip
    return onnx.helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9
    ).SerializeToString()


def _measure(path: Path, threads: int, repeats: int) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
    for _ in range(2):
        sess.run(None, {inp.name: x})
    clock = time.process_time if threads == 1 else time.perf_counter  # as the calibration does
    times = []
    for _ in range(repeats):
        t0 = clock()
        sess.run(None, {inp.name: x})
        times.append(clock() - t0)
    return min(times)


def main() -> int:
    from edgesight.profile.catalog import load_catalog
    from edgesight.profile.cost import graph_cost
    from edgesight.profile.graph import load_graph
    from edgesight.profile.latency import calibrate_this_machine, calibrated_target, estimate_latency

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads", type=int, default=1, help="ONNX Runtime threads (1 = CPU-time clock, robust to load)"
    )
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()

    cal = calibrate_this_machine(threads=args.threads)
    base = next(t for t in load_catalog() if t.id == "this-machine")
    target = calibrated_target(base, cal)
    print(
        f"calibration ({cal.threads} threads): conv GFLOP/s by K "
        f"{', '.join(f'{k}:{r:.0f}' for k, r in cal.conv_points)}, depthwise {cal.depthwise_gflops:.1f} GFLOP/s, "
        f"elementwise {cal.elementwise_gbps:.1f} GB/s, per-op {cal.op_overhead_s * 1e6:.1f} us"
    )
    with tempfile.TemporaryDirectory() as tmp:
        models: list[tuple[str, Path]] = []
        for label, name in (
            ("yolov8n fp32 640", "yolov8n_coco_fp32_640.onnx"),
            ("yolov8n int8dyn 640", "yolov8n_coco_int8dyn_640.onnx"),
        ):
            path = ASSETS / "models" / name
            if path.is_file():
                models.append((label, path))
            else:
                print(f"(skipping {label}: {path} not found)")
        for name, fn in (("resnet-like 224", _resnet_like), ("mobilenet-like 224", _mobilenet_like)):
            p = Path(tmp) / f"{name.split()[0]}.onnx"
            p.write_bytes(fn())
            models.append((name, p))
        print(f"{'model':22s} {'GFLOPs':>7s} {'estimate ms':>12s} {'measured ms':>12s} {'est/meas':>9s}")
        worst = 0.0
        for name, path in models:
            g = load_graph(path)
            c = graph_cost(g)
            est = estimate_latency(g, c, target, cal)
            meas = _measure(path, cal.threads, args.repeats)
            ratio = est.seconds / meas
            worst = max(worst, abs(ratio - 1))
            print(
                f"{name:22s} {c.flops / 1e9:7.2f} {est.seconds * 1e3:12.1f} {meas * 1e3:12.1f} {ratio:9.2f}"
            )
    print(f"worst |estimate/measured - 1| = {worst:.0%} (target <= 25%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

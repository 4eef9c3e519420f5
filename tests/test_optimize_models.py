"""Small ONNX models built in tests (no asset needed): a conv net and a YOLO-like decode tail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _conv(
    name: str, x: str, cin: int, cout: int, rng: np.random.Generator, k: int = 3
) -> tuple[list, list, str]:
    w = (rng.standard_normal((cout, cin, k, k)) * (1.0 / np.sqrt(cin * k * k))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(b, f"{name}.b")]
    conv = helper.make_node(
        "Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.y"], name=f"{name}/Conv", pads=[k // 2] * 4
    )
    sig = helper.make_node("Sigmoid", [f"{name}.y"], [f"{name}.s"], name=f"{name}/Sigmoid")
    mul = helper.make_node("Mul", [f"{name}.y", f"{name}.s"], [f"{name}.out"], name=f"{name}/Mul")
    return [conv, sig, mul], inits, f"{name}.out"


def small_convnet(path: Path, size: int = 32, seed: int = 0) -> Path:
    """A 4-layer SiLU conv net: images [1,3,size,size] (0..1) -> features [1,8,size,size]."""
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    x = "images"
    for i, (cin, cout) in enumerate([(3, 16), (16, 16), (16, 16), (16, 8)]):
        n, w, x = _conv(f"l{i}", x, cin, cout, rng)
        nodes += n
        inits += w
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 8, size, size])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_like_tail(path: Path, size: int = 32, reg: int = 4, nc: int = 2, stride: float = 160.0) -> Path:
    """A learned conv, then a YOLOv8-style decode: DFL (softmax + fixed 0..reg-1 conv) x stride (pixels),
    sigmoid scores (0..1), and the concat of both."""
    rng = np.random.default_rng(1)
    n_anchor = size * size
    nodes, inits, feat = _conv("body", "images", 3, 8, rng)
    box_w = rng.standard_normal((4 * reg, 8, 1, 1)).astype(np.float32)
    cls_w = rng.standard_normal((nc, 8, 1, 1)).astype(np.float32)
    dfl = np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1)
    inits += [
        numpy_helper.from_array(box_w, "box.w"),
        numpy_helper.from_array(cls_w, "cls.w"),
        numpy_helper.from_array(dfl, "dfl.w"),
        numpy_helper.from_array(np.array([1, 4 * reg, n_anchor], np.int64), "shape_box"),
        numpy_helper.from_array(np.array([1, 4, reg, n_anchor], np.int64), "shape_dfl"),
        numpy_helper.from_array(np.array([1, 4, n_anchor], np.int64), "shape_out"),
        numpy_helper.from_array(np.array([1, nc, n_anchor], np.int64), "shape_cls"),
        numpy_helper.from_array(np.array(stride, np.float32), "stride"),
    ]
    nodes += [
        helper.make_node("Conv", [feat, "box.w"], ["box"], name="head/box/Conv"),
        helper.make_node("Conv", [feat, "cls.w"], ["cls"], name="head/cls/Conv"),
        helper.make_node("Reshape", ["box", "shape_box"], ["box_r"], name="head/Reshape"),
        helper.make_node("Reshape", ["box_r", "shape_dfl"], ["dfl_r"], name="dfl/Reshape"),
        helper.make_node("Transpose", ["dfl_r"], ["dfl_t"], name="dfl/Transpose", perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["dfl_t"], ["dfl_s"], name="dfl/Softmax", axis=1),
        helper.make_node("Conv", ["dfl_s", "dfl.w"], ["dfl_c"], name="dfl/Conv"),
        helper.make_node("Reshape", ["dfl_c", "shape_out"], ["dist"], name="dfl/Reshape_1"),
        helper.make_node(
            "Mul", ["dist", "stride"], ["boxes"], name="head/Mul_stride"
        ),  # grid units -> pixels
        helper.make_node("Reshape", ["cls", "shape_cls"], ["cls_r"], name="head/Reshape_cls"),
        helper.make_node("Sigmoid", ["cls_r"], ["scores"], name="head/Sigmoid"),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], name="head/Concat", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tail",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, n_anchor])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_builders_make_runnable_models(tmp_path: Path) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    (y,) = ort.InferenceSession(str(small_convnet(tmp_path / "a.onnx"))).run(None, {"images": x})
    assert y.shape == (1, 8, 32, 32)
    (z,) = ort.InferenceSession(str(yolo_like_tail(tmp_path / "b.onnx"))).run(None, {"images": x})
    assert z.shape == (1, 6, 32 * 32)
    assert np.all((z[:, 4:] >= 0) & (z[:, 4:] <= 1))  # sigmoid scores
    assert np.all((z[:, :4] >= 0) & (z[:, :4] <= 3 * 160))  # DFL expectation over bins 0..3, x stride

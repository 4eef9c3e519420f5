"""LiteRT path of the YOLO decoder: an Ultralytics-style int8 TFLite export (NHWC int8 input,
int8 output [1, 4+nc, N] with boxes normalised to 0..1), built here as a real flatbuffer and run
by the real LiteRT interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesight.config import ModelConfig
from edgesight.inference import load_detector

fb = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
pytest.importorskip("ai_edge_litert.interpreter")

SIZE = 64
OUT_SCALE, OUT_ZP = 1 / 254, -127  # real = (q + 127) / 254: 0..1 in 255 steps


def _tensor(tensors, buffers, shape, ttype, name, data=None, scale=None, zp=None):
    t = fb.TensorT()
    t.shape, t.type, t.name = list(shape), ttype, name
    if data is not None:
        b = fb.BufferT()
        b.data = list(np.ascontiguousarray(data).tobytes())
        buffers.append(b)
        t.buffer = len(buffers) - 1
    else:
        t.buffer = 0
    if scale is not None:
        q = fb.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [int(zp)]
        t.quantization = q
    tensors.append(t)
    return len(tensors) - 1


def build_yolo_int8_tflite(path: Path, pred: np.ndarray) -> Path:
    """A .tflite whose output is ``pred`` (float, 0..1) quantized to int8, reshaped by a RESHAPE op."""
    q = np.clip(np.round(pred / OUT_SCALE + OUT_ZP), -128, 127).astype(np.int8)
    tensors: list = []
    buffers: list = [fb.BufferT()]
    inp = _tensor(tensors, buffers, (1, SIZE, SIZE, 3), fb.TensorType.INT8, "images", scale=1 / 255, zp=-128)
    const = _tensor(tensors, buffers, q.shape, fb.TensorType.INT8, "pred", q, OUT_SCALE, OUT_ZP)
    shape = _tensor(tensors, buffers, (3,), fb.TensorType.INT32, "shape", np.array(q.shape, np.int32))
    out = _tensor(tensors, buffers, q.shape, fb.TensorType.INT8, "Identity", scale=OUT_SCALE, zp=OUT_ZP)
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.RESHAPE
    code.version = 1
    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [const, shape], [out]
    op.builtinOptionsType = fb.BuiltinOptions.ReshapeOptions
    op.builtinOptions = fb.ReshapeOptionsT()
    op.builtinOptions.newShape = list(q.shape)
    sg = fb.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [inp], [out], [op], "main"
    model = fb.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sg], buffers
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path


def _pred() -> np.ndarray:
    """[1, 4 + 2, 32]: two real boxes (normalised cx, cy, w, h) + class scores, the rest empty."""
    p = np.zeros((1, 6, 32), np.float32)
    p[0, :, 0] = (0.25, 0.25, 0.25, 0.5, 0.9, 0.0)  # class 0
    p[0, :, 1] = (0.75, 0.5, 0.5, 0.25, 0.0, 0.6)  # class 1
    p[0, :, 2] = (0.26, 0.25, 0.25, 0.5, 0.8, 0.0)  # duplicate of the first: NMS
    return p


def test_int8_yolo_tflite_on_litert(tmp_path) -> None:
    path = build_yolo_int8_tflite(tmp_path / "yolo_int8.tflite", _pred())
    labels = tmp_path / "labels.txt"
    labels.write_text("helmet\nvest\n")
    det = load_detector(ModelConfig.model_validate({"path": path, "labels": labels}))
    assert det.backend.kind == "litert"
    spec = det.input_spec
    assert (spec.layout, spec.dtype, spec.height, spec.value_range) == ("NHWC", np.int8, SIZE, (0.0, 1.0))
    assert det.backend.outputs[0].quantized
    frame = np.full((2 * SIZE, 2 * SIZE, 3), 50, np.uint8)  # square: input = frame / 2
    [d] = det.detect([frame])
    assert d.class_names == ["helmet", "vest"]
    np.testing.assert_allclose(d.confidence, [0.9, 0.6], atol=OUT_SCALE)
    # normalised boxes -> input pixels (x 64) -> frame pixels (x 2); one int8 step is 128/254 frame px
    # and a corner (cx - w/2) carries up to 1.5 steps of rounding
    expected = np.array([[16, 0, 48, 64], [64, 48, 128, 80]], np.float32)
    np.testing.assert_allclose(d.xyxy, expected, atol=1.5 * 128 / 254 + 1e-3)

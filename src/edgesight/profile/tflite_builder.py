"""Build small fully-int8 TFLite models from a layer list, without TensorFlow.

Used by the tests and the latency calibration to get real, runnable int8 models of known shape
(plain chains and branchy ones with residual adds). The flatbuffer is written with the schema
classes that the `tflite-micro` package ships (the `tflm` extra); weights are random int8 from a
seeded generator, so a model is reproducible from its layer list and seed.

Layer specs (tuples), applied in order to the running NHWC tensor:
    ("conv", out_ch, k, stride)        CONV_2D, SAME padding, ReLU, per-channel int8 weights
    ("dw", k, stride)                  DEPTHWISE_CONV_2D, multiplier 1
    ("res", out_ch)                    residual block: 1x1 conv -> 3x3 dw -> 1x1 conv, ADD with its input
    ("avgpool", k) / ("maxpool", k)    pooling, stride k (output keeps the input's quantization)
    ("gap",)                           MEAN over H, W (keep dims)
    ("concat_branch", out_ch)          two 1x1 convs of the input, CONCATENATION on channels
    ("flatten",)                       RESHAPE to [1, N]
    ("fc", units)                      FULLY_CONNECTED
    ("softmax",)                       SOFTMAX
    ("op", "NAME")                     any builtin op by name applied elementwise (for op checks)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgesight.profile._tflite_enums import BUILTIN_OPERATORS

__all__ = ["build_int8_model"]


def _schema() -> Any:
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb
    except ImportError as exc:  # pragma: no cover - depends on extras
        raise RuntimeError(
            "building TFLite models needs the tflm extra: pip install 'edgesight[tflm]'"
        ) from exc
    return fb


class _Builder:
    def __init__(self, seed: int) -> None:
        self.fb = _schema()
        self.rng = np.random.default_rng(seed)
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [self.fb.BufferT()]
        self.ops: list[Any] = []
        self.opcodes: dict[str, int] = {}
        self.codes: list[Any] = []

    def tensor(
        self,
        shape: Sequence[int],
        dtype: str = "INT8",
        data: np.ndarray | None = None,
        scale: Sequence[float] = (0.05,),
        zero_point: Sequence[int] = (0,),
        qdim: int = 0,
        name: str = "",
    ) -> int:
        fb = self.fb
        t = fb.TensorT()
        t.shape = [int(s) for s in shape]
        t.type = getattr(fb.TensorType, dtype)
        t.name = name or f"t{len(self.tensors)}"
        if data is not None:
            b = fb.BufferT()
            b.data = list(np.ascontiguousarray(data).tobytes())
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        q = fb.QuantizationParametersT()
        q.scale = [float(s) for s in scale]
        q.zeroPoint = [int(z) for z in zero_point]
        q.quantizedDimension = qdim
        t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(
        self, name: str, inputs: Sequence[int], outputs: Sequence[int], opt_type: int = 0, opt: Any = None
    ) -> None:
        fb = self.fb
        if name not in self.opcodes:
            code = fb.OperatorCodeT()
            value = BUILTIN_OPERATORS.index(name)
            code.builtinCode = value
            code.deprecatedBuiltinCode = min(value, 127)
            code.version = 1
            self.opcodes[name] = len(self.codes)
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex = self.opcodes[name]
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opt
        self.ops.append(o)

    def shape(self, t: int) -> list[int]:
        return list(self.tensors[t].shape)

    def scale(self, t: int) -> list[float]:
        return list(self.tensors[t].quantization.scale)

    def zero_point(self, t: int) -> list[int]:
        return list(self.tensors[t].quantization.zeroPoint)

    # --- layers -------------------------------------------------------------------------
    def conv(self, x: int, out_ch: int, k: int, stride: int) -> int:
        fb = self.fb
        n, h, w, c = self.shape(x)
        oh, ow = -(-h // stride), -(-w // stride)
        wts = self.rng.integers(-127, 128, size=(out_ch, k, k, c), dtype=np.int8)
        wt = self.tensor(wts.shape, "INT8", wts, [0.01] * out_ch, [0] * out_ch, 0)
        bias = self.tensor((out_ch,), "INT32", np.zeros(out_ch, np.int32), [0.0005] * out_ch, [0] * out_ch)
        y = self.tensor((n, oh, ow, out_ch), "INT8", scale=(0.05,), zero_point=(-128,))
        opt = fb.Conv2DOptionsT()
        opt.padding, opt.strideW, opt.strideH = fb.Padding.SAME, stride, stride
        opt.fusedActivationFunction = fb.ActivationFunctionType.RELU
        opt.dilationWFactor = opt.dilationHFactor = 1
        self.op("CONV_2D", [x, wt, bias], [y], fb.BuiltinOptions.Conv2DOptions, opt)
        return y

    def dw(self, x: int, k: int, stride: int) -> int:
        fb = self.fb
        n, h, w, c = self.shape(x)
        oh, ow = -(-h // stride), -(-w // stride)
        wts = self.rng.integers(-127, 128, size=(1, k, k, c), dtype=np.int8)
        wt = self.tensor(wts.shape, "INT8", wts, [0.01] * c, [0] * c, 3)
        bias = self.tensor((c,), "INT32", np.zeros(c, np.int32), [0.0005] * c, [0] * c)
        y = self.tensor((n, oh, ow, c), "INT8", scale=(0.05,), zero_point=(-128,))
        opt = fb.DepthwiseConv2DOptionsT()
        opt.padding, opt.strideW, opt.strideH, opt.depthMultiplier = fb.Padding.SAME, stride, stride, 1
        opt.fusedActivationFunction = fb.ActivationFunctionType.RELU
        opt.dilationWFactor = opt.dilationHFactor = 1
        self.op("DEPTHWISE_CONV_2D", [x, wt, bias], [y], fb.BuiltinOptions.DepthwiseConv2DOptions, opt)
        return y

    def add(self, a: int, b: int) -> int:
        fb = self.fb
        y = self.tensor(self.shape(a), "INT8", scale=(0.1,), zero_point=(-128,))
        opt = fb.AddOptionsT()
        self.op("ADD", [a, b], [y], fb.BuiltinOptions.AddOptions, opt)
        return y

    def pool(self, x: int, k: int, kind: str) -> int:
        fb = self.fb
        n, h, w, c = self.shape(x)
        y = self.tensor((n, h // k, w // k, c), "INT8", scale=self.scale(x), zero_point=self.zero_point(x))
        opt = fb.Pool2DOptionsT()
        opt.padding, opt.strideW, opt.strideH, opt.filterWidth, opt.filterHeight = (
            fb.Padding.VALID,
            k,
            k,
            k,
            k,
        )
        name = "AVERAGE_POOL_2D" if kind == "avgpool" else "MAX_POOL_2D"
        self.op(name, [x], [y], fb.BuiltinOptions.Pool2DOptions, opt)
        return y

    def gap(self, x: int) -> int:
        fb = self.fb
        n, _, _, c = self.shape(x)
        axes = self.tensor((2,), "INT32", np.array([1, 2], np.int32))
        y = self.tensor((n, 1, 1, c), "INT8", scale=(0.05,), zero_point=(-128,))
        opt = fb.ReducerOptionsT()
        opt.keepDims = True
        self.op("MEAN", [x, axes], [y], fb.BuiltinOptions.ReducerOptions, opt)
        return y

    def concat(self, a: int, b: int) -> int:
        fb = self.fb
        s = self.shape(a)
        s[-1] += self.shape(b)[-1]
        y = self.tensor(s, "INT8", scale=(0.05,), zero_point=(-128,))
        opt = fb.ConcatenationOptionsT()
        opt.axis = 3
        self.op("CONCATENATION", [a, b], [y], fb.BuiltinOptions.ConcatenationOptions, opt)
        return y

    def flatten(self, x: int) -> int:
        fb = self.fb
        n = int(np.prod(self.shape(x)))
        new_shape = self.tensor((2,), "INT32", np.array([1, n], np.int32))
        y = self.tensor((1, n), "INT8", scale=self.scale(x), zero_point=self.zero_point(x))
        opt = fb.ReshapeOptionsT()
        opt.newShape = [1, n]
        self.op("RESHAPE", [x, new_shape], [y], fb.BuiltinOptions.ReshapeOptions, opt)
        return y

    def fc(self, x: int, units: int) -> int:
        fb = self.fb
        n_in = self.shape(x)[-1]
        wts = self.rng.integers(-127, 128, size=(units, n_in), dtype=np.int8)
        wt = self.tensor(wts.shape, "INT8", wts, (0.01,), (0,))
        bias = self.tensor((units,), "INT32", np.zeros(units, np.int32), (0.0005,), (0,))
        y = self.tensor((1, units), "INT8", scale=(0.1,), zero_point=(0,))
        opt = fb.FullyConnectedOptionsT()
        self.op("FULLY_CONNECTED", [x, wt, bias], [y], fb.BuiltinOptions.FullyConnectedOptions, opt)
        return y

    def softmax(self, x: int) -> int:
        fb = self.fb
        y = self.tensor(self.shape(x), "INT8", scale=(1.0 / 256,), zero_point=(-128,))
        opt = fb.SoftmaxOptionsT()
        opt.beta = 1.0
        self.op("SOFTMAX", [x], [y], fb.BuiltinOptions.SoftmaxOptions, opt)
        return y

    def generic(self, x: int, name: str) -> int:
        y = self.tensor(self.shape(x), "INT8", scale=(0.05,), zero_point=(-128,))
        self.op(name, [x], [y])
        return y

    def finish(self, inp: int, out: int, offline: Mapping[str, int] | None = None) -> bytes:
        import flatbuffers

        fb = self.fb
        sg = fb.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = (
            self.tensors,
            [inp],
            [out],
            self.ops,
            "main",
        )
        m = fb.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, self.codes, [sg], self.buffers
        m.description = "edgesight test model"
        if offline:
            # TFLM's OfflineMemoryAllocation: int32 [version 1, subgraph 0, tensor count, offset per tensor].
            offsets = [int(offline.get(t.name, -1)) for t in self.tensors]
            buf = fb.BufferT()
            buf.data = list(np.array([1, 0, len(offsets), *offsets], dtype="<i4").tobytes())
            self.buffers.append(buf)
            meta = fb.MetadataT()
            meta.name, meta.buffer = "OfflineMemoryAllocation", len(self.buffers) - 1
            m.metadata = [meta]
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def build_int8_model(
    input_shape: Sequence[int],
    layers: Sequence[tuple[Any, ...]],
    seed: int = 0,
    offline_offsets: Mapping[str, int] | None = None,
) -> bytes:
    """Build an int8 TFLite model.

    Args:
        input_shape: NHWC input shape, e.g. (1, 32, 32, 3).
        layers: layer specs (see module docstring).
        seed: weights seed.
        offline_offsets: fixed arena offsets by tensor name (`input`, `t<k>`) written as TFLM
            `OfflineMemoryAllocation` metadata; other tensors stay online-planned (-1).

    Returns:
        the `.tflite` file bytes.
    """
    b = _Builder(seed)
    x = inp = b.tensor(input_shape, "INT8", scale=(0.0078,), zero_point=(0,), name="input")
    for spec in layers:
        kind = spec[0]
        if kind == "conv":
            x = b.conv(x, int(spec[1]), int(spec[2]), int(spec[3]))
        elif kind == "dw":
            x = b.dw(x, int(spec[1]), int(spec[2]))
        elif kind == "res":
            c = b.shape(x)[-1]
            y = b.conv(x, int(spec[1]), 1, 1)
            y = b.dw(y, 3, 1)
            y = b.conv(y, c, 1, 1)
            x = b.add(x, y)
        elif kind in ("avgpool", "maxpool"):
            x = b.pool(x, int(spec[1]), kind)
        elif kind == "gap":
            x = b.gap(x)
        elif kind == "concat_branch":
            x = b.concat(b.conv(x, int(spec[1]), 1, 1), b.conv(x, int(spec[1]), 3, 1))
        elif kind == "flatten":
            x = b.flatten(x)
        elif kind == "fc":
            x = b.fc(x, int(spec[1]))
        elif kind == "softmax":
            x = b.softmax(x)
        elif kind == "op":
            x = b.generic(x, str(spec[1]))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return b.finish(inp, x, offline_offsets)

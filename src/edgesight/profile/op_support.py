"""Offline operator-support checks per runtime family, reported by op name and position.

* TFLite Micro: builtin ops registered by `MicroMutableOpResolver` (tflite-micro
  `micro_mutable_op_resolver.h`); TFLite flatbuffers only; no dynamic shapes.
* Edge TPU: the Coral compiler's supported-operations table (coral.ai/docs/edgetpu/models-intro);
  the model must be fully int8/uint8 quantized with static shapes; the compiler maps ops up to the
  first unsupported one, and that op and everything after it runs on the host CPU.
* Other runtimes (ONNX Runtime, LiteRT, OpenVINO, TensorRT, HailoRT, RKNN) are checked for format
  and precision only: op coverage there is broad and version-dependent, so edgesight says so
  instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from edgesight.profile.catalog import Target
from edgesight.profile.graph import Graph

__all__ = ["EDGETPU_OPS", "TFLM_FLOAT_ONLY", "TFLM_OPS", "SupportReport", "UnsupportedOp", "check_support"]

TFLM_OPS = frozenset(
    [
        "ABS",
        "ADD",
        "ADD_N",
        "ARG_MAX",
        "ARG_MIN",
        "ASSIGN_VARIABLE",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "BATCH_TO_SPACE_ND",
        "BROADCAST_ARGS",
        "BROADCAST_TO",
        "CALL_ONCE",
        "CAST",
        "CEIL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "CUMSUM",
        "DEPTH_TO_SPACE",
        "DEPTHWISE_CONV_2D",
        "DEQUANTIZE",
        "DIV",
        "ELU",
        "EMBEDDING_LOOKUP",
        "EQUAL",
        "EXP",
        "EXPAND_DIMS",
        "FILL",
        "FLOOR",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "FULLY_CONNECTED",
        "GATHER",
        "GATHER_ND",
        "GREATER",
        "GREATER_EQUAL",
        "HARD_SWISH",
        "IF",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LEAKY_RELU",
        "LESS",
        "LESS_EQUAL",
        "LOG",
        "LOG_SOFTMAX",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "LOGICAL_OR",
        "LOGISTIC",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "NOT_EQUAL",
        "PACK",
        "PAD",
        "PADV2",
        "PRELU",
        "QUANTIZE",
        "READ_VARIABLE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "REVERSE_V2",
        "ROUND",
        "RSQRT",
        "SELECT_V2",
        "SHAPE",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_BATCH_ND",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "SVDF",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNPACK",
        "VAR_HANDLE",
        "WHILE",
        "ZEROS_LIKE",
        "TFLite_Detection_PostProcess",
        "CIRCULAR_BUFFER",
        "ETHOSU",
    ]
)

# Registered, but the reference kernel has no int8 path: an int8 model using them fails to prepare
# (checked one by one with the tflite-micro Python runtime on int8 single-op models).
TFLM_FLOAT_ONLY = frozenset(["EXP", "COS", "SIN", "LOG", "SQRT", "CEIL", "FLOOR", "ROUND", "NEG", "SQUARE"])

_TFLM_MAC_OPS = frozenset(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"])

EDGETPU_OPS = frozenset(
    [
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "LOGISTIC",
        "LSTM",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MUL",
        "PACK",
        "PAD",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "SQUARED_DIFFERENCE",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "HARD_SWISH",
        "DEQUANTIZE",
    ]
)
# Ops the Edge TPU runtime leaves on the CPU by design (post-processing), not a compile failure.
_EDGETPU_CPU_TAIL = frozenset({"TFLite_Detection_PostProcess", "DEQUANTIZE"})


@dataclass(frozen=True)
class UnsupportedOp:
    """An op a runtime cannot run: name, execution position and why."""

    position: int
    op_type: str
    reason: str


@dataclass(frozen=True)
class SupportReport:
    """Op-support verdict of one target for one graph.

    Attributes:
        runtime: runtime family checked (`tflm`, `edgetpu`, ...).
        ok: the whole graph can run on the target as is (after the named conversion, if any).
        unsupported: ops that cannot run, by position.
        problems: model-level problems (format, precision, dynamic shapes).
        notes: what was assumed or not checked; conversion needed.
        offloaded_ops: ops mapped to the accelerator (Edge TPU: before the first unsupported op).
    """

    runtime: str
    ok: bool
    unsupported: tuple[UnsupportedOp, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    offloaded_ops: int | None = None
    checked: bool = True
    extra: dict[str, object] = field(default_factory=dict)


def _check_tflm(graph: Graph) -> SupportReport:
    problems: list[str] = []
    notes: list[str] = []
    if graph.format != "tflite":
        problems.append(
            f"TFLite Micro runs .tflite flatbuffers only; this is {graph.format.upper()}: convert it "
            "to an int8 TFLite model first (edgesight optimize / export)"
        )
        return SupportReport("tflm", False, (), tuple(problems), tuple(notes), checked=False)
    bad_list: list[UnsupportedOp] = []
    for op in graph.ops:
        if op.op_type not in TFLM_OPS:
            bad_list.append(
                UnsupportedOp(op.index, op.op_type, "not registered in TFLite Micro's op resolver")
            )
        elif op.op_type in TFLM_FLOAT_ONLY and any(
            graph.tensors[i].dtype in ("INT8", "UINT8", "INT16") for i in op.inputs if i >= 0
        ):
            bad_list.append(
                UnsupportedOp(op.index, op.op_type, "TFLite Micro's kernel has no int8 path (float32 only)")
            )
        elif op.op_type in _TFLM_MAC_OPS and any(
            graph.tensors[i].dtype == "UINT8" for i in op.inputs if i >= 0
        ):
            bad_list.append(
                UnsupportedOp(
                    op.index,
                    op.op_type,
                    "uint8 (legacy asymmetric) quantization: TFLite Micro kernels take int8 only; "
                    "re-quantize to int8",
                )
            )
    bad = tuple(bad_list)
    if any(t.dynamic for t in graph.tensors):
        problems.append("dynamic tensor shapes: TFLite Micro plans memory once and needs static shapes")
    if graph.tflite is not None and graph.tflite.subgraph_count != 1:
        notes.append("model has several subgraphs (control flow): only the main one was profiled in detail")
    return SupportReport("tflm", not bad and not problems, bad, tuple(problems), tuple(notes))


def _check_edgetpu(graph: Graph) -> SupportReport:
    problems: list[str] = []
    if graph.format != "tflite":
        problems.append(
            f"the Edge TPU compiler takes fully int8-quantized .tflite models; this is {graph.format.upper()}: "
            "quantize to int8 and convert to TFLite, then run edgetpu_compiler"
        )
        return SupportReport("edgetpu", False, (), tuple(problems), (), checked=False)
    if not graph.quantized:
        floats = sorted(
            {t.dtype for t in graph.tensors if not t.is_constant and t.dtype not in ("INT8", "UINT8")}
        )
        problems.append(
            f"not fully 8-bit quantized (activations of type {', '.join(floats)}): Edge TPU runs int8 only"
        )
    if any(t.dynamic for t in graph.tensors):
        problems.append("dynamic tensor shapes: the Edge TPU needs static shapes")
    bad: list[UnsupportedOp] = []
    first_bad: int | None = None
    for op in graph.ops:
        if op.op_type in EDGETPU_OPS:
            continue
        if op.op_type in _EDGETPU_CPU_TAIL and first_bad is None and op.index >= len(graph.ops) - 2:
            continue
        bad.append(UnsupportedOp(op.index, op.op_type, "not in the Edge TPU supported-operations table"))
        if first_bad is None:
            first_bad = op.index
    notes: list[str] = []
    offloaded = len(graph.ops) if first_bad is None else first_bad
    if first_bad is not None:
        notes.append(
            f"the Edge TPU compiler maps ops 0..{first_bad - 1} to the TPU; op {first_bad} "
            f"({graph.ops[first_bad].op_type}) and the {len(graph.ops) - first_bad - 1} ops after it run on the host CPU"
        )
    ok = not problems and first_bad is None
    return SupportReport("edgetpu", ok, tuple(bad), tuple(problems), tuple(notes), offloaded)


_FORMAT_NOTES: Mapping[str, str] = MappingProxyType(
    {
        "tensorrt": "build a TensorRT engine from ONNX (trtexec); op coverage not checked offline",
        "hailort": "compile to HEF with the Hailo Dataflow Compiler (int8); op coverage not checked offline",
        "rknn": "convert with rknn-toolkit2 (int8/fp16); op coverage not checked offline",
        "openvino": "convert to OpenVINO IR; op coverage not checked offline",
        "onnxruntime": "runs ONNX directly",
        "litert": "runs .tflite directly",
    }
)


def check_support(graph: Graph, target: Target) -> SupportReport:
    """Check whether `graph`'s ops and precision suit `target`'s runtime."""
    if "tflm" in target.runtimes:
        return _check_tflm(graph)
    if "edgetpu" in target.runtimes:
        return _check_edgetpu(graph)
    runtime = target.runtimes[0] if target.runtimes else "unknown"
    if graph.format == "onnx" and "onnxruntime" in target.runtimes:
        runtime = "onnxruntime"
    elif graph.format == "tflite" and "litert" in target.runtimes:
        runtime = "litert"
    notes = [_FORMAT_NOTES.get(runtime, "op coverage not checked offline")]
    problems: list[str] = []
    if graph.precision == "int8" and "int8" not in target.precisions:
        problems.append(f"{target.name} runs {'/'.join(target.precisions)}, not int8: use the float model")
    customs = sorted(
        {
            op.op_type
            for op in graph.ops
            if graph.format == "tflite"
            and op.op_type[:1].isupper()
            and "_" in op.op_type
            and op.op_type.startswith("TFLite_")
        }
    )
    if customs and runtime not in ("litert",):
        notes.append(f"custom ops {', '.join(customs)} usually run on the host CPU")
    return SupportReport(runtime, not problems, (), tuple(problems), tuple(notes), checked=False)

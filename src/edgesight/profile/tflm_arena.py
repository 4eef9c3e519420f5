"""Predict the whole TFLite Micro tensor arena: planned head + modelled persistent tail.

head = `memory_planner.plan_tflm` (exact: the same algorithm TFLM runs).

tail = persistent structures, modelled from TFLM's allocator and its reference kernels
(sizes are for a 64-bit host build of the `tflite-micro` Python runtime, which is what we can
check against; a 32-bit MCU build uses somewhat smaller structs, so the tail estimate is a little
high there):

* `TfLiteEvalTensor` (24 B) per tensor of every subgraph;
* `NodeAndRegistration` (64 B) per operator;
* a persistent `TfLiteTensor` (64 B) + quantization (2 x 16 B) per tensor the application reads
  through `input()`/`output()` (one input and one output in the usual application);
* variable tensors (SVDF/LSTM state), each rounded up to 16 B;
* kernel `OpData` from each kernel's Prepare (per-channel multipliers/shifts for convolutions:
  8 B per output channel), and the op's parsed builtin options;
* a fixed part: the allocator, planner and interpreter bookkeeping.

The constants below were read off the runtime's own RecordingMicroAllocator report on single-op
models built with `tflite_builder` (see tests/test_profile_arena.py, which checks the total within
10% on every model it has).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edgesight.profile.graph import Graph
from edgesight.profile.memory_planner import MemoryPlan, align_up, plan_tflm

__all__ = ["ArenaEstimate", "estimate_tflm_arena"]

EVAL_TENSOR_BYTES = 24
NODE_AND_REGISTRATION_BYTES = 64
PERSISTENT_TFLITE_TENSOR_BYTES = 64
PERSISTENT_QUANT_BYTES = 32
FIXED_TAIL_BYTES = 500  # allocator objects, planner, subgraph tables, shared kernel state

# Kernel OpData (bytes) from Prepare, plus bytes per output channel for per-channel requantization.
_KERNEL_DATA: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "CONV_2D": (76, 8),
        "DEPTHWISE_CONV_2D": (76, 8),
        "TRANSPOSE_CONV": (76, 8),
        "FULLY_CONNECTED": (72, 0),
        "ADD": (72, 0),
        "SUB": (72, 0),
        "MUL": (40, 0),
        "AVERAGE_POOL_2D": (36, 0),
        "MAX_POOL_2D": (36, 0),
        "MEAN": (44, 0),
        "SUM": (44, 0),
        "CONCATENATION": (80, 0),
        "SOFTMAX": (84, 0),
        "LOGISTIC": (24, 0),
        "QUANTIZE": (24, 0),
        "DEQUANTIZE": (24, 0),
        "SVDF": (48, 0),
        "HARD_SWISH": (32, 0),
        "LEAKY_RELU": (16, 0),
        "ELU": (256, 0),  # int8 lookup table
        "PAD": (24, 0),
        "RESHAPE": (0, 0),
    }
)
_DEFAULT_KERNEL_DATA = (32, 0)

# Parsed builtin options (TfLite*Params structs) allocated per operator.
_BUILTIN_PARAMS: Mapping[str, int] = MappingProxyType(
    {
        "CONV_2D": 28,
        "DEPTHWISE_CONV_2D": 28,
        "TRANSPOSE_CONV": 24,
        "FULLY_CONNECTED": 16,
        "ADD": 8,
        "SUB": 8,
        "MUL": 4,
        "AVERAGE_POOL_2D": 40,
        "MAX_POOL_2D": 40,
        "RESHAPE": 36,
        "SOFTMAX": 4,
        "CONCATENATION": 8,
        "MEAN": 4,
        "SUM": 4,
        "SVDF": 12,
    }
)
_PERSISTENT_BASE = 48  # first kernel allocation in the persistent section, shared


@dataclass(frozen=True)
class ArenaEstimate:
    """Predicted TFLM arena.

    Attributes:
        head_bytes: planned non-persistent part (activations + scratch), exact.
        tail_bytes: modelled persistent part.
        total_bytes: head + tail: the `kTensorArenaSize` to give the interpreter.
        parts: the tail by category (bytes).
        plan: the activation plan behind `head_bytes`.
    """

    head_bytes: int
    tail_bytes: int
    total_bytes: int
    parts: dict[str, int]
    plan: MemoryPlan


def _out_channels(graph: Graph, op_index: int) -> int:
    op = graph.ops[op_index]
    if not op.outputs:
        return 0
    shape = graph.tensors[op.outputs[0]].shape
    return int(shape[-1]) if shape else 1


def estimate_tflm_arena(graph: Graph, io_tensors: int = 2) -> ArenaEstimate:
    """Predict the TFLM arena for a TFLite graph.

    Args:
        graph: a TFLite graph (`format == "tflite"`).
        io_tensors: persistent TfLiteTensors the application fetches (input(0) + output(0) = 2).
    """
    plan = plan_tflm(graph)
    info = graph.tflite
    n_tensors = sum(info.subgraph_tensor_counts) if info else len(graph.tensors)
    n_ops = sum(info.subgraph_op_counts) if info else len(graph.ops)
    kernel = _PERSISTENT_BASE if graph.ops else 0
    params = 0
    for op in graph.ops:
        base, per_ch = _KERNEL_DATA.get(op.op_type, _DEFAULT_KERNEL_DATA)
        kernel += base + per_ch * _out_channels(graph, op.index)
        params += _BUILTIN_PARAMS.get(op.op_type, 0)
    variable = info.variable_bytes if info else 0
    parts = {
        "eval tensors": align_up(EVAL_TENSOR_BYTES * n_tensors),
        "nodes and registrations": NODE_AND_REGISTRATION_BYTES * n_ops,
        "input/output tensors": (PERSISTENT_TFLITE_TENSOR_BYTES + PERSISTENT_QUANT_BYTES) * io_tensors,
        "kernel data": align_up(kernel),
        "builtin options": params,
        "variable tensors": variable,
        "runtime fixed": FIXED_TAIL_BYTES,
    }
    tail = sum(parts.values())
    return ArenaEstimate(
        head_bytes=plan.arena_bytes,
        tail_bytes=tail,
        total_bytes=plan.arena_bytes + tail,
        parts=parts,
        plan=plan,
    )

"""Activation memory planning for MCU-class runtimes, as TensorFlow Lite Micro does it.

`plan_tflm` rebuilds TFLM's non-persistent ("head") arena plan:

* lifetimes as `AllocationInfoBuilder::MarkAllocationLifetimes` marks them: allocation scope 0 is
  the subgraph start (graph inputs and outputs are created there), operator *i* runs in scope
  *i + 1* (its outputs are created and its inputs last used there), graph outputs live to the end;
* buffers added in tensor-index order, then kernel scratch buffers in request order; constant,
  variable and zero-byte tensors are not planned; sizes rounded up to 16 bytes
  (`MicroArenaBufferAlignment`);
* `GreedyMemoryPlanner::CalculateOffsetsIfNeeded`: offline-planned buffers first at their fixed
  offsets, the rest sorted by size, largest first, by a stable sort (ties keep insertion order), each
  placed in the first gap (in offset order) among the buffers alive at the same time that fits it.

The arena head is then the end of the highest placed buffer. `lower_bound` gives the best any
planner could do (the largest sum of live bytes at one step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgesight.profile.graph import Graph

__all__ = ["Buffer", "MemoryPlan", "greedy_plan", "plan_tflm", "tflm_scratch_requests"]

ARENA_ALIGNMENT = 16  # bytes, tflite::MicroArenaBufferAlignment()
ONLINE = -1  # kOnlinePlannedBuffer


def align_up(n: int, alignment: int = ARENA_ALIGNMENT) -> int:
    """Round `n` bytes up to a multiple of `alignment`."""
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Buffer:
    """One planned buffer.

    Attributes:
        name: tensor name or `scratch:<op>#k`.
        tensor: tensor index, or -1 for a kernel scratch buffer.
        size: bytes, already aligned.
        first: first allocation scope it is alive in (0 = graph start, op i = i + 1).
        last: last allocation scope it is alive in (inclusive).
        offline_offset: fixed offset from the model's offline plan, or -1.
    """

    name: str
    tensor: int
    size: int
    first: int
    last: int
    offline_offset: int = ONLINE


@dataclass(frozen=True)
class MemoryPlan:
    """Result of planning.

    Attributes:
        buffers: the planned buffers, in the order they were added.
        offsets: byte offset of each buffer in the arena head.
        arena_bytes: bytes the plan needs (end of the highest buffer).
        lower_bound: largest sum of live buffer bytes at any scope (no planner can beat it).
        live_bytes: live bytes per scope, index = scope (0 = graph start, i + 1 = op i).
        peak_scope: scope with the most live bytes.
    """

    buffers: tuple[Buffer, ...]
    offsets: tuple[int, ...]
    arena_bytes: int
    lower_bound: int
    live_bytes: tuple[int, ...]
    peak_scope: int

    @property
    def fragmentation(self) -> float:
        """arena_bytes / lower_bound - 1 (0 = the plan is optimal)."""
        return self.arena_bytes / self.lower_bound - 1.0 if self.lower_bound else 0.0


def _overlap(a: Buffer, first: int, last: int) -> bool:
    return not (a.first > last or first > a.last)


def greedy_plan(buffers: Sequence[Buffer]) -> tuple[int, ...]:
    """Offsets for `buffers` by TFLM's GreedyMemoryPlanner (see module docstring).

    Returns:
        one offset per buffer, in the input order.
    """
    n = len(buffers)
    if n == 0:
        return ()
    offline = [i for i in range(n) if buffers[i].offline_offset != ONLINE]
    online = [i for i in range(n) if buffers[i].offline_offset == ONLINE]
    # TFLM fills online ids from the tail backwards, so they enter the stable sort reversed.
    online.reverse()
    online.sort(key=lambda i: -buffers[i].size)  # Python's sort is stable like ReverseSortInPlace
    order = offline + online
    offsets = [-1] * n
    placed: list[tuple[int, int]] = []  # (offset, buffer id), kept in offset order
    for rank, bid in enumerate(order):
        b = buffers[bid]
        if rank == 0:
            offset = b.offline_offset if b.offline_offset != ONLINE else 0
            offsets[bid] = offset
            placed.append((offset, bid))
            continue
        if b.offline_offset != ONLINE:
            offset = b.offline_offset
        else:
            offset = 0
            active = [(o, j) for (o, j) in placed if _overlap(buffers[j], b.first, b.last)]
            prior: tuple[int, int] | None = None
            k = 0
            while True:
                nxt = active[k] if k < len(active) else None
                if prior is not None:
                    end = prior[0] + buffers[prior[1]].size
                    offset = max(offset, end)
                if nxt is None:
                    break
                if nxt[0] - offset >= b.size:
                    break
                prior = nxt
                k += 1
        offsets[bid] = offset
        # Insert keeping offset order; equal offsets go after existing ones (as TFLM's list insert),
        # except a new strictly-smallest offset becomes the head.
        pos = len(placed)
        for p, (o, _) in enumerate(placed):
            if o > offset:
                pos = p
                break
        placed.insert(pos, (offset, bid))
    return tuple(offsets)


def _plan(buffers: list[Buffer], scopes: int) -> MemoryPlan:
    offsets = greedy_plan(buffers)
    arena = max((o + b.size for o, b in zip(offsets, buffers, strict=False)), default=0)
    live = [0] * max(scopes, 1)
    for b in buffers:
        for s in range(max(b.first, 0), min(b.last, scopes - 1) + 1):
            live[s] += b.size
    peak = max(range(len(live)), key=lambda s: live[s]) if live else 0
    return MemoryPlan(
        buffers=tuple(buffers),
        offsets=offsets,
        arena_bytes=arena,
        lower_bound=max(live, default=0),
        live_bytes=tuple(live),
        peak_scope=peak,
    )


def tflm_scratch_requests(graph: Graph) -> list[tuple[int, int, str]]:
    """Scratch buffers TFLM's reference kernels request in Prepare: (op index, bytes, label).

    Only kernels whose request size follows from shapes alone are modelled (SVDF, TRANSPOSE_CONV,
    MEAN/SUM/REDUCE_*: temp index + resolved axes, and an int32 accumulator for int8 MEAN/SUM). Optimized kernel libraries (CMSIS-NN, ESP-NN) request more (im2col
    buffers); those are reported as an assumption, not planned.
    """
    reqs: list[tuple[int, int, str]] = []
    t = graph.tensors
    for op in graph.ops:
        if op.op_type == "SVDF" and len(op.inputs) >= 3:
            inp, wf = t[op.inputs[0]], t[op.inputs[1]]
            if inp.dtype == "INT8" and len(inp.shape) >= 1 and wf.shape:
                batch, filters = inp.shape[0], wf.shape[0]
                units = filters // max(_svdf_rank(graph, op), 1)
                reqs.append((op.index, batch * filters * 4, "svdf scratch"))
                reqs.append((op.index, batch * units * 4, "svdf scratch output"))
        elif op.op_type == "TRANSPOSE_CONV" and op.outputs:
            out = t[op.outputs[0]]
            if out.dtype in ("INT8", "INT16"):
                reqs.append((op.index, out.elements * (8 if out.dtype == "INT16" else 4), "transpose conv"))
        elif op.op_type in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD") and len(op.inputs) >= 2:
            inp, axes, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
            if op.op_type in ("MEAN", "SUM") and out.dtype in ("INT8", "INT16"):
                reqs.append((op.index, out.elements * 4, "reduce int32 accumulator"))
            reqs.append((op.index, 4 * len(inp.shape), "reduce temp index"))
            reqs.append((op.index, 4 * max(axes.elements, 1), "reduce resolved axes"))
    return reqs


def _svdf_rank(graph: Graph, op: object) -> int:
    # The rank lives in SVDFOptions, which the reader does not decode; TFLM's keyword models and
    # most exported SVDFs use rank 1. State tensor shape [batch, memory_size * filters] cannot tell.
    return 1


def plan_tflm(graph: Graph) -> MemoryPlan:
    """Plan the main subgraph's activations exactly as TFLite Micro does (see module docstring)."""
    if graph.format != "tflite":
        return plan_generic(graph)
    tensors = graph.tensors
    ops = graph.ops
    first = [-1] * len(tensors)
    last = [-1] * len(tensors)
    for idx in (*graph.inputs, *graph.outputs):
        first[idx] = 0
        last[idx] = 0
    scratch: list[Buffer] = []
    reqs = tflm_scratch_requests(graph)
    scope = 0
    for op in ops:
        scope += 1
        for o in op.outputs:
            if o >= 0:
                first[o] = scope
                last[o] = scope
        for i in op.inputs:
            if i >= 0:
                last[i] = scope
        for k, (op_idx, nbytes, _label) in enumerate(reqs):
            if op_idx == op.index:
                scratch.append(
                    Buffer(f"scratch:{op.op_type}#{op.index}.{k}", -1, align_up(nbytes), scope, scope)
                )
    for idx in graph.outputs:
        last[idx] = scope
    offline = graph.tflite.offline_offsets if graph.tflite else None
    buffers: list[Buffer] = []
    for t in tensors:
        if t.is_constant or t.is_variable or t.nbytes == 0:
            continue
        off = ONLINE
        if offline is not None and t.index < len(offline):
            off = int(offline[t.index])
        buffers.append(
            Buffer(t.name or f"t{t.index}", t.index, align_up(t.nbytes), first[t.index], last[t.index], off)
        )
    buffers.extend(scratch)
    return _plan(buffers, scope + 1)


def plan_generic(graph: Graph) -> MemoryPlan:
    """Same greedy planner over any graph (ONNX included), with TFLM's lifetime rules."""
    first = [-1] * len(graph.tensors)
    last = [-1] * len(graph.tensors)
    for idx in (*graph.inputs, *graph.outputs):
        first[idx] = last[idx] = 0
    scope = 0
    for op in graph.ops:
        scope += 1
        for o in op.outputs:
            if o >= 0:
                first[o] = last[o] = scope
        for i in op.inputs:
            if i >= 0:
                last[i] = scope
    for idx in graph.outputs:
        last[idx] = scope
    buffers = [
        Buffer(t.name or f"t{t.index}", t.index, align_up(t.nbytes), first[t.index], last[t.index])
        for t in graph.tensors
        if not t.is_constant and t.nbytes > 0 and first[t.index] >= 0
    ]
    return _plan(buffers, scope + 1)

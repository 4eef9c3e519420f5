"""Per-op and total cost: parameters, weight bytes, MACs/FLOPs and activation bytes.

Counting rules (the ones model zoos publish, so figures are comparable):
* MACs are counted for convolutions, transposed convolutions, fully-connected/Gemm and matrix
  products only: `output elements x (input channels / groups) x kernel area` for a convolution,
  `output elements x K` for a matrix product. FLOPs = 2 x MACs (as Ultralytics/thop and
  torchvision report "GFLOPs"). Biases, activations and elementwise ops are counted separately as
  `other_ops` (1 per output element) and are not part of FLOPs.
* Parameters are the elements of the constant inputs of MAC ops plus normalization/PReLU constants:
  anchor grids and other constant tables are reported as `constants`, not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesight.profile.graph import Graph, Op

__all__ = ["GraphCost", "OpCost", "graph_cost"]

_CONV_ONNX = {"Conv", "ConvInteger", "QLinearConv"}
_MATMUL_ONNX = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"}
_PARAM_ONNX = {"BatchNormalization", "PRelu", "LayerNormalization", "InstanceNormalization"}
_ZERO_COST = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Constant", "RESHAPE",
    "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE",
})  # fmt: skip


@dataclass(frozen=True)
class OpCost:
    """Cost of one operator.

    Attributes:
        index / op_type / name: the op.
        macs: multiply-accumulates (0 for non-MAC ops).
        other_ops: elementwise/pooling work, 1 per output element (per window element for pools).
        params: parameter count (weights + biases) held by the op.
        weight_bytes: bytes of the op's constant inputs, in the file's precision.
        input_bytes / output_bytes: activation bytes read/written.
        output_shape: shape of the first output.
    """

    index: int
    op_type: str
    name: str
    macs: int
    other_ops: int
    params: int
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    output_shape: tuple[int, ...]

    @property
    def flops(self) -> int:
        """2 x MACs (FLOPs as model zoos count them)."""
        return 2 * self.macs

    @property
    def bytes_moved(self) -> int:
        """Activations in + out + weights: memory traffic lower bound for one run of the op."""
        return self.input_bytes + self.output_bytes + self.weight_bytes


@dataclass(frozen=True)
class GraphCost:
    """Whole-graph totals plus the per-op rows (execution order)."""

    ops: tuple[OpCost, ...]
    params: int
    constants: int
    weight_bytes: int
    macs: int
    other_ops: int
    activation_bytes: int

    @property
    def flops(self) -> int:
        """2 x MACs."""
        return 2 * self.macs

    def weight_bytes_at(self, precision: str) -> int:
        """Weight bytes if stored at `precision` (`int8`, `fp16`, `fp32`)."""
        return self.params * {"int8": 1, "fp16": 2, "fp32": 4}.get(precision, 4)


def _op_cost(graph: Graph, op: Op) -> OpCost:
    t = graph.tensors
    ins = [t[i] for i in op.inputs if i >= 0]
    outs = [t[i] for i in op.outputs if i >= 0]
    consts = [x for x in ins if x.is_constant]
    acts_in = [x for x in ins if not x.is_constant]
    out = outs[0] if outs else None
    out_elems = out.elements if out is not None else 0
    macs = 0
    params = 0
    ty = op.op_type
    if ty in _CONV_ONNX and len(op.inputs) >= 2:
        w = t[op.inputs[3 if ty == "QLinearConv" else 1]]
        k = 1
        for d in w.shape[1:]:
            k *= d
        macs = out_elems * k
        params = sum(x.elements for x in consts)  # weight + bias
        if ty != "Conv":  # integer convs also take scales/zero points: count weight (+ bias) only
            params = w.elements + (
                t[op.inputs[8]].elements if ty == "QLinearConv" and len(op.inputs) > 8 else 0
            )
    elif ty == "ConvTranspose" and len(op.inputs) >= 2:
        w = t[op.inputs[1]]
        k = 1
        for d in w.shape[1:]:
            k *= d
        macs = (acts_in[0].elements if acts_in else 0) * k
        params = sum(x.elements for x in consts)
    elif ty in _MATMUL_ONNX and len(op.inputs) >= 2:
        a = t[op.inputs[0]]
        kdim = a.shape[-1] if a.shape else 1
        if ty == "Gemm" and op.attrs.get("transA") and len(a.shape) == 2:
            kdim = a.shape[0]
        macs = out_elems * kdim
        params = sum(x.elements for x in consts if x.elements > 1)
    elif ty in _PARAM_ONNX:
        params = sum(x.elements for x in consts)
    elif ty == "CONV_2D" and len(op.inputs) >= 2:
        w = t[op.inputs[1]]
        macs = out_elems * (w.shape[1] * w.shape[2] * w.shape[3] if len(w.shape) == 4 else 1)
        params = sum(x.elements for x in consts)
    elif ty == "DEPTHWISE_CONV_2D" and len(op.inputs) >= 2:
        w = t[op.inputs[1]]
        macs = out_elems * (w.shape[1] * w.shape[2] if len(w.shape) == 4 else 1)
        params = sum(x.elements for x in consts)
    elif ty in ("FULLY_CONNECTED", "BATCH_MATMUL") and len(op.inputs) >= 2:
        w = t[op.inputs[1]]
        kdim = w.shape[-1] if ty == "FULLY_CONNECTED" and w.shape else (t[op.inputs[0]].shape or (1,))[-1]
        macs = out_elems * kdim
        params = sum(x.elements for x in consts)
    elif ty == "TRANSPOSE_CONV" and len(op.inputs) >= 3:
        w, x_in = t[op.inputs[1]], t[op.inputs[2]]
        macs = x_in.elements * (w.shape[0] * w.shape[1] * w.shape[2] if len(w.shape) == 4 else 1)
        params = sum(x.elements for x in consts if x.index != op.inputs[0])
    elif ty in ("SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM"):
        params = sum(x.elements for x in consts)
        macs = params * max(out.shape[0] if out is not None and out.shape else 1, 1)
    other = 0
    if ty not in _ZERO_COST and macs == 0:
        other = out_elems
        if ty in ("MaxPool", "AveragePool", "MAX_POOL_2D", "AVERAGE_POOL_2D"):
            ks = op.attrs.get("kernel_shape")
            window = 1
            if isinstance(ks, list | tuple):
                for k in ks:
                    window *= int(k)
            else:
                window = 4
            other = out_elems * window
        elif ty in ("GlobalAveragePool", "MEAN", "ReduceMean", "SUM"):
            other = acts_in[0].elements if acts_in else out_elems
    return OpCost(
        index=op.index,
        op_type=ty,
        name=op.name or (out.name if out is not None else ""),
        macs=int(macs),
        other_ops=int(other),
        params=int(params),
        weight_bytes=sum(x.nbytes for x in consts),
        input_bytes=sum(x.nbytes for x in acts_in),
        output_bytes=sum(x.nbytes for x in outs),
        output_shape=tuple(out.shape) if out is not None else (),
    )


def graph_cost(graph: Graph) -> GraphCost:
    """Cost of every op of `graph` and the totals."""
    rows = tuple(_op_cost(graph, op) for op in graph.ops)
    params = sum(r.params for r in rows)
    const_elems = sum(t.elements for t in graph.tensors if t.is_constant)
    return GraphCost(
        ops=rows,
        params=params,
        constants=max(const_elems - params, 0),
        weight_bytes=graph.weight_bytes,
        macs=sum(r.macs for r in rows),
        other_ops=sum(r.other_ops for r in rows),
        activation_bytes=sum(t.nbytes for t in graph.tensors if not t.is_constant),
    )

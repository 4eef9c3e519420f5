"""Find the decode tail of a detection model by graph structure, to keep it in float.

The tail is everything between the last learned layers and the model outputs: for YOLOv8/11 the
per-scale Reshape/Concat, the DFL (Softmax + the fixed 1x1 Conv whose weights are 0..15), the
anchor arithmetic (Sub/Add/Div/Mul), the class Sigmoid and the final Concat of boxes (pixels,
0..640) with scores (0..1). Quantizing that Concat to one uint8 scale rounds every score to a
multiple of 640/255 = 2.5: detections vanish. The walk starts at the graph outputs and stops at
learned compute layers (Conv/ConvTranspose/MatMul/Gemm with learned weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["TailNode", "find_decode_tail"]

_LEARNED = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


@dataclass(frozen=True)
class TailNode:
    """One node of the decode tail and why it belongs there."""

    name: str
    op_type: str
    reason: str


def _is_fixed_projection(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    """True for DFL's integral: a Conv/MatMul whose weights are exactly 0, 1, ..., n-1."""
    if len(node.input) < 2 or node.input[1] not in inits:
        return False
    w = numpy_helper.to_array(inits[node.input[1]]).reshape(-1)
    return w.size > 1 and bool(np.allclose(w, np.arange(w.size)))


def find_decode_tail(model: onnx.ModelProto) -> list[TailNode]:
    """The nodes between the model outputs and the last learned layers, in output-to-input order.

    Args:
        model: an ONNX model (not modified). Nodes need names (``quant_pre_process`` and exporters
            name them); unnamed nodes cannot be excluded from quantization and are skipped.
    """
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    out: list[TailNode] = []
    seen: set[int] = set()
    stack = [o.name for o in g.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type in _LEARNED:
            if not _is_fixed_projection(node, inits):
                continue  # a learned layer: the tail stops here
            reason = "DFL integral (fixed weights 0..n-1)"
        elif node.op_type == "Concat" and any(o.name in node.output for o in g.output):
            reason = "output concat: box pixels + 0..1 scores"
        elif node.op_type in ("Softmax", "Sigmoid"):
            reason = f"decode {node.op_type.lower()}"
        else:
            reason = "decode reshape/arithmetic"
        if node.name:
            out.append(TailNode(node.name, node.op_type, reason))
        stack.extend(i for i in node.input if i and i not in inits)
    return out

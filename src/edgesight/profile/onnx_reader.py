"""Read an ONNX model into a `Graph`, with ONNX shape inference for every intermediate tensor."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from edgesight.errors import ModelError
from edgesight.profile.graph import Graph, Op, Tensor

__all__ = ["read_onnx"]

# onnx.TensorProto.DataType -> (TFLite-style name, bytes per element)
_DTYPES: Mapping[int, tuple[str, int]] = MappingProxyType(
    {
        1: ("FLOAT32", 4),
        2: ("UINT8", 1),
        3: ("INT8", 1),
        4: ("UINT16", 2),
        5: ("INT16", 2),
        6: ("INT32", 4),
        7: ("INT64", 8),
        8: ("STRING", 1),
        9: ("BOOL", 1),
        10: ("FLOAT16", 2),
        11: ("FLOAT64", 8),
        12: ("UINT32", 4),
        13: ("UINT64", 8),
        16: ("BFLOAT16", 2),
    }
)


def read_onnx(data: bytes, path: Path) -> Graph:
    """Parse ONNX bytes into a `Graph` of the main graph (nodes in file order, which ONNX requires
    to be topological). Unknown (symbolic) dimensions are taken as 1 and the tensor marked dynamic.

    Raises:
        ModelError: not a parseable ONNX protobuf, or no graph in it.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a valid ONNX model (protobuf parse failed: {exc})") from exc
    except Exception as exc:  # protobuf raises several internal types on garbage input
        raise ModelError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from exc
    if not model.graph.node:
        raise ModelError(f"{path}: ONNX file has no graph nodes (truncated or not a model)")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # shape inference failures: keep going with the shapes the file has
        inferred = model
        _ = exc
    g = inferred.graph

    index: dict[str, int] = {}
    tensors: list[Tensor] = []

    def add(name: str, shape: tuple[int, ...], dtype: int, const: bool, dynamic: bool) -> int:
        if name in index:
            return index[name]
        dname, size = _DTYPES.get(dtype, ("FLOAT32", 4))
        tensors.append(
            Tensor(
                index=len(tensors),
                name=name,
                shape=shape,
                dtype=dname,
                itemsize=size,
                is_constant=const,
                dynamic=dynamic,
            )
        )
        index[name] = len(tensors) - 1
        return index[name]

    for init in g.initializer:
        add(init.name, tuple(int(d) for d in init.dims), init.data_type, True, False)

    def from_value_info(vi: object) -> None:
        tt = vi.type.tensor_type  # type: ignore[attr-defined]
        dims: list[int] = []
        dynamic = not tt.HasField("shape")
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                dims.append(1)
                dynamic = True
        add(vi.name, tuple(dims), tt.elem_type, False, dynamic)  # type: ignore[attr-defined]

    for vi in (*g.input, *g.output, *g.value_info):
        from_value_info(vi)

    ops: list[Op] = []
    for i, node in enumerate(g.node):
        const = node.op_type == "Constant"
        ins = []
        for name in node.input:
            if not name:
                ins.append(-1)
                continue
            if name not in index:
                add(name, (), 1, False, True)
            ins.append(index[name])
        outs = []
        for name in node.output:
            if name not in index:
                if const:
                    shape, dtype = _constant_shape(node)
                    add(name, shape, dtype, True, False)
                else:
                    add(name, (), 1, False, True)
            elif const:
                t = tensors[index[name]]
                tensors[index[name]] = Tensor(**{**t.__dict__, "is_constant": True})
            outs.append(index[name])
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute if a.name != "value"}
        ops.append(
            Op(
                index=i,
                op_type=node.op_type,
                inputs=tuple(ins),
                outputs=tuple(outs),
                name=node.name,
                attrs=attrs,
            )
        )

    init_names = {i.name for i in g.initializer}
    inputs = tuple(index[v.name] for v in g.input if v.name not in init_names)
    outputs = tuple(index[v.name] for v in g.output)
    return Graph(
        path=path,
        format="onnx",
        tensors=tuple(tensors),
        ops=tuple(ops),
        inputs=inputs,
        outputs=outputs,
        file_bytes=len(data),
        metadata={p.key: p.value for p in model.metadata_props},
        tflite=None,
    )


def _constant_shape(node: object) -> tuple[tuple[int, ...], int]:
    for a in node.attribute:  # type: ignore[attr-defined]
        if a.name == "value":
            return tuple(int(d) for d in a.t.dims), int(a.t.data_type)
    return (), 1

"""Read a TFLite flatbuffer (schema `TFL3`) into a `Graph`, with bounds checks on every read.

A small hand-written flatbuffer walker instead of generated schema classes: no dependency for the
core install, and a truncated or corrupt file becomes a `ModelError` that names the field that
could not be read instead of an IndexError deep inside generated code.
"""

from __future__ import annotations

import struct
from pathlib import Path

from edgesight.errors import ModelError
from edgesight.profile._tflite_enums import BUILTIN_OPERATORS, TENSOR_TYPES
from edgesight.profile.graph import Graph, Op, Tensor, TfliteInfo

__all__ = ["read_tflite"]

# Field slots of the tables we read (tensorflow/lite/schema/schema.fbs).
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_DESCRIPTION, _MODEL_BUFFERS = 0, 1, 2, 3, 4
_MODEL_METADATA = 6
_OPCODE_DEPRECATED_BUILTIN, _OPCODE_CUSTOM, _OPCODE_VERSION, _OPCODE_BUILTIN = 0, 1, 2, 3
_SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS, _SG_OPERATORS, _SG_NAME = 0, 1, 2, 3, 4
_T_SHAPE, _T_TYPE, _T_BUFFER, _T_NAME, _T_QUANT, _T_IS_VARIABLE, _T_SHAPE_SIGNATURE = 0, 1, 2, 3, 4, 5, 7
_OP_OPCODE, _OP_INPUTS, _OP_OUTPUTS, _OP_INTERMEDIATES = 0, 1, 2, 8
_Q_SCALE = 2
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2
_META_NAME, _META_BUFFER = 0, 1


class _Reader:
    """Bounds-checked access to flatbuffer tables, vectors and strings."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path

    def fail(self, what: str) -> ModelError:
        return ModelError(
            f"{self.path}: corrupt or truncated TFLite file ({len(self.data)} bytes): cannot read {what}"
        )

    def _unpack(self, fmt: str, pos: int, what: str) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise self.fail(what)
        return int(struct.unpack_from(fmt, self.data, pos)[0])

    def root(self) -> int:
        return self._unpack("<I", 0, "the root table offset")

    def field_pos(self, table: int, slot: int, what: str) -> int | None:
        vtable = table - self._unpack("<i", table, f"{what} (vtable offset)")
        vt_size = self._unpack("<H", vtable, f"{what} (vtable size)")
        entry = 4 + 2 * slot
        if entry + 2 > vt_size:
            return None
        off = self._unpack("<H", vtable + entry, f"{what} (vtable entry)")
        return None if off == 0 else table + off

    def scalar(self, table: int, slot: int, fmt: str, default: int, what: str) -> int:
        pos = self.field_pos(table, slot, what)
        return default if pos is None else self._unpack(fmt, pos, what)

    def ref(self, table: int, slot: int, what: str) -> int | None:
        pos = self.field_pos(table, slot, what)
        if pos is None:
            return None
        return pos + self._unpack("<I", pos, what)

    def vector(self, table: int, slot: int, what: str) -> tuple[int, int] | None:
        """(start of elements, length) of a vector field, or None when absent."""
        pos = self.ref(table, slot, what)
        if pos is None:
            return None
        n = self._unpack("<I", pos, f"{what} (length)")
        if n > len(self.data):
            raise self.fail(f"{what} (length {n} larger than the file)")
        return pos + 4, n

    def table_vector(self, table: int, slot: int, what: str) -> list[int]:
        vec = self.vector(table, slot, what)
        if vec is None:
            return []
        start, n = vec
        out = []
        for i in range(n):
            p = start + 4 * i
            out.append(p + self._unpack("<I", p, f"{what}[{i}]"))
        return out

    def int_vector(self, table: int, slot: int, fmt: str, what: str) -> list[int]:
        vec = self.vector(table, slot, what)
        if vec is None:
            return []
        start, n = vec
        size = struct.calcsize(fmt)
        if start + n * size > len(self.data):
            raise self.fail(f"{what} ({n} elements past the end of the file)")
        return [int(v) for v in struct.unpack_from("<" + fmt[-1] * n, self.data, start)]

    def string(self, table: int, slot: int, what: str) -> str:
        vec = self.vector(table, slot, what)
        if vec is None:
            return ""
        start, n = vec
        if start + n > len(self.data):
            raise self.fail(what)
        return self.data[start : start + n].decode("utf-8", errors="replace")


def read_tflite(data: bytes, path: Path) -> Graph:
    """Parse TFLite flatbuffer bytes into a `Graph` of the main subgraph (index 0).

    Raises:
        ModelError: not a TFLite file, or a table/vector points outside the file.
    """
    if len(data) < 8:
        raise ModelError(f"{path}: file is {len(data)} bytes, too short to be a TFLite model")
    if data[4:8] != b"TFL3":
        raise ModelError(
            f"{path}: not a TFLite flatbuffer: expected file identifier 'TFL3' at bytes 4..8, "
            f"found {data[4:8]!r}"
        )
    r = _Reader(data, path)
    model = r.root()
    version = r.scalar(model, _MODEL_VERSION, "<I", 0, "model version")
    if version != 3:
        raise ModelError(f"{path}: unsupported TFLite schema version {version} (expected 3)")

    opcodes: list[tuple[str, int]] = []
    for i, oc in enumerate(r.table_vector(model, _MODEL_OPCODES, "operator_codes")):
        dep = r.scalar(oc, _OPCODE_DEPRECATED_BUILTIN, "<b", 0, f"operator_codes[{i}]")
        code = r.scalar(oc, _OPCODE_BUILTIN, "<i", 0, f"operator_codes[{i}]")
        code = max(code, dep)  # the schema's documented rule for old/new files
        ver = r.scalar(oc, _OPCODE_VERSION, "<i", 1, f"operator_codes[{i}]")
        if code == BUILTIN_OPERATORS.index("CUSTOM"):
            name = r.string(oc, _OPCODE_CUSTOM, f"operator_codes[{i}].custom_code") or "CUSTOM"
        elif 0 <= code < len(BUILTIN_OPERATORS):
            name = BUILTIN_OPERATORS[code]
        else:
            name = f"BUILTIN_{code}"
        opcodes.append((name, ver))

    buffers = r.table_vector(model, _MODEL_BUFFERS, "buffers")
    buffer_has_data: list[bool] = []
    buffer_sizes: list[int] = []
    for i, b in enumerate(buffers):
        vec = r.vector(b, _BUF_DATA, f"buffers[{i}].data")
        n = vec[1] if vec is not None else 0
        if vec is not None and vec[0] + n > len(data):
            raise r.fail(f"buffers[{i}].data ({n} bytes past the end of the file)")
        ext = r.scalar(b, _BUF_SIZE, "<Q", 0, f"buffers[{i}].size")
        if ext:
            off = r.scalar(b, _BUF_OFFSET, "<Q", 0, f"buffers[{i}].offset")
            if off + ext > len(data):
                raise r.fail(f"buffers[{i}] (external data at {off}+{ext} past the end of the file)")
        buffer_has_data.append(n > 0 or ext > 0)
        buffer_sizes.append(max(n, ext))

    metadata: dict[str, str] = {}
    offline_offsets: tuple[int, ...] | None = None
    for i, m in enumerate(r.table_vector(model, _MODEL_METADATA, "metadata")):
        name = r.string(m, _META_NAME, f"metadata[{i}].name")
        buf = r.scalar(m, _META_BUFFER, "<I", 0, f"metadata[{i}].buffer")
        metadata[name] = f"buffer {buf}"
        if name == "OfflineMemoryAllocation" and buf < len(buffers):
            vals = r.int_vector(buffers[buf], _BUF_DATA, "B", "OfflineMemoryAllocation buffer")
            raw = bytes(vals)
            if len(raw) >= 12:
                count = struct.unpack_from("<I", raw, 8)[0]
                if len(raw) >= 12 + 4 * count:
                    offline_offsets = tuple(struct.unpack_from(f"<{count}i", raw, 12))

    subgraphs = r.table_vector(model, _MODEL_SUBGRAPHS, "subgraphs")
    if not subgraphs:
        raise ModelError(f"{path}: TFLite model has no subgraphs")

    sg_tensor_counts: list[int] = []
    sg_op_counts: list[int] = []
    tensors: list[Tensor] = []
    ops: list[Op] = []
    inputs: list[int] = []
    outputs: list[int] = []
    variable_bytes = 0
    for s, sg in enumerate(subgraphs):
        t_tables = r.table_vector(sg, _SG_TENSORS, f"subgraphs[{s}].tensors")
        o_tables = r.table_vector(sg, _SG_OPERATORS, f"subgraphs[{s}].operators")
        sg_tensor_counts.append(len(t_tables))
        sg_op_counts.append(len(o_tables))
        for ti, tt in enumerate(t_tables):
            where = f"subgraphs[{s}].tensors[{ti}]"
            shape = r.int_vector(tt, _T_SHAPE, "i", f"{where}.shape")
            sig = r.int_vector(tt, _T_SHAPE_SIGNATURE, "i", f"{where}.shape_signature")
            ttype = r.scalar(tt, _T_TYPE, "<b", 0, f"{where}.type")
            if ttype not in TENSOR_TYPES:
                raise ModelError(f"{path}: {where} has unknown tensor type {ttype}")
            dtype, itemsize = TENSOR_TYPES[ttype]
            buf = r.scalar(tt, _T_BUFFER, "<I", 0, f"{where}.buffer")
            if buf >= max(len(buffers), 1) and buf != 0:
                raise ModelError(f"{path}: {where} refers to buffer {buf}, model has {len(buffers)}")
            is_var = bool(r.scalar(tt, _T_IS_VARIABLE, "<B", 0, f"{where}.is_variable"))
            q = r.ref(tt, _T_QUANT, f"{where}.quantization")
            qch = len(r.int_vector(q, _Q_SCALE, "f", f"{where}.quantization.scale")) if q is not None else 0
            is_const = buf < len(buffer_has_data) and buffer_has_data[buf]
            dynamic = any(d < 0 for d in shape) or any(d < 0 for d in sig)
            t = Tensor(
                index=ti,
                name=r.string(tt, _T_NAME, f"{where}.name"),
                shape=tuple(max(d, 1) if d < 0 else d for d in shape),
                dtype=dtype,
                itemsize=itemsize,
                is_constant=is_const,
                is_variable=is_var,
                quant_channels=qch,
                dynamic=dynamic,
            )
            if is_var:
                variable_bytes += (t.nbytes + 15) // 16 * 16
            if s == 0:
                tensors.append(t)
        for oi, ot in enumerate(o_tables):
            where = f"subgraphs[{s}].operators[{oi}]"
            idx = r.scalar(ot, _OP_OPCODE, "<I", 0, f"{where}.opcode_index")
            if idx >= len(opcodes):
                raise ModelError(f"{path}: {where} uses opcode {idx}, model defines {len(opcodes)}")
            ins = r.int_vector(ot, _OP_INPUTS, "i", f"{where}.inputs")
            outs = r.int_vector(ot, _OP_OUTPUTS, "i", f"{where}.outputs")
            for t_idx in (*ins, *outs):
                if t_idx >= len(t_tables):
                    raise ModelError(
                        f"{path}: {where} refers to tensor {t_idx}, subgraph has {len(t_tables)}"
                    )
            if s == 0:
                ops.append(
                    Op(
                        index=oi,
                        op_type=opcodes[idx][0],
                        inputs=tuple(ins),
                        outputs=tuple(outs),
                        attrs={"version": opcodes[idx][1]},
                        subgraph=s,
                    )
                )
        if s == 0:
            inputs = r.int_vector(sg, _SG_INPUTS, "i", "subgraphs[0].inputs")
            outputs = r.int_vector(sg, _SG_OUTPUTS, "i", "subgraphs[0].outputs")
            for t_idx in (*inputs, *outputs):
                if not 0 <= t_idx < len(t_tables):
                    raise ModelError(f"{path}: subgraph 0 input/output tensor {t_idx} does not exist")

    return Graph(
        path=path,
        format="tflite",
        tensors=tuple(tensors),
        ops=tuple(ops),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        file_bytes=len(data),
        metadata=metadata,
        tflite=TfliteInfo(
            subgraph_count=len(subgraphs),
            subgraph_tensor_counts=tuple(sg_tensor_counts),
            subgraph_op_counts=tuple(sg_op_counts),
            offline_offsets=offline_offsets,
            variable_bytes=variable_bytes,
            description=r.string(model, _MODEL_DESCRIPTION, "model description"),
        ),
    )

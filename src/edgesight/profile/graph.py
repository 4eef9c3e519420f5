"""Graph IR shared by the TFLite and ONNX readers: tensors, ops and their execution order.

The IR is read-only (frozen dataclasses, tuples): cost, memory planning and op-support checks
take a `Graph` and return new objects, never mutate it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgesight.errors import ModelError

__all__ = ["Graph", "Op", "Tensor", "TfliteInfo", "load_graph"]


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph.

    Attributes:
        index: position in the graph's tensor table (TFLite tensor index; ONNX: order of discovery).
        name: tensor name as written in the file.
        shape: static shape; unknown/dynamic dimensions are 1 (and `dynamic` is True).
        dtype: element type in TFLite spelling (`INT8`, `FLOAT32`, ...).
        itemsize: bytes per element as the runtime stores it.
        is_constant: holds weights/constants stored in the file (flash), not the arena.
        is_variable: TFLite variable tensor (persistent state, e.g. SVDF/LSTM).
        quant_channels: number of quantization scales (0 = not quantized, 1 = per tensor).
        dynamic: at least one dimension was unknown in the file.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    itemsize: int
    is_constant: bool = False
    is_variable: bool = False
    quant_channels: int = 0
    dynamic: bool = False

    @property
    def elements(self) -> int:
        """Number of elements (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= max(int(d), 0)
        return n

    @property
    def nbytes(self) -> int:
        """Size of the tensor data in bytes."""
        return self.elements * self.itemsize


@dataclass(frozen=True)
class Op:
    """One operator, in execution order.

    Attributes:
        index: position in the execution order (0-based).
        op_type: operator name (`CONV_2D`, `Conv`, ...), in the file format's own spelling.
        inputs: tensor indices read (-1 = omitted optional input).
        outputs: tensor indices written.
        name: node name where the format has one.
        attrs: format-specific attributes that the cost model needs (groups, kernel shape...).
        subgraph: TFLite subgraph index (0 = main).
    """

    index: int
    op_type: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = ""
    attrs: Mapping[str, object] = field(default_factory=dict)
    subgraph: int = 0


@dataclass(frozen=True)
class TfliteInfo:
    """TFLite-only facts the TFLM arena model needs.

    Attributes:
        subgraph_count: subgraphs in the file (control flow adds subgraphs).
        subgraph_tensor_counts / subgraph_op_counts: per subgraph.
        offline_offsets: the `OfflineMemoryAllocation` plan (offset per tensor, -1 = online), if any.
        variable_bytes: bytes of variable tensors, each rounded up to 16.
        description: the model's description string.
    """

    subgraph_count: int = 1
    subgraph_tensor_counts: tuple[int, ...] = ()
    subgraph_op_counts: tuple[int, ...] = ()
    offline_offsets: tuple[int, ...] | None = None
    variable_bytes: int = 0
    description: str = ""


@dataclass(frozen=True)
class Graph:
    """A model graph in a format-neutral form.

    Attributes:
        path: file the graph was read from.
        format: `tflite` or `onnx`.
        tensors: all tensors of the main subgraph (TFLite) or graph (ONNX).
        ops: operators of the main subgraph in execution order.
        inputs / outputs: tensor indices of the graph inputs/outputs.
        file_bytes: size of the model file in bytes.
        metadata: free text metadata (ONNX metadata_props; TFLite metadata names).
        tflite: TFLite-only facts (None for ONNX).
    """

    path: Path
    format: str
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    file_bytes: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    tflite: TfliteInfo | None = None

    @property
    def weight_bytes(self) -> int:
        """Bytes of all constant tensors (what goes to flash/DRAM as weights)."""
        return sum(t.nbytes for t in self.tensors if t.is_constant)

    @property
    def quantized(self) -> bool:
        """True when the compute runs in 8 bits: no float activation enters or leaves any op except
        (de)quantize steps and float post-processing (e.g. TFLite_Detection_PostProcess)."""
        skip = {
            "TFLite_Detection_PostProcess",
            "DEQUANTIZE",
            "QUANTIZE",
            "DequantizeLinear",
            "QuantizeLinear",
        }
        seen = False
        for op in self.ops:
            if op.op_type in skip:
                continue
            for i in (*op.inputs, *op.outputs):
                if i < 0:
                    continue
                t = self.tensors[i]
                if t.is_constant or t.nbytes == 0:
                    continue
                if t.dtype in ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"):
                    return False
                seen = seen or t.dtype in ("INT8", "UINT8")
        return seen

    @property
    def precision(self) -> str:
        """`int8`, `fp16` or `fp32`: the precision most compute runs in."""
        if self.quantized:
            return "int8"
        acts = [t for t in self.tensors if not t.is_constant and t.nbytes > 0]
        if acts and all(t.dtype in ("FLOAT16", "INT8", "UINT8", "INT32", "INT64", "BOOL") for t in acts):
            return "fp16"
        consts = [t for t in self.tensors if t.is_constant and t.nbytes > 0]
        if any(t.dtype in ("INT8", "UINT8") for t in consts) and any(
            op.op_type in ("ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul") for op in self.ops
        ):
            return "int8"
        return "fp32"


def load_graph(path: str | Path) -> Graph:
    """Read a `.tflite` or `.onnx` model file into a `Graph`.

    Raises:
        ModelError: the file is missing, unreadable, truncated or not a model edgesight can read.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    if not p.is_file():
        raise ModelError(f"model path is not a file: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc.strerror}") from exc
    if not data:
        raise ModelError(f"model file {p} is empty (0 bytes)")
    suffix = p.suffix.lower()
    if suffix == ".tflite" or (len(data) >= 8 and data[4:8] == b"TFL3"):
        from edgesight.profile.tflite_reader import read_tflite

        return read_tflite(data, p)
    if suffix == ".onnx":
        from edgesight.profile.onnx_reader import read_onnx

        return read_onnx(data, p)
    raise ModelError(
        f"unsupported model file {p}: expected a .tflite (TFLite flatbuffer) or .onnx file, found suffix "
        f"'{p.suffix or '(none)'}'"
    )

"""Static int8 post-training quantization with ONNX Runtime (QDQ), detection-aware; and fp16.

Activations are uint8 and weights int8 (U8S8: the fast path of ONNX Runtime's x86 kernels), per-channel
weights by default, ranges from calibration frames preprocessed exactly as the detector does
(letterbox, RGB, 0..1). By default the decode tail (see :mod:`edgesight.optimize.detection_head`)
stays in float.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from edgesight.errors import ConfigError, ModelError
from edgesight.optimize.detection_head import find_decode_tail
from edgesight.optimize.model_file import copy_metadata, load_onnx

__all__ = [
    "CalibrationMethodName",
    "FloatNode",
    "QuantizeReport",
    "QuantizeSettings",
    "calibration_tensors",
    "convert_fp16",
    "cpu_needs_reduce_range",
    "quantize_int8",
]

CalibrationMethodName = Literal["minmax", "entropy", "percentile"]


@dataclass(frozen=True)
class QuantizeSettings:
    """How to quantize.

    Attributes:
        method: calibration method: minmax (fast, default), entropy (KL), percentile.
        per_channel: per-output-channel weight scales (more accurate, same speed).
        reduce_range: 7-bit weights, to avoid int16 saturation on x86 CPUs without VNNI (see
            :func:`cpu_needs_reduce_range`; the CLI's default follows this machine).
        keep_head_float: keep the detection decode tail in float (strongly recommended).
        percentile: for method 'percentile', the percentile of |activation| kept (e.g. 99.999).
    """

    method: CalibrationMethodName = "minmax"
    per_channel: bool = True
    reduce_range: bool = False
    keep_head_float: bool = True
    percentile: float = 99.999


@dataclass(frozen=True)
class FloatNode:
    """A node left in float, and why."""

    name: str
    op_type: str
    reason: str


@dataclass
class QuantizeReport:
    """What :func:`quantize_int8` did. Sizes in bytes, times in seconds."""

    source: Path
    output: Path
    settings: QuantizeSettings
    calibration_frames: int
    float_nodes: list[FloatNode]
    quantized_nodes: int
    size_before: int
    size_after: int
    seconds: float
    calibration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "output": str(self.output),
            "method": self.settings.method,
            "per_channel": self.settings.per_channel,
            "reduce_range": self.settings.reduce_range,
            "keep_head_float": self.settings.keep_head_float,
            "calibration_frames": self.calibration_frames,
            "calibration": self.calibration,
            "float_nodes": [n.__dict__ for n in self.float_nodes],
            "quantized_nodes": self.quantized_nodes,
            "size_before": self.size_before,
            "size_after": self.size_after,
            "seconds": round(self.seconds, 2),
        }


def calibration_tensors(model_path: Path, images: Sequence[np.ndarray]) -> tuple[str, list[np.ndarray]]:
    """Preprocess frames exactly as the detector will: (input name, one (1, C, H, W) tensor per frame).

    Args:
        model_path: the float model (its input tensor and metadata decide size/layout/range).
        images: (H, W, 3) uint8 BGR frames.
    """
    from edgesight.inference import InputSpec, Preprocessor, open_backend, parse_metadata

    backend = open_backend(Path(model_path))
    meta = parse_metadata(backend.metadata, str(model_path))
    if len(backend.inputs) != 1:
        raise ModelError(f"{model_path}: expected one image input, found {len(backend.inputs)}")
    spec = InputSpec.from_tensor(backend.inputs[0], "letterbox", meta.imgsz)
    if not np.issubdtype(spec.dtype, np.floating):
        raise ModelError(
            f"{model_path}: input is already {np.dtype(spec.dtype).name}; expected a float model to quantize"
        )
    pre = Preprocessor(spec, 1)
    tensors = [pre([img])[0].copy() for img in images]
    return spec.name, tensors


class _Reader:
    """onnxruntime CalibrationDataReader over a list of tensors (never modifies them)."""

    def __init__(self, input_name: str, tensors: Sequence[np.ndarray]) -> None:
        self._name = input_name
        self._tensors = list(tensors)
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self._tensors):
            return None
        self._i += 1
        return {self._name: self._tensors[self._i - 1]}

    def __len__(self) -> int:
        return len(self._tensors)

    def set_range(self, start_index: int, end_index: int) -> None:  # used by strided calibration
        self._tensors = self._tensors[start_index:end_index]
        self._i = 0


def cpu_needs_reduce_range() -> bool:
    """True on x86 CPUs without VNNI (AVX2-only): ONNX Runtime's u8s8 kernels there multiply with
    ``vpmaddubsw``, which adds pairs of u8*s8 products into int16 with saturation; 8-bit weights can
    overflow it, 7-bit weights (``reduce_range``) cannot."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return "avx2" in flags and not {"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags)


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    table = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if name not in table:
        raise ConfigError(f"calibration method: expected one of {', '.join(table)}, got {name!r}")
    return table[name]


def preprocess_for_quantization(src: onnx.ModelProto, dst: Path) -> onnx.ModelProto:
    """ONNX Runtime's quantization pre-processing (shape inference + graph optimization); src unchanged."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="edgesight-pre-") as tmp:
        inp = Path(tmp) / "in.onnx"
        onnx.save(src, str(inp))
        try:
            quant_pre_process(str(inp), str(dst), skip_symbolic_shape=False)
        except Exception:
            # symbolic shape inference fails on some graphs; the ONNX shape pass is enough then
            quant_pre_process(str(inp), str(dst), skip_symbolic_shape=True)
    return onnx.load(str(dst))


def quantize_int8(
    source: Path,
    output: Path,
    input_name: str,
    calibration: Sequence[np.ndarray],
    settings: QuantizeSettings | None = None,
    keep_float: Mapping[str, str] | None = None,
    calibration_cache: Path | None = None,
    calibration_info: Mapping[str, Any] | None = None,
    preprocessed: Path | None = None,
) -> QuantizeReport:
    """Quantize ``source`` to a static int8 QDQ model at ``output``.

    Args:
        source: float32 ONNX model.
        output: where to write the int8 model (metadata of the source is kept, plus an
            ``edgesight.quantization`` JSON entry saying how it was made).
        input_name: the model input fed with ``calibration``.
        calibration: preprocessed input tensors (see :func:`calibration_tensors`); may be empty
            when ``calibration_cache`` already holds the ranges.
        settings: method, per-channel, head handling.
        keep_float: extra node name -> reason, kept in float (accuracy control uses this).
        calibration_cache: JSON file of activation ranges; reused when it exists, written otherwise.
        calibration_info: recorded in the metadata (source, frame indices...).
        preprocessed: where to keep the pre-processed float model (reused when it exists).

    Raises:
        ModelError: bad model file (missing, not ONNX, no weights).
        ConfigError: no calibration data, or unknown method.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    settings = settings or QuantizeSettings()
    source, output = Path(source), Path(output)
    t0 = time.perf_counter()
    model = load_onnx(source)
    done = {n.op_type for n in model.graph.node} & {
        "QuantizeLinear",
        "DequantizeLinear",
        "ConvInteger",
        "QLinearConv",
        "MatMulInteger",
        "DynamicQuantizeLinear",
    }
    if done:
        raise ModelError(
            f"{source}: already quantized (has {', '.join(sorted(done))}); quantize the float32 original instead"
        )
    if not calibration and not (calibration_cache and Path(calibration_cache).is_file()):
        raise ConfigError("int8 calibration needs frames: none were given (--calib VIDEO_OR_IMAGE_FOLDER)")
    method = _method(settings.method)
    with tempfile.TemporaryDirectory(prefix="edgesight-q-") as tmp:
        pre_path = Path(preprocessed) if preprocessed else Path(tmp) / "pre.onnx"
        pre = onnx.load(str(pre_path)) if pre_path.is_file() else preprocess_for_quantization(model, pre_path)
        float_nodes: list[FloatNode] = []
        if settings.keep_head_float:
            float_nodes += [
                FloatNode(t.name, t.op_type, "decode tail: " + t.reason) for t in find_decode_tail(pre)
            ]
        known = {n.name: n.op_type for n in pre.graph.node}
        for name, why in (keep_float or {}).items():
            if name not in known:
                raise ConfigError(f"keep-float node {name!r} is not in the (pre-processed) model")
            if name not in {f.name for f in float_nodes}:
                float_nodes.append(FloatNode(name, known[name], why))
        extra: dict[str, Any] = {}
        if settings.method == "percentile":
            extra["CalibPercentile"] = settings.percentile
        try:
            quantize_static(
                str(pre_path),
                str(output),
                _Reader(input_name, calibration) if calibration else None,
                quant_format=QuantFormat.QDQ,
                per_channel=settings.per_channel,
                reduce_range=settings.reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=[f.name for f in float_nodes],
                calibrate_method=method,
                extra_options=extra,
                calibration_cache_path=str(calibration_cache) if calibration_cache else None,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{source}: ONNX Runtime quantization failed ({str(exc).splitlines()[0][:200]})"
            ) from None
    q = onnx.load(str(output))
    info = {
        "format": "QDQ U8S8",
        "method": settings.method,
        "per_channel": settings.per_channel,
        "reduce_range": settings.reduce_range,
        "keep_head_float": settings.keep_head_float,
        "float_nodes": [f.name for f in float_nodes],
        **dict(calibration_info or {}),
    }
    copy_metadata(model, q, {"edgesight.quantization": json.dumps(info)})
    onnx.save(q, str(output))
    quantized = sum(1 for n in q.graph.node if n.op_type == "DequantizeLinear")
    return QuantizeReport(
        source=source,
        output=output,
        settings=settings,
        calibration_frames=len(calibration),
        float_nodes=float_nodes,
        quantized_nodes=quantized,
        size_before=source.stat().st_size,
        size_after=output.stat().st_size,
        seconds=time.perf_counter() - t0,
        calibration=dict(calibration_info or {}),
    )


def convert_fp16(source: Path, output: Path) -> tuple[int, int]:
    """Write a float16 copy of ``source`` (inputs/outputs stay float32). Returns (bytes before, after).

    fp16 halves the file; on CPUs without fp16 arithmetic ONNX Runtime computes most of it via casts,
    so it is for GPUs/NPUs, not for speed on x86.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = load_onnx(Path(source))
    half = convert_float_to_float16(model, keep_io_types=True)
    copy_metadata(model, half, {"edgesight.quantization": json.dumps({"format": "fp16"})})
    onnx.save(half, str(output))
    return Path(source).stat().st_size, Path(output).stat().st_size

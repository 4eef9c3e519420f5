"""Convert an ONNX model to OpenVINO IR, a cleaned/simplified ONNX (onnxslim) or TFLite (onnx2tf).

Each converter writes files and returns the path a runtime opens (.xml, .onnx, .tflite).
The model's metadata (class names, imgsz, task) travels with it so detectors still configure
themselves from the exported file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgesight.errors import ConfigError, ModelError
from edgesight.optimize.model_file import copy_metadata, load_onnx

__all__ = ["FORMATS", "export_model", "to_onnx", "to_openvino", "to_tflite"]

FORMATS = ("openvino", "onnx", "tflite")


def to_openvino(source: Path, output: Path, fp16_weights: bool = True) -> Path:
    """OpenVINO IR via ``openvino.convert_model`` + ``save_model``; returns the .xml path.

    Args:
        output: the .xml path (the .bin is written beside it).
        fp16_weights: store weights as fp16 (OpenVINO's default; the CPU computes in fp32 anyway).
    """
    try:
        import openvino as ov
    except ImportError:
        raise ConfigError("OpenVINO export needs openvino: pip install 'edgesight[openvino]'") from None
    model_proto = load_onnx(source)
    xml = Path(output)
    if xml.suffix.lower() != ".xml":
        xml = xml / (Path(source).stem + ".xml") if xml.suffix == "" else xml.with_suffix(".xml")
    xml.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = ov.convert_model(str(source))
    except Exception as exc:
        raise ModelError(
            f"{source}: OpenVINO cannot convert it ({str(exc).strip().splitlines()[-1][:200]})"
        ) from None
    for prop in model_proto.metadata_props:  # keep names/imgsz/task readable by edgesight and Ultralytics
        model.set_rt_info(prop.value, ["framework", prop.key])
    ov.save_model(model, str(xml), compress_to_fp16=fp16_weights)
    return xml


def to_onnx(source: Path, output: Path) -> Path:
    """A cleaned/simplified ONNX via onnxslim (constant folding, dead-node and redundant-op removal)."""
    try:
        import onnxslim
    except ImportError:
        raise ConfigError("ONNX simplification needs onnxslim: pip install 'edgesight[optimize]'") from None
    model = load_onnx(source)
    try:
        slim = onnxslim.slim(model)
    except Exception as exc:
        raise ModelError(f"{source}: onnxslim failed ({str(exc).strip().splitlines()[-1][:200]})") from None
    if slim is None:
        raise ModelError(f"{source}: onnxslim returned no model")
    copy_metadata(model, slim, {})
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        out = out.with_suffix(".onnx")
    if out.resolve() == Path(source).resolve():
        raise ConfigError(f"--output {out} would overwrite the source model")
    import onnx

    onnx.save(slim, str(out))
    return out


def to_tflite(source: Path, output: Path) -> Path:
    """TFLite via onnx2tf (needs the onnx2tf and tensorflow packages, not part of edgesight's extras).

    Raises:
        ConfigError: onnx2tf or tensorflow is not installed (the message says what to install).
    """
    missing = [m for m in ("onnx2tf", "tensorflow") if not _importable(m)]
    if missing:
        raise ConfigError(
            "TFLite export needs a converter that is not installed here: "
            f"{' and '.join(missing)} (pip install onnx2tf tensorflow tf_keras onnx_graphsurgeon sng4onnx; "
            "about 1 GB). Alternatives: export from the training framework (Ultralytics: "
            "`yolo export model=best.pt format=tflite`), or deploy the OpenVINO/ONNX export instead"
        )
    load_onnx(source)
    out = Path(output)
    if out.suffix.lower() != ".tflite":
        out = out.with_suffix(".tflite")
    with tempfile.TemporaryDirectory(prefix="edgesight-tflite-") as tmp:
        cmd = [sys.executable, "-m", "onnx2tf", "-i", str(source), "-o", tmp, "-osd"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        produced = sorted(Path(tmp).glob("*_float32.tflite"))
        if proc.returncode != 0 or not produced:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError(f"{source}: onnx2tf failed ({tail[0][:200]})")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced[0], out)
    return out


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def export_model(source: Path, to: str, output: Path | None = None) -> Path:
    """Convert ``source`` (.onnx) to format ``to``; default output beside the source.

    Raises:
        ConfigError: unknown format or missing converter. ModelError: bad model or failed conversion.
    """
    fmt = to.lower().strip()
    if fmt not in FORMATS:
        raise ConfigError(f"--to: unknown format {to!r}; expected one of {', '.join(FORMATS)}")
    src = Path(source)
    if src.suffix.lower() != ".onnx":
        raise ModelError(
            f"{src}: export starts from an ONNX model (.onnx), got {src.suffix or 'no suffix'!r}"
        )
    if fmt == "openvino":
        return to_openvino(src, output or src.with_name(src.stem + "_openvino") / (src.stem + ".xml"))
    if fmt == "onnx":
        return to_onnx(src, output or src.with_name(src.stem + "_slim.onnx"))
    return to_tflite(src, output or src.with_suffix(".tflite"))

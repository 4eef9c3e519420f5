"""`edgesight optimize MODEL --int8 --calib FRAMES [--max-drop D]`, `--fp16`, `--prune S`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import typer
from rich.console import Console
from rich.table import Table

from edgesight.errors import ConfigError

__all__ = ["register"]


def _default_output(model: Path, tag: str) -> Path:
    return model.with_name(f"{model.stem}_{tag}.onnx")


def register(app: typer.Typer) -> None:
    @app.command("optimize")
    def optimize(
        model: Path = typer.Argument(..., help="Float32 ONNX detection model."),
        int8: bool = typer.Option(False, "--int8", help="Static int8 quantization (QDQ, ONNX Runtime)."),
        fp16: bool = typer.Option(False, "--fp16", help="Float16 weights and compute (for GPUs/NPUs)."),
        prune: float | None = typer.Option(
            None, "--prune", min=0.0, max=0.99, help="Magnitude-prune this fraction of conv weights."
        ),
        prune_mode: str = typer.Option(
            "unstructured",
            "--prune-mode",
            help="unstructured (single weights) or channel (whole output channels).",
        ),
        calib: Path | None = typer.Option(
            None, "--calib", help="Calibration frames: a video file or an image folder."
        ),
        calib_count: int = typer.Option(64, "--calib-count", min=1, help="Frames to sample for calibration."),
        calib_range: str = typer.Option(
            "0:0.5", "--calib-range", help="START:END fraction of the source to calibrate on."
        ),
        method: str = typer.Option("minmax", "--method", help="Calibration: minmax, entropy or percentile."),
        per_channel: bool = typer.Option(
            True, "--per-channel/--per-tensor", help="Weight scales per output channel."
        ),
        keep_head: bool = typer.Option(
            True, "--keep-head/--quantize-head", help="Keep the detection decode tail in float."
        ),
        reduce_range: bool | None = typer.Option(
            None,
            "--reduce-range/--full-range",
            help="7-bit weights (default: on for x86 CPUs without VNNI, where 8-bit weights saturate).",
        ),
        max_drop: float | None = typer.Option(
            None, "--max-drop", min=0.0, max=1.0, help="Accuracy control: max fidelity (mAP50 vs float) drop."
        ),
        val: Path | None = typer.Option(
            None, "--val", help="Validation frames for --max-drop (default: --calib)."
        ),
        val_range: str = typer.Option(
            "0.5:1", "--val-range", help="START:END fraction of the validation source."
        ),
        val_count: int = typer.Option(32, "--val-count", min=2, help="Validation frames for --max-drop."),
        output: Path | None = typer.Option(
            None, "-o", "--output", help="Output model (default: MODEL_int8.onnx beside it)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Make a smaller/faster model and say what it cost.

        --int8 calibrates on frames sampled evenly from --calib-range of --calib, keeps the decode tail
        (found by graph structure) in float and records the calibration frames in the model, so
        `edgesight bench`/`eval` can keep evaluation frames apart. --max-drop D then checks fidelity on
        --val-range frames and returns the most sensitive layers to float until the drop is <= D.
        """
        chosen = [n for n, on in (("--int8", int8), ("--fp16", fp16), ("--prune", prune is not None)) if on]
        if len(chosen) != 1:
            raise ConfigError(
                f"choose exactly one of --int8, --fp16, --prune (got {', '.join(chosen) or 'none'})"
            )
        out = Console()
        err = Console(stderr=True)
        if fp16:
            from edgesight.optimize.quantize import convert_fp16

            dst = output or _default_output(model, "fp16")
            before, after = convert_fp16(model, dst)
            res: dict[str, Any] = {"output": str(dst), "size_before": before, "size_after": after}
            _finish(out, as_json, res, f"fp16 model: {dst} ({before / 1e6:.1f} MB -> {after / 1e6:.1f} MB)")
            return
        if prune is not None:
            from edgesight.optimize.prune import prune_model

            dst = output or _default_output(model, f"pruned{round(prune * 100)}")
            rep = prune_model(model, dst, prune, prune_mode)
            if as_json:
                print(json.dumps(rep.as_dict(), indent=2))
            else:
                _print_prune(out, rep)
            return
        _int8(
            model,
            calib,
            calib_count,
            calib_range,
            method,
            per_channel,
            keep_head,
            reduce_range,
            max_drop,
            val,
            val_range,
            val_count,
            output,
            as_json,
            out,
            err,
        )


def _finish(out: Console, as_json: bool, data: dict[str, Any], line: str) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        out.print(line, highlight=False)


def _int8(
    model: Path,
    calib: Path | None,
    calib_count: int,
    calib_range: str,
    method: str,
    per_channel: bool,
    keep_head: bool,
    reduce_range: bool | None,
    max_drop: float | None,
    val: Path | None,
    val_range: str,
    val_count: int,
    output: Path | None,
    as_json: bool,
    out: Console,
    err: Console,
) -> None:
    from edgesight.evaluation.frames import parse_range, sample_frames
    from edgesight.evaluation.held_out import calibration_record
    from edgesight.optimize.model_file import load_onnx
    from edgesight.optimize.quantize import (
        CalibrationMethodName,
        QuantizeSettings,
        calibration_tensors,
        cpu_needs_reduce_range,
        quantize_int8,
    )

    if calib is None:
        raise ConfigError("--int8 needs calibration frames: --calib VIDEO_OR_IMAGE_FOLDER")
    if method not in ("minmax", "entropy", "percentile"):
        raise ConfigError(f"--method: expected minmax, entropy or percentile, got {method!r}")
    load_onnx(model)  # fail early on a bad model, before decoding frames
    crange = parse_range(calib_range, "--calib-range")
    dst = output or _default_output(model, "int8")
    rr = cpu_needs_reduce_range() if reduce_range is None else reduce_range
    settings = QuantizeSettings(
        method=cast(CalibrationMethodName, method),
        per_channel=per_channel,
        reduce_range=rr,
        keep_head_float=keep_head,
    )
    with err.status("reading calibration frames...") as status:
        frames = sample_frames(calib, calib_count, crange)
        info = calibration_record(calib, frames.indices, crange)
        input_name, tensors = calibration_tensors(model, frames.images)
        if max_drop is None:
            status.update(f"calibrating on {len(tensors)} frames ({method}) and quantizing...")
            report = quantize_int8(model, dst, input_name, tensors, settings, calibration_info=info)
            control = None
        else:
            control = _controlled(
                model,
                dst,
                input_name,
                tensors,
                frames.indices,
                calib,
                val,
                val_range,
                val_count,
                max_drop,
                settings,
                info,
                status,
            )
            report = control.report
    data = report.as_dict()
    data.pop("calibration", None)
    data["calibration"] = {k: v for k, v in info.items() if k != "calibration_indices"} | {
        "frames": len(frames)
    }
    if control is not None:
        data["accuracy_control"] = control.as_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    out.print(
        f"[green]int8 model[/] {dst}: {report.size_before / 1e6:.1f} MB -> {report.size_after / 1e6:.1f} MB, "
        f"{len(frames)} calibration frames ({calib.name} range {calib_range}), method {method}, "
        f"{'per-channel' if per_channel else 'per-tensor'} {'7-bit (reduce-range)' if rr else '8-bit'} weights, "
        f"{report.seconds:.0f} s",
        highlight=False,
    )
    tail = [f for f in report.float_nodes if f.reason.startswith("decode tail")]
    if tail:
        table = Table(title=f"decode tail kept in float ({len(tail)} nodes, found by graph structure)")
        for c in ("node", "op", "why"):
            table.add_column(c)
        for f in tail:
            table.add_row(f.name, f.op_type, f.reason.removeprefix("decode tail: "))
        out.print(table)
    if control is not None:
        verdict = "[green]within[/]" if control.met else "[red]NOT within[/]"
        out.print(
            f"accuracy control: fidelity (mAP50 vs float on {val_count} held-apart frames) int8 "
            f"{control.initial_score:.4f} -> {control.final_score:.4f}; drop "
            f"{control.reference_score - control.final_score:.4f} {verdict} --max-drop {control.max_drop}",
            highlight=False,
        )
        for s in control.steps:
            names = ", ".join(s.tensors[:3]) + (
                f" (+{len(s.tensors) - 3} more)" if len(s.tensors) > 3 else ""
            )
            out.print(
                f"  step: {names} -> {s.score:.4f}{' [float]' if s.kept else ' [int8]'}", highlight=False
            )
        kept = Table(title=f"returned to float by accuracy control ({len(control.kept_float)} nodes)")
        for c in ("node", "op", "why"):
            kept.add_column(c)
        for f in control.kept_float:
            kept.add_row(f.name, f.op_type, f.reason)
        out.print(kept)
    out.print(
        "next: edgesight bench "
        + f"{model} {dst} --frames {calib} (evaluation frames exclude calibration frames)",
        highlight=False,
    )


def _controlled(
    model: Path,
    dst: Path,
    input_name: str,
    tensors: list,
    calib_indices: list[int],
    calib: Path,
    val: Path | None,
    val_range: str,
    val_count: int,
    max_drop: float,
    settings: Any,
    info: dict[str, Any],
    status: Any,
) -> Any:
    from edgesight.evaluation.fidelity import fidelity
    from edgesight.evaluation.frames import parse_range, sample_frames
    from edgesight.evaluation.predict import open_detector, predict
    from edgesight.optimize.accuracy_control import accuracy_controlled_int8
    from edgesight.optimize.quantize import calibration_tensors

    def say(message: str) -> None:
        status.update(message)
        status.console.print(f"[dim]{message}[/]", highlight=False)

    source = val or calib
    exclude = set(calib_indices) if source.resolve() == calib.resolve() else set()
    vframes = sample_frames(source, val_count, parse_range(val_range, "--val-range"), exclude)
    status.update(f"reference detections on {len(vframes)} validation frames...")
    ref_det = open_detector(model)
    reference = predict(ref_det, vframes.images)
    sizes = [(int(i.shape[0]), int(i.shape[1])) for i in vframes.images]
    names = dict(ref_det.names)
    _, val_tensors = calibration_tensors(model, vframes.images[:4])

    def score(path: Path) -> float:
        return fidelity(predict(open_detector(path), vframes.images), reference, sizes, names).map50

    return accuracy_controlled_int8(
        model,
        dst,
        input_name,
        tensors,
        val_tensors,
        score,
        1.0,
        max_drop,
        settings,
        calibration_info=info,
        progress=say,
    )


def _print_prune(out: Console, rep: Any) -> None:
    out.print(
        f"[green]pruned model[/] {rep.output}: {rep.mode}, target sparsity {rep.target:.0%}, "
        f"conv weights now {rep.sparsity:.1%} zero; file {rep.size_before / 1e6:.2f} MB -> {rep.size_after / 1e6:.2f} MB, "
        f"zip-compressed {rep.zip_before / 1e6:.2f} MB -> {rep.zip_after / 1e6:.2f} MB",
        highlight=False,
    )
    out.print(
        "[yellow]note[/] dense CPU kernels (ONNX Runtime, OpenVINO) multiply zeros like any other weight: expect "
        "no latency gain; the gain is the compressed download size (and channel pruning only pays once the "
        "channels are physically removed and the model re-exported, ideally after fine-tuning)",
        highlight=False,
    )

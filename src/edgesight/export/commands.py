"""`edgesight export MODEL --to openvino|onnx|tflite`: convert, then verify against the source."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        model: Path = typer.Argument(..., help="Source ONNX model."),
        to: str = typer.Option(
            ..., "--to", help="Target format: openvino, onnx (cleaned/simplified) or tflite."
        ),
        output: Path | None = typer.Option(
            None, "-o", "--output", help="Output file (default: beside the source)."
        ),
        frames: Path | None = typer.Option(
            None, "--frames", help="Video or image folder to verify on (recommended)."
        ),
        count: int = typer.Option(8, "--count", min=1, help="Frames to verify on."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
    ) -> None:
        """Convert MODEL (OpenVINO IR, simplified ONNX, TFLite) and verify it against the source.

        Verification runs the same inputs through both: max |diff| of the raw outputs, and detection
        agreement (mAP50/F1 of the export against the source's detections).

        Without --frames, verification uses a few random images (raw outputs only mean something then).
        """
        import numpy as np

        from edgesight.evaluation.frames import sample_frames
        from edgesight.export.convert import export_model
        from edgesight.export.verify import verify_export

        err = Console(stderr=True)
        with err.status(f"exporting to {to}..."):
            out = export_model(model, to, output)
        if frames is not None:
            images = sample_frames(frames, count).images
            where = f"{len(images)} frames of {frames.name}"
        else:
            rng = np.random.default_rng(0)
            images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
            where = "2 random images (pass --frames for a detection check on real frames)"
        with err.status("verifying the export against the source..."):
            v = verify_export(model, out, images)
        if as_json:
            print(json.dumps({"output": str(out), "format": to, "verification": v.as_dict()}, indent=2))
            return
        c = Console()
        c.print(f"[green]exported[/] {out}", highlight=False)
        diffs = ", ".join(f"{n} {d:.3g}" for n, d in zip(v.output_names, v.max_abs_diff, strict=True))
        a = v.fidelity.agreement
        verdict = "[green]match[/]" if v.passed else "[red]MISMATCH[/]"
        c.print(
            f"verified on {where}: max |diff| {diffs}; detections {verdict}: mAP50 {v.fidelity.map50:.4f} vs source, "
            f"{a.matched}/{a.reference} source boxes matched (F1 {a.f1:.3f}, mean IoU {a.mean_iou:.3f})",
            highlight=False,
        )

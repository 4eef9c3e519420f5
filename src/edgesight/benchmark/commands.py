"""`edgesight bench MODEL [MODEL...]`: one side-by-side table (format, backend, precision, size,
fidelity, latency, fps)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]


def _plot(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.info.path.name}\n{r.backend}" for r in rows]
    p50 = [r.p(50) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
    bars = ax.bar(range(len(rows)), p50, color=["#888" if r.is_reference else "#3a7" for r in rows])
    for b, r in zip(bars, rows, strict=True):
        fid = r.fidelity.map50 if r.fidelity else float("nan")
        ax.annotate(
            f"mAP50 {fid:.3f}",
            (b.get_x() + b.get_width() / 2, b.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(rows)), labels, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel("inference p50 (ms)")
    ax.set_title("edgesight bench: latency (bars) and fidelity vs reference (labels)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        models: list[Path] = typer.Argument(
            ..., help="Model files (.onnx, OpenVINO .xml, .tflite). The first is the reference."
        ),
        frames: Path = typer.Option(..., "--frames", help="Video file or image folder to run on."),
        backends: str = typer.Option(
            "onnxruntime", "--backends", help="Comma-separated: onnxruntime,openvino,litert."
        ),
        frames_range: str = typer.Option(
            "0.5:1", "--frames-range", help="START:END fraction of the source to sample."
        ),
        count: int = typer.Option(
            32, "--count", min=1, help="Frames to sample for fidelity (and cycle for timing)."
        ),
        iterations: int = typer.Option(30, "--iterations", min=1, help="Timed runs per row (interleaved)."),
        warmup: int = typer.Option(5, "--warmup", min=0, help="Untimed runs per row first."),
        threads: int = typer.Option(0, "--threads", min=0, help="Inference threads (0 = runtime default)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        plot: Path | None = typer.Option(None, "--plot", help="Also save a bar chart (PNG) here."),
    ) -> None:
        """Benchmark models side by side: latency, fps, size, and fidelity vs the first model.

        Fidelity = mAP50 of each model against the reference's detections (conf >= 0.25) on frames
        sampled from --frames-range, excluding any frame a model was calibrated on.
        """
        from edgesight.benchmark.runner import BenchSettings, run_benchmark
        from edgesight.evaluation.frames import parse_range, sample_frames
        from edgesight.evaluation.held_out import calibration_frames_of

        err = Console(stderr=True)
        exclude: set[int] = set()
        for m in models:
            exclude |= calibration_frames_of(m, frames)
        sampled = sample_frames(frames, count, parse_range(frames_range, "--frames-range"), exclude)
        if exclude:
            err.print(
                f"excluded {len(exclude)} calibration frame(s) of {frames.name} from evaluation",
                highlight=False,
            )
        settings = BenchSettings(warmup=warmup, iterations=iterations, threads=threads)
        names = [b.strip() for b in backends.split(",") if b.strip()]
        with err.status("benchmarking...") as status:
            rows = run_benchmark(models, names, sampled.images, settings, lambda m: status.update(m))
        ref = rows[0]
        if plot is not None:
            _plot(rows, plot)
        if as_json:
            print(
                json.dumps(
                    {
                        "frames": {"source": str(frames), "indices": sampled.indices, "range": frames_range},
                        "threads": threads,
                        "rows": [r.as_dict() | {"speedup_vs_reference": ref.p(50) / r.p(50)} for r in rows],
                    },
                    indent=2,
                )
            )
            return
        table = Table(
            title=f"edgesight bench: {len(sampled)} frames of {frames.name} (range {frames_range}), {iterations} runs"
        )
        for col in (
            "model",
            "format",
            "backend",
            "precision",
            "size MB",
            "mAP50 vs ref",
            "mAP50-95",
            "ms p50",
            "ms p90",
            "fps",
            "x ref",
        ):
            table.add_column(
                col, justify="right" if col not in ("model", "format", "backend", "precision") else "left"
            )
        for r in rows:
            f = r.fidelity
            table.add_row(
                r.info.path.name + (" (ref)" if r.is_reference else ""),
                r.info.format,
                r.backend,
                r.info.precision,
                f"{r.info.size_mb:.1f}",
                f"{f.map50:.3f}" if f else "-",
                f"{f.map50_95:.3f}" if f else "-",
                f"{r.p(50):.1f}",
                f"{r.p(90):.1f}",
                f"{r.fps:.1f}",
                f"{ref.p(50) / r.p(50):.2f}x",
            )
        out = Console() if sys.stdout.isatty() else Console(width=170)  # files/pipes: do not wrap rows
        out.print(table)
        noted: set[str] = set()
        for r in rows:
            if r.info.note and r.info.path.name not in noted:
                noted.add(r.info.path.name)
                out.print(f"[dim]note[/] {r.info.path.name}: {r.info.note}", highlight=False)
        out.print(
            "[dim]ms = inference only (backend.run); fps = end to end (preprocess + inference + decode/NMS); "
            "x ref = reference p50 / row p50, measured interleaved in this run.[/]",
            highlight=False,
        )

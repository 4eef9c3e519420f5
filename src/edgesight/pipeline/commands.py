"""`edgesight run`: a pipeline from a YAML file, or quick flags (--source/--model)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from edgesight.config import PipelineConfig, load_config, parse_config
from edgesight.errors import ConfigError

__all__ = ["build_config", "print_summary", "register", "serve_until_interrupted"]


def _source_entry(spec: str, i: int) -> dict[str, Any]:
    """Turn a --source value into a source config: a file, a folder, a URL or a camera index."""
    name = f"cam{i}" if i else "cam0"
    if spec.isdigit() or spec.startswith("/dev/video"):
        return {"type": "usb", "name": name, "device": int(spec) if spec.isdigit() else spec}
    if "://" in spec:
        return {"type": "stream", "name": name, "url": spec}
    p = Path(spec)
    if p.is_dir():
        return {"type": "images", "name": name, "path": str(p)}
    if not p.exists():
        raise ConfigError(
            f"--source {spec}: no such file or folder (expected a video file, image folder, URL or camera index)"
        )
    return {"type": "file", "name": name, "path": str(p)}


def build_config(
    config: Path | None,
    sources: list[str],
    model: Path | None,
    overrides: dict[str, Any],
) -> PipelineConfig:
    """Merge a YAML file (optional) with command-line flags; flags win."""
    if config is not None:
        cfg = load_config(config)
        data = cfg.model_dump(mode="json", exclude_unset=False)
    else:
        data = {}
    if sources:
        data["sources"] = [_source_entry(s, i) for i, s in enumerate(sources)]
    if model is not None:
        data.setdefault("model", {})
        data["model"] = {**data.get("model", {}), "path": str(model)}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    if "sources" not in data:
        raise ConfigError(
            "no source: give a pipeline YAML or --source (video file, image folder, URL, camera index)"
        )
    if "model" not in data or "path" not in data["model"]:
        raise ConfigError(
            "no model: give a pipeline YAML with model.path or --model (.onnx, .tflite, OpenVINO .xml)"
        )
    if not data.get("rules"):
        # No rules given: record one event per tracked object, so a quick run still stores what it saw.
        data["rules"] = [{"type": "object", "name": "objects"}]
    return parse_config(data, str(config) if config else "command line")


def print_summary(summary: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]{summary['frames']}[/] frames in {summary['elapsed_s']:.1f} s = [bold]{summary['fps']:.1f} fps[/]; "
        f"detector ran on {summary['detector_runs']}, motion gate skipped {summary['motion_skipped']}"
        + (f", mean batch {summary['mean_batch']}" if summary.get("mean_batch", 0) > 1 else ""),
        highlight=False,
    )
    st = Table(title="latency per stage", title_justify="left")
    for col in ("stage", "calls", "p50 ms", "p95 ms", "total s"):
        st.add_column(col, justify="left" if col == "stage" else "right")
    for name, s in summary["stages"].items():
        st.add_row(name, str(s["count"]), f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['total_s']:.2f}")
    console.print(st)
    src = Table(title="sources", title_justify="left")
    for col in ("source", "frames", "detector", "skipped (motion)", "dropped", "corrupt", "state"):
        src.add_column(col, justify="left" if col in ("source", "state") else "right")
    for name, s in summary["sources"].items():
        src.add_row(
            name,
            str(s.get("frames", 0)),
            str(s.get("detector_runs", 0)),
            str(s.get("motion_skipped", 0)),
            str(s.get("dropped", 0)),
            str(s.get("corrupt", s.get("skipped", 0))),
            str(s.get("error") or s.get("state", "")),
        )
    console.print(src)
    ev = Table(title="events", title_justify="left")
    ev.add_column("kind")
    ev.add_column("count", justify="right")
    for kind, n in summary["events"].items():
        ev.add_row(kind, str(n))
    if not summary["events"]:
        ev.add_row("(none)", "0")
    console.print(ev)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path | None = typer.Argument(None, help="Pipeline YAML (see `edgesight config schema`)."),
        source: list[str] = typer.Option(
            [],
            "--source",
            "-s",
            help="Video file, image folder, rtsp:// URL or camera index; repeat for several.",
        ),
        model: Path | None = typer.Option(
            None, "--model", "-m", help="Model file: .onnx (YOLO), .tflite (SSD), OpenVINO .xml."
        ),
        backend: str | None = typer.Option(
            None, "--backend", help="onnxruntime | openvino | litert (default: from the file)."
        ),
        conf: float | None = typer.Option(None, "--conf", help="Min detection confidence."),
        classes: str | None = typer.Option(
            None, "--classes", help="Comma-separated class names to keep, e.g. person,car."
        ),
        video: Path | None = typer.Option(None, "--video", help="Write an annotated video (.mp4 or .avi)."),
        events_jsonl: str | None = typer.Option(
            None, "--events-jsonl", help="Stream events as JSON lines: '-' (stdout) or a file."
        ),
        store: Path | None = typer.Option(
            None, "--store", help="Event store folder (default from config: edgesight-data)."
        ),
        uplink: str | None = typer.Option(
            None,
            "--uplink",
            help="Send events to an MQTT broker, e.g. mqtt://127.0.0.1:1883 (queued offline).",
        ),
        metrics_port: int | None = typer.Option(
            None, "--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT while running."
        ),
        motion: str | None = typer.Option(
            None, "--motion", help="Motion gate: on | off | auto (auto = live sources only)."
        ),
        max_frames: int | None = typer.Option(None, "--max-frames", help="Stop each source after N frames."),
        serve: int | None = typer.Option(
            None, "--serve", help="Show the annotated stream and events live on http://127.0.0.1:PORT."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bar)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a live progress bar."),
    ) -> None:
        """Run a pipeline: detect, track, apply rules, store events with snapshots, print a summary."""
        from edgesight.pipeline.runner import Runner

        motion_val: Any = None
        if motion is not None:
            if motion not in ("on", "off", "auto"):
                raise ConfigError(f"--motion expects on, off or auto, got {motion!r}")
            motion_val = {"on": True, "off": False, "auto": "auto"}[motion]
        overrides: dict[str, Any] = {
            "model.confidence": conf,
            "model.classes": [c.strip() for c in classes.split(",") if c.strip()] if classes else None,
            "model.backend": {"type": backend} if backend else None,
            "outputs.video": str(video) if video else None,
            "outputs.events_jsonl": events_jsonl,
            "outputs.metrics_port": metrics_port,
            "uplink.url": uplink,
            "store.path": str(store) if store else None,
            "motion.enabled": motion_val,
        }
        cfg = build_config(config, source, model, overrides)
        console = Console(stderr=events_jsonl == "-" or as_json)
        view = None
        if serve is not None:
            from edgesight.web import LiveView

            view = LiveView(port=serve, store_root=cfg.store.path, title=f"edgesight {cfg.device_id}")
            view.start()
            console.print(f"live view: [bold]{view.url}[/]", highlight=False)
        try:
            result = _run_with_progress(cfg, Runner, max_frames, console, progress and not as_json, view)
            if as_json:
                print(json.dumps(result.summary, indent=2))
            else:
                print_summary(result.summary, console)
                console.print(
                    f"events stored in [bold]{cfg.store.path}[/]: `edgesight events list --store {cfg.store.path}`",
                    highlight=False,
                )
                if cfg.outputs.video:
                    console.print(f"annotated video: [bold]{cfg.outputs.video}[/]", highlight=False)
            if view is not None:
                view.publish_stats(result.summary)
                if not as_json:
                    serve_until_interrupted(view, console)
        finally:
            if view is not None:
                view.stop()


def serve_until_interrupted(view: Any, console: Console) -> None:
    import time

    console.print(f"run finished; still serving {view.url} (Ctrl-C to stop)", highlight=False)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass


def _run_with_progress(
    cfg: PipelineConfig,
    runner_cls: Any,
    max_frames: int | None,
    console: Console,
    show: bool,
    view: Any = None,
) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = _expected_frames(cfg, max_frames)
    events = {"n": 0}
    bar = Progress(
        TextColumn("[bold]edgesight run"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]} fps"),
        TextColumn("{task.fields[events]} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    task = bar.add_task("run", total=total, fps="-", events=0)
    runner: Any = None

    def on_frame(frame: Any, dets: Any, evs: list[Any]) -> None:
        events["n"] += sum(1 for e in evs if e.seq == 0)
        m = runner.metrics
        bar.update(
            task, advance=1, fps=f"{sum(m.frames.values()) / max(m.elapsed_s, 1e-6):.1f}", events=events["n"]
        )

    runner = runner_cls(cfg, max_frames=max_frames, on_frame=on_frame, keep_events=False)
    if view is not None:
        from edgesight.web import attach

        attach(runner, view)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    try:
        with bar:
            return runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _expected_frames(cfg: PipelineConfig, max_frames: int | None) -> int | None:
    import cv2

    from edgesight.config import FileSourceConfig, ImagesSourceConfig

    total = 0
    for s in cfg.sources:
        if isinstance(s, FileSourceConfig) and not s.loop:
            cap = cv2.VideoCapture(str(s.path))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            cap.release()
        elif isinstance(s, ImagesSourceConfig) and s.path.is_dir():
            n = sum(1 for p in s.path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
        else:
            return None
        if n <= 0:
            return None
        total += min(n, max_frames) if max_frames else n
    return total or None

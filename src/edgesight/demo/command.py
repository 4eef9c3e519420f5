"""`edgesight demo`: the whole job on the embedded default, with nothing to download.

Generates (or reuses) the synthetic site, runs the bundled pipeline with the bundled model, prints
the run summary and the events compared with the scene's ground truth, and says what to run next.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        seed: int = typer.Option(0, "--seed", help="Scene seed: same seed, same frames and ground truth."),
        duration: float | None = typer.Option(
            None, "--duration", help="Scene length in seconds (default 180)."
        ),
        out: Path = typer.Option(
            Path("edgesight-demo"), "--out", help="Folder for the event store and annotated video."
        ),
        serve: int | None = typer.Option(
            None, "--serve", help="Also show the live annotated stream and events on http://127.0.0.1:PORT."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print scores and summary as JSON."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Run edgesight on a generated industrial site (PPE, restricted zone, near-miss, defects, counting)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from edgesight.demo.run import run_demo
        from edgesight.demo.scene import DEFAULT_DURATION, FPS

        dur = DEFAULT_DURATION if duration is None else duration
        console = Console(stderr=as_json)
        total = round(dur * FPS)
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not progress or as_json,
        )
        scene_task = bar.add_task("generating the site  ", total=total, info="", visible=False)
        run_task = bar.add_task("running the pipeline", total=total, info="")
        state = {"t0": 0.0, "n": 0, "events": 0}
        view: Any = None

        def on_scene(done: int, n: int) -> None:
            bar.update(scene_task, completed=done, total=n, visible=True)

        def on_frame(frame: Any, dets: Any, events: list[Any]) -> None:
            if not state["t0"]:
                state["t0"] = time.perf_counter()
            state["n"] += 1
            state["events"] += sum(1 for e in events if e.seq == 0)
            fps = state["n"] / max(time.perf_counter() - state["t0"], 1e-6)
            bar.update(run_task, advance=1, info=f"{fps:5.1f} fps  {state['events']} events")
            if view is not None:
                view.on_frame(frame, dets, events)

        if serve is not None:
            view = _live_view(serve, out, console)
        try:
            with bar:
                result = run_demo(seed, dur, out, on_scene_progress=on_scene, on_frame=on_frame)
            _report(result, seed, dur, console, as_json)
            if view is not None:
                view.view.publish_stats(result.summary)
                if not as_json:
                    from edgesight.pipeline.commands import serve_until_interrupted

                    serve_until_interrupted(view.view, console)
        finally:
            if view is not None:
                view.close()


def _report(result: Any, seed: int, dur: float, console: Console, as_json: bool) -> None:
    from edgesight.pipeline.commands import print_summary

    scores = {k: s.to_dict() for k, s in result.scores.items()}
    if as_json:
        print(
            json.dumps(
                {
                    "scores": scores,
                    "summary": result.summary,
                    "store": str(result.store),
                    "annotated": str(result.annotated) if result.annotated else None,
                },
                indent=2,
            )
        )
        return
    print_summary(result.summary, console)
    t = Table(title=f"events vs ground truth (seed {seed}, {dur:g} s)", title_justify="left")
    for col in ("kind", "ground truth", "detected", "matched", "precision", "recall"):
        t.add_column(col, justify="left" if col == "kind" else "right")
    for s in scores.values():
        ok = min(s["precision"], s["recall"]) >= 0.9
        style = "green" if ok else "yellow"
        t.add_row(
            s["kind"],
            str(s["ground_truth"]),
            str(s["predicted"]),
            str(s["matched"]),
            f"[{style}]{s['precision']:.2f}[/]",
            f"[{style}]{s['recall']:.2f}[/]",
        )
    console.print(t)
    store = result.store
    console.print("\n[bold]next[/]")
    steps = [
        ("what was stored, with snapshots", f"edgesight events list --store {store}"),
        ("one event and its snapshot", f"edgesight events show <ID> --store {store}"),
    ]
    if result.annotated:
        steps.append(("the annotated video", str(result.annotated)))
    steps += [
        ("watch it live in a browser", "edgesight demo --serve 8080"),
        ("your own model and camera", "edgesight run --source VIDEO_OR_RTSP_URL --model yolov8n.onnx"),
    ]
    for what, cmd in steps:
        console.print(f"  [dim]# {what}[/]\n  {cmd}", highlight=False, soft_wrap=True)


class _DemoView:
    """Feeds the live web view from the demo's per-frame callback (the demo builds its own Runner)."""

    def __init__(self, port: int, out: Path, console: Console) -> None:
        from edgesight.config import load_config
        from edgesight.demo import asset_path
        from edgesight.web import LiveView, LiveViewSink

        self.view = LiveView(port=port, store_root=out / "store", title="edgesight demo")
        self.view.start()
        self.sink = LiveViewSink(self.view, load_config(asset_path("pipeline.yaml")))
        console.print(f"live view: [bold]{self.view.url}[/]", highlight=False)

    def on_frame(self, frame: Any, dets: Any, events: list[Any]) -> None:
        for ev in events:
            self.sink.write(ev, frame)
        self.sink.frame(frame.source_id, frame, dets)

    def close(self) -> None:
        self.sink.close()
        self.view.stop()


def _live_view(port: int, out: Path, console: Console) -> _DemoView:
    return _DemoView(port, out, console)

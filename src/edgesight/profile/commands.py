"""`edgesight profile` and `edgesight recommend`: fit a model to silicon from the model file alone."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from edgesight.errors import ConfigError

__all__ = ["register"]


def _targets(ids: list[str] | None):  # type: ignore[no-untyped-def]
    from edgesight.profile.catalog import load_catalog

    catalog = load_catalog()
    if not ids:
        return catalog, catalog
    by_id = {t.id: t for t in catalog}
    wanted = []
    for raw in ids:
        for tid in raw.split(","):
            tid = tid.strip()
            if tid not in by_id:
                raise ConfigError(f"unknown target '{tid}': expected one of {', '.join(by_id)}")
            wanted.append(by_id[tid])
    return tuple(wanted), catalog


def _calibrate_if_needed(targets, calibrate: bool, console: Console, quiet: bool):  # type: ignore[no-untyped-def]
    from edgesight.profile.latency import calibrate_this_machine, calibrated_target

    if not calibrate or not any(t.measured for t in targets):
        return tuple(t for t in targets if not t.measured), None
    if not quiet:
        console.print("[dim]calibrating this machine (ONNX Runtime micro-benchmarks, ~2 s)...[/]")
    cal = calibrate_this_machine()
    return tuple(calibrated_target(t, cal) if t.measured else t for t in targets), cal


def profile_cmd(
    model: Path = typer.Argument(..., help="Model file: .tflite (incl. TFLite Micro int8) or .onnx."),
    target: list[str] | None = typer.Option(
        None,
        "--target",
        "-t",
        help="Target id(s) from the catalog, repeatable or comma-separated (default: all).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    html_path: Path | None = typer.Option(
        None, "--html", help="Write an HTML report (memory timeline, per-layer table)."
    ),
    layers: int = typer.Option(0, "--layers", help="Also show the N heaviest layers."),
    validate: bool = typer.Option(
        False,
        "--validate",
        help="TFLite: run the tflite-micro interpreter and compare its real arena with the prediction.",
    ),
    calibrate: bool = typer.Option(
        True, "--calibrate/--no-calibrate", help="Measure this machine for the 'this-machine' target (~2 s)."
    ),
) -> None:
    """Profile MODEL: size, compute, TFLM memory plan, and fit/latency per hardware target.

    Latency, fps and energy for targets are ESTIMATES (roofline from sourced catalog figures);
    'this-machine' is calibrated by micro-benchmarks.
    """
    from edgesight.profile.fit import profile_model
    from edgesight.profile.graph import load_graph
    from edgesight.profile.report import print_profile, profile_to_dict, write_html

    console = Console()
    graph = load_graph(model)
    targets, catalog = _targets(target)
    targets, cal = _calibrate_if_needed(targets, calibrate, console, as_json)
    prof = profile_model(graph, targets, catalog, cal)
    measured = None
    if validate and graph.format == "tflite":
        from edgesight.profile.tflm_validate import measure_tflm_arena

        measured = measure_tflm_arena(model.read_bytes())
    if html_path is not None:
        write_html(prof, str(html_path))
    if as_json:
        d = profile_to_dict(prof, per_layer=True)
        if measured is not None and prof.arena is not None:
            d["tflm_measured"] = {
                "total_bytes": measured.total_bytes,
                "head_bytes": measured.head_bytes,
                "tail_bytes": measured.tail_bytes,
                "head_exact": measured.head_bytes == prof.arena.head_bytes,
                "total_error": prof.arena.total_bytes / measured.total_bytes - 1,
            }
        print(json.dumps(d, indent=2, default=float))
        return
    print_profile(prof, console, layers=layers)
    if measured is not None and prof.arena is not None:
        err = prof.arena.total_bytes / measured.total_bytes - 1
        same = "[green]exact[/]" if measured.head_bytes == prof.arena.head_bytes else "[red]differs[/]"
        console.print(
            f"tflite-micro interpreter: arena {measured.total_bytes:,} B (head {measured.head_bytes:,} B: {same}); "
            f"prediction {prof.arena.total_bytes:,} B ({err:+.1%})"
        )
    if html_path is not None:
        console.print(f"HTML report written to {html_path}")


def recommend_cmd(
    model: Path = typer.Argument(..., help="Model file (.tflite or .onnx)."),
    fps: float = typer.Option(..., "--fps", help="Required frames per second (one inference per frame)."),
    max_watts: float | None = typer.Option(None, "--max-watts", help="Power budget in watts (board + host)."),
    max_price: float | None = typer.Option(None, "--max-price", help="Budget in USD (board + host)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    calibrate: bool = typer.Option(
        False, "--calibrate/--no-calibrate", help="Include 'this machine', measured (~2 s)."
    ),
) -> None:
    """Rank the catalog's targets that run MODEL at --fps within power/price limits, and explain why.

    Figures are ESTIMATES from sourced catalog data; when nothing qualifies, says what to change.
    """
    from edgesight.profile.fit import profile_model, recommend
    from edgesight.profile.graph import load_graph
    from edgesight.profile.report import print_recommendation, recommendation_to_dict

    if fps <= 0:
        raise ConfigError(f"--fps must be > 0, got {fps}")
    console = Console()
    graph = load_graph(model)
    targets, catalog = _targets(None)
    targets, cal = _calibrate_if_needed(targets, calibrate, console, as_json)
    prof = profile_model(graph, targets, catalog, cal)
    rec = recommend(prof, fps, max_watts, max_price)
    if as_json:
        print(json.dumps(recommendation_to_dict(rec, fps, max_watts, max_price), indent=2, default=float))
        return
    console.print(
        f"[bold]{graph.path.name}[/]: {prof.cost.macs / 1e6:,.1f} M MACs, {prof.cost.params:,} parameters, {graph.precision}"
    )
    print_recommendation(rec, fps, console)


def register(app: typer.Typer) -> None:
    """Add `profile` and `recommend` to the edgesight CLI."""
    app.command("profile")(profile_cmd)
    app.command("recommend")(recommend_cmd)

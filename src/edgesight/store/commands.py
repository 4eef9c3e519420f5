"""`edgesight events list|show|export|stats`: read the local event store (safe while a pipeline writes)."""

from __future__ import annotations

import csv
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from edgesight.errors import EdgesightError
from edgesight.store.event_store import EventRecord, EventStore

__all__ = ["parse_since", "register"]

_DEFAULT_STORE = Path("edgesight-data")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CSV_FIELDS = [
    "id",
    "seq",
    "state",
    "kind",
    "device_id",
    "source_id",
    "rule",
    "zone",
    "started_at",
    "updated_at",
    "start_pts",
    "end_pts",
    "track_id",
    "class_name",
    "confidence",
    "box",
    "snapshot",
    "snapshot_pruned",
    "attributes",
]


class UsageError(EdgesightError):
    """A command-line value is malformed."""


def parse_since(text: str, now: float) -> float:
    """UNIX time from ``30m``/``2h``/``7d`` (ago), an ISO date/time (UTC unless it has an offset), or a number."""
    s = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", s)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: expected a duration like 30m, 2h, 7d, an ISO time like 2026-01-31T08:00, or UNIX seconds; got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _fmt_time(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _store_path(store: Path | None, config: Path | None) -> Path:
    if store is not None:
        return store
    if config is not None:
        from edgesight.config import load_config

        return load_config(config).store.path
    return _DEFAULT_STORE


def _open(store: Path | None, config: Path | None) -> EventStore:
    return EventStore.open(_store_path(store, config))


def _snap_cell(r: EventRecord) -> str:
    if r.snapshot_pruned:
        return "[dim]pruned[/]"
    if r.snapshot_file is None:
        return "-"
    return "yes" if r.snapshot_file.is_file() else "[red]missing[/]"


def stream_time(seconds: float) -> str:
    """Stream time as a video player shows it: ``m:ss.s`` or ``h:mm:ss.s``."""
    tenths = round(max(0.0, seconds) * 10)
    h, rest = divmod(tenths, 36_000)
    m, rest = divmod(rest, 600)
    sec = f"{rest // 10:02d}.{rest % 10}"
    return f"{h}:{m:02d}:{sec}" if h else f"{m}:{sec}"


def _table(records: list[EventRecord], title: str, width: int) -> Table:
    from rich import box

    # Narrow terminal: short times (no date when all are from one UTC day), class and track in one cell, no source column when there is one
    # source, no state column when every event has ended, and the last 8 characters of ids (ULIDs made
    # in the same millisecond differ at the END; `show` takes them).
    narrow = width < 130
    one_source = narrow and len({r.event.source_id for r in records}) <= 1
    all_ended = narrow and all(r.event.state == "end" for r in records)
    days = {datetime.fromtimestamp(r.event.started_at, tz=timezone.utc).date() for r in records}
    time_format = "%Y-%m-%d %H:%M:%S" if not narrow else "%H:%M:%S" if len(days) <= 1 else "%m-%d %H:%M"
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    columns = [
        ("time (UTC)", False),
        ("at", True),  # stream time: where to seek in a recording
        ("kind", False),
        ("state", False),
        ("source", False),
        ("rule", False),
        ("object", False),
        ("track", True),
        ("class", False),
        ("conf", True),
        ("snap", False),
        ("id", False),
    ]
    skip = {"object"} if not narrow else {"track", "class"}
    if one_source:
        skip.add("source")
    if all_ended:
        skip.add("state")
    for col, right in columns:
        if col not in skip:
            table.add_column(
                col,
                no_wrap=col in ("time (UTC)", "at", "kind", "object", "id"),
                justify="right" if right else "left",
            )
    for r in records:
        e = r.event
        rule = e.rule if not e.zone or e.zone == e.rule else f"{e.rule}/{e.zone}"
        when = datetime.fromtimestamp(e.started_at, tz=timezone.utc).strftime(time_format)
        track = "" if e.track_id is None else str(e.track_id)
        cells = {
            "time (UTC)": when,
            "at": stream_time(e.start_pts),
            "kind": e.kind,
            "state": e.state,
            "source": e.source_id,
            "rule": rule,
            "object": " #".join(x for x in (e.class_name or "", track) if x),
            "track": track,
            "class": e.class_name or "",
            "conf": "" if e.confidence is None else f"{e.confidence:.2f}",
            "snap": _snap_cell(r),
            "id": f"[dim]{'…' + e.id[-8:] if narrow else e.id}[/]",
        }
        table.add_row(*(cells[c] for c, _ in columns if c not in skip))
    return table


def _csv_row(r: EventRecord) -> dict[str, Any]:
    d = r.to_dict()
    row = {k: d.get(k) for k in _CSV_FIELDS}
    row["box"] = "" if d["box"] is None else " ".join(f"{v:.1f}" for v in d["box"])
    row["attributes"] = json.dumps(d["attributes"], sort_keys=True)
    return row


def register(app: typer.Typer) -> None:
    events_app = typer.Typer(
        help="Browse and export the events a pipeline recorded in its local store.", no_args_is_help=True
    )
    store_opt = typer.Option(None, "--store", "-s", help=f"Store folder (default: ./{_DEFAULT_STORE}).")
    config_opt = typer.Option(None, "--config", "-c", help="Take the store folder from this pipeline YAML.")

    @events_app.command("list")
    def list_events(
        store: Path | None = store_opt,
        config: Path | None = config_opt,
        kind: str | None = typer.Option(
            None, "--kind", "-k", help="Only this kind (zone_enter, dwell, line_cross...)."
        ),
        source: str | None = typer.Option(None, "--source", help="Only this source id."),
        since: str | None = typer.Option(
            None, "--since", help="Started since: 30m, 2h, 7d, or an ISO time (UTC)."
        ),
        limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    ) -> None:
        """List recorded events, newest first."""
        import time

        with _open(store, config) as st:
            t0 = parse_since(since, time.time()) if since else None
            records = st.list(kind=kind, source=source, since=t0, limit=limit)
            total = st.count(kind=kind, source=source, since=t0)
        if as_json:
            print(json.dumps([r.to_dict() for r in records], indent=2))
            return
        title = f"{len(records)} of {total} event(s) in {st.root}"
        console = Console()
        console.print(_table(records, title, console.width))

    @events_app.command("show")
    def show(
        event_id: str = typer.Argument(
            ..., help="Event id, or a unique start or end of it (as `list` shows)."
        ),
        store: Path | None = store_opt,
        config: Path | None = config_opt,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show every field of one event and where its snapshot is."""
        with _open(store, config) as st:
            rec = st.get(event_id)
            if rec is None:
                full = st.resolve_id(event_id)
                rec = st.get(full) if full else None
        if rec is None:
            raise UsageError(f"no single event whose id is, starts or ends with {event_id!r} in {st.root}")
        d = rec.to_dict()
        if as_json:
            print(json.dumps(d, indent=2))
            return
        table = Table(show_header=False, title=f"event {rec.event.id}", title_justify="left")
        table.add_column("field", style="bold")
        table.add_column("value")
        for k, v in d.items():
            if k in ("started_at", "updated_at") and v is not None:
                v = f"{_fmt_time(v)} UTC ({v:.3f})"
            elif isinstance(v, (dict, list)):
                v = json.dumps(v)
            table.add_row(k, "" if v is None else str(v))
        Console().print(table)

    @events_app.command("export")
    def export(
        store: Path | None = store_opt,
        config: Path | None = config_opt,
        fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default: stdout)."),
        kind: str | None = typer.Option(None, "--kind", "-k", help="Only this kind."),
        source: str | None = typer.Option(None, "--source", help="Only this source id."),
        since: str | None = typer.Option(
            None, "--since", help="Started since: 30m, 2h, 7d, or an ISO time (UTC)."
        ),
    ) -> None:
        """Export events oldest first as JSON lines or CSV."""
        import time

        if fmt not in ("jsonl", "csv"):
            raise UsageError(f"--format: expected jsonl or csv, got {fmt!r}")
        with _open(store, config) as st:
            t0 = parse_since(since, time.time()) if since else None
            records = st.iter(kind=kind, source=source, since=t0, newest_first=False)
            if output is None:
                n = _write(records, fmt, sys.stdout)
            else:
                try:
                    with open(output, "w", encoding="utf-8", newline="") as fh:
                        n = _write(records, fmt, fh)
                except OSError as exc:
                    raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        if output is not None:
            Console(stderr=True).print(f"[green]wrote[/] {n} event(s) to {output}", highlight=False)

    @events_app.command("stats")
    def stats(
        store: Path | None = store_opt,
        config: Path | None = config_opt,
        since: str | None = typer.Option(
            None, "--since", help="Started since: 30m, 2h, 7d, or an ISO time (UTC)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Event counts by kind and the snapshot bytes kept."""
        import time

        with _open(store, config) as st:
            t0 = parse_since(since, time.time()) if since else None
            counts = st.counts_by_kind(since=t0)
            snap = st.snapshot_bytes
        if as_json:
            print(json.dumps({"counts": counts, "snapshot_bytes": snap}))
            return
        table = Table(title=f"events in {st.root}", title_justify="left")
        table.add_column("kind")
        table.add_column("count", justify="right")
        for k, n in counts.items():
            table.add_row(k, str(n))
        table.add_row("[bold]total[/]", f"[bold]{sum(counts.values())}[/]")
        Console().print(table)
        Console().print(f"snapshots kept: {snap / 1e6:.1f} MB", highlight=False)

    app.add_typer(events_app, name="events")


def _write(records: Any, fmt: str, fh: TextIO) -> int:
    n = 0
    if fmt == "jsonl":
        for r in records:
            fh.write(json.dumps(r.to_dict(), separators=(",", ":")) + "\n")
            n += 1
        return n
    writer = csv.DictWriter(fh, fieldnames=_CSV_FIELDS)
    writer.writeheader()
    for r in records:
        writer.writerow(_csv_row(r))
        n += 1
    return n

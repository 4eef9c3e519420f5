"""`edgesight outbox status|drain` and `edgesight broker`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgesight.errors import ConfigError, EdgesightError

__all__ = ["register"]

_STORE_HELP = "Event store folder (holds events.db with the outbox tables)."


def _db(store: Path, db: Path | None) -> Path:
    import sqlite3

    path = db if db is not None else store / "events.db"
    if not path.is_file():
        raise EdgesightError(
            f"no outbox database at {path} (expected the events.db that `edgesight run` writes; pass --store DIR or --db FILE)"
        )
    try:  # read-only look first: a reader must not add tables to someone's database
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise EdgesightError(f"{path}: not a readable SQLite database ({exc})") from None
    if not found:
        raise EdgesightError(f"{path} has no outbox (was the pipeline run with an uplink: section?)")
    return path


def _age(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def register(app: typer.Typer) -> None:
    outbox_app = typer.Typer(
        help="Inspect and drain the durable outbox (offline-first uplink).", no_args_is_help=True
    )

    @outbox_app.command("status")
    def status(
        store: Path = typer.Option(Path("edgesight-data"), "--store", help=_STORE_HELP),
        db: Path | None = typer.Option(None, "--db", help="Outbox database file (overrides --store)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Depth per priority, oldest age, bytes, drops and the uplink's last known state."""
        from edgesight.uplink.outbox import Outbox

        with Outbox(_db(store, db)) as ob:
            s = ob.stats()
        if as_json:
            print(json.dumps(s.as_dict(), indent=2))
            return
        t = Table(title=f"outbox {db or store / 'events.db'}")
        for col in (
            "class (send order)",
            "queued",
            "bytes",
            "oldest",
            "sent",
            "dropped: quota",
            "dropped: ttl",
        ):
            t.add_column(col, justify="left" if col.startswith("class") else "right")
        for cls in s.depth:
            c = s.counters
            t.add_row(
                cls,
                str(s.depth[cls]),
                f"{s.bytes[cls]:,}",
                _age(s.oldest_age_seconds[cls]),
                str(c.get(f"sent:{cls}", 0)),
                str(c.get(f"dropped_quota:{cls}", 0)),
                str(c.get(f"dropped_ttl:{cls}", 0)),
            )
        t.add_row(
            "total",
            str(s.total_depth),
            f"{s.total_bytes:,}",
            "",
            str(s.counter("sent")),
            str(s.counter("dropped_quota")),
            str(s.counter("dropped_ttl")),
            style="bold",
        )
        con = Console()
        con.print(t)
        con.print(
            f"quota: {s.total_bytes:,} / {s.quota_bytes:,} bytes ({100 * s.total_bytes / s.quota_bytes:.1f}%)"
        )
        if s.held:
            con.print(
                f"[yellow]held:[/] {s.held} oversized message(s) kept but not sent (raise uplink.max_message_bytes)"
            )
        if s.uploads:
            up = s.uploads
            con.print(
                f"snapshot uploads: {up['queued']} queued ({up['queued_bytes']:,} bytes), "
                f"{up['sent']} sent ({up['sent_bytes']:,} bytes)",
                highlight=False,
            )
        u = s.uplink
        if "connected" in u:
            state = "[green]connected[/]" if u.get("connected") == "1" else "[red]not connected[/]"
            con.print(f"uplink: {state} to {u.get('broker', '?')}", highlight=False)
            if u.get("last_error"):
                con.print(f"last error: {u['last_error']}", highlight=False)

    @outbox_app.command("drain")
    def drain(
        store: Path = typer.Option(Path("edgesight-data"), "--store", help=_STORE_HELP),
        db: Path | None = typer.Option(None, "--db", help="Outbox database file (overrides --store)."),
        config: Path | None = typer.Option(
            None, "--config", "-c", help="Pipeline YAML whose uplink: section to use."
        ),
        url: str | None = typer.Option(
            None, "--url", help="Broker URL (mqtt://host:port), instead of --config."
        ),
        device_id: str | None = typer.Option(
            None, "--device-id", help="Device id (default: the config's, or 'local')."
        ),
        timeout: float = typer.Option(
            0.0, "--timeout", help="Give up after this many seconds (0 = until empty)."
        ),
        metrics_port: int | None = typer.Option(
            None, "--metrics-port", help="Serve Prometheus metrics here."
        ),
    ) -> None:
        """Send what is queued (without running the pipeline) and exit when the outbox is empty."""
        from edgesight.config import UplinkConfig, load_config
        from edgesight.uplink.service import Uplink

        path = _db(store, db)
        if config is not None:
            pipe = load_config(config)
            if pipe.uplink is None:
                raise ConfigError(f"{config}: has no uplink: section")
            cfg, dev = pipe.uplink, device_id or pipe.device_id
        else:
            from pydantic import ValidationError

            try:
                cfg = UplinkConfig(url=url) if url else UplinkConfig()
            except ValidationError as exc:
                raise ConfigError(f"--url: {exc.errors()[0]['msg']}") from None
            dev = device_id or "local"
        if metrics_port is not None:
            from prometheus_client import CollectorRegistry, start_http_server

            from edgesight.uplink.metrics import OutboxCollector

            registry = CollectorRegistry()
            registry.register(OutboxCollector(path))
            start_http_server(metrics_port, registry=registry)
        con = Console(stderr=True)
        up = Uplink.from_config(cfg, path, dev)
        start_depth = up.stats().total_depth
        up.start()
        t0 = time.monotonic()
        shown = None
        try:
            with con.status(f"draining {start_depth} message(s) to {cfg.url}") as st:
                while True:
                    depth = up.stats().total_depth - up.stats().held
                    if depth <= 0:
                        break
                    if timeout and time.monotonic() - t0 > timeout:
                        raise EdgesightError(
                            f"drain: {depth} message(s) still queued after {timeout:g}s"
                            + (f" ({up.last_error})" if up.last_error else "")
                        )
                    if up.last_error and up.last_error != shown:
                        shown = up.last_error
                        con.print(f"[yellow]{shown}[/]", highlight=False)
                    st.update(f"{depth} message(s) left, sending to {cfg.url}")
                    time.sleep(0.2)
        finally:
            up.stop()
        dt = time.monotonic() - t0
        con.print(f"[green]drained[/] {start_depth} message(s) in {dt:.1f} s", highlight=False)

    app.add_typer(outbox_app, name="outbox")

    @app.command("broker")
    def broker(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
        port: int = typer.Option(1883, "--port", min=1, max=65535, help="TCP port."),
    ) -> None:
        """Run the embedded MQTT broker (amqtt) until Ctrl-C: one machine works without Mosquitto."""
        from edgesight.uplink.broker import run_broker

        Console(stderr=True).print(
            f"embedded MQTT broker on mqtt://{host}:{port} (Ctrl-C to stop)", highlight=False
        )
        run_broker(host, port)

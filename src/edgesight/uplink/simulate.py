"""Load generator for the uplink: synthetic events + telemetry, enqueued like the pipeline does, while the
uplink sends. Used for fault drills (kill -9, broker outages), soak tests and ``bench/outbox.py``.

Each accepted message is recorded in table ``sim_accepted`` IN THE SAME TRANSACTION as its outbox row
(the way the event store and the outbox commit together), so after any crash the set of accepted
messages is exactly what that table says. A restarted run resumes numbering after the last accepted one.

    python -m edgesight.uplink.simulate --db DIR/events.db --url mqtt://127.0.0.1:PORT --total 2000 --rate 300
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from edgesight.config import UplinkConfig
from edgesight.types import Event
from edgesight.uplink.messages import telemetry_message
from edgesight.uplink.service import Uplink

__all__ = ["accepted", "generate", "main"]

_TABLE = """CREATE TABLE IF NOT EXISTS sim_accepted (
    idx INTEGER PRIMARY KEY, message_id TEXT NOT NULL, class TEXT NOT NULL, accepted_at REAL NOT NULL)"""


def accepted(db_path: str | Path) -> list[tuple[int, str, str]]:
    """(index, message_id, class) of every message the simulator has committed, in order."""
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        conn.execute(_TABLE)
        return [
            (int(a), str(b), str(c))
            for a, b, c in conn.execute("SELECT idx, message_id, class FROM sim_accepted ORDER BY idx")
        ]
    finally:
        conn.close()


def generate(
    uplink: Uplink,
    total: int,
    rate: float,
    alert_every: int = 5,
    telemetry_every: int = 3,
    stop: threading.Event | None = None,
) -> int:
    """Enqueue messages until ``total`` are accepted (counting earlier runs); returns how many this call added.

    Index i is an alert when ``i % alert_every == 0``, else telemetry when ``i % telemetry_every == 0``,
    else a routine event. ``rate`` in messages/s (0 = as fast as possible).
    """
    ob = uplink.outbox
    with ob.transaction() as conn:
        conn.execute(_TABLE)
        start = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM sim_accepted").fetchone()[0]
    t0 = time.monotonic()
    added = 0
    for i in range(start, total):
        if stop is not None and stop.is_set():
            break
        if i % alert_every == 0:
            kind, cls = "ppe", "alert"
        elif i % telemetry_every == 0:
            kind, cls = "", "telemetry"
        else:
            kind, cls = "zone_enter", "event"
        with ob.transaction() as conn:
            if cls == "telemetry":
                msg = telemetry_message(uplink.device_id, {"index": i, "fps": 10.0})
                ob.enqueue_in(conn, msg, max_message_bytes=uplink.config.max_message_bytes)
                mid = msg.message_id
            else:
                ev = Event(
                    device_id=uplink.device_id,
                    source_id="sim",
                    kind=kind,
                    rule="sim-alert" if cls == "alert" else "sim-zone",
                    start_pts=float(i),
                    attributes={"index": i},
                )
                uplink.enqueue_event(conn, ev)
                mid = ev.message_id
            conn.execute("INSERT INTO sim_accepted VALUES (?, ?, ?, ?)", (i, mid, cls, time.time()))
        added += 1
        if rate > 0:
            lag = t0 + added / rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
    return added


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="SQLite file (outbox + sim_accepted).")
    ap.add_argument("--url", default="mqtt://127.0.0.1:1883", help="Broker URL.")
    ap.add_argument("--device-id", default="sim")
    ap.add_argument("--total", type=int, default=1000, help="Messages to accept in all (across restarts).")
    ap.add_argument("--rate", type=float, default=200.0, help="Messages per second (0 = flat out).")
    ap.add_argument("--alert-every", type=int, default=5)
    ap.add_argument("--telemetry-every", type=int, default=3)
    ap.add_argument("--max-inflight", type=int, default=64)
    ap.add_argument("--no-generate", action="store_true", help="Only drain what is queued.")
    ap.add_argument(
        "--exit-when-empty", action="store_true", help="Exit once generation is done and the outbox is empty."
    )
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cfg = UplinkConfig(
        url=a.url, max_inflight=a.max_inflight, reconnect_initial_seconds=0.2, reconnect_max_seconds=1.0
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    uplink = Uplink.from_config(cfg, a.db, a.device_id)
    uplink.start()
    try:
        added = (
            0 if a.no_generate else generate(uplink, a.total, a.rate, a.alert_every, a.telemetry_every, stop)
        )
        print(json.dumps({"generated": added}), flush=True)
        while not stop.is_set():
            if a.exit_when_empty and uplink.stats().total_depth == 0:
                break
            stop.wait(0.1)
        print(json.dumps({"left": uplink.stats().total_depth}), flush=True)
    finally:
        uplink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Outbox: priority FIFO, idempotency, TTL, quota drop policy, atomicity with the caller, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgesight.config import OutboxConfig
from edgesight.types import Event
from edgesight.uplink import Outbox, OutboxMessage, event_message, telemetry_message
from edgesight.uplink.messages import UplinkError


def msg(i: int, cls: str = "event", size: int = 100) -> OutboxMessage:
    return OutboxMessage(f"m{i}", cls, "events" if cls != "telemetry" else "telemetry", b"x" * size)  # type: ignore[arg-type]


def totals_match(ob: Outbox) -> bool:
    conn = sqlite3.connect(str(ob.path))
    try:
        real = dict(conn.execute("SELECT priority, SUM(bytes) FROM outbox GROUP BY priority").fetchall())
        kept = {p: b for p, _, b in conn.execute("SELECT * FROM outbox_totals") if b}
        return real == kept
    finally:
        conn.close()


def test_send_order_is_priority_then_fifo(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as ob:
        order = ["telemetry", "event", "alert", "twin", "telemetry", "alert", "event"]
        for i, cls in enumerate(order):
            ob.enqueue(msg(i, cls))
        got = [r.message_id for r in ob.peek(100)]
    assert got == ["m2", "m5", "m1", "m6", "m3", "m0", "m4"]


def test_peek_excludes_in_flight_and_ack_deletes(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as ob:
        ob.enqueue_many(msg(i) for i in range(5))
        first = ob.peek(2)
        nxt = ob.peek(2, exclude=[r.seq for r in first])
        assert [r.message_id for r in nxt] == ["m2", "m3"]
        assert ob.ack([r.seq for r in first]) == 2
        assert ob.ack([r.seq for r in first]) == 0  # a late second PUBACK is harmless
        s = ob.stats()
        assert s.depth["event"] == 3 and s.counters["sent:event"] == 2
        assert totals_match(ob)


def test_same_message_id_is_stored_once(tmp_path: Path) -> None:
    ev = Event(source_id="cam", kind="zone_enter", rule="z", start_pts=1.0)
    with Outbox(tmp_path / "o.db") as ob:
        assert ob.enqueue(event_message(ev)) is True
        assert ob.enqueue(event_message(ev)) is False
        assert ob.enqueue(event_message(ev.model_copy(update={"seq": 1, "state": "end"}))) is True
        assert ob.message_ids() == [f"{ev.id}:0", f"{ev.id}:1"]
        assert ob.stats().counters["duplicate:event"] == 1


def test_enqueue_in_rolls_back_with_the_callers_transaction(tmp_path: Path) -> None:
    """The event-store hook: event row + outbox row commit together or not at all."""
    db = tmp_path / "events.db"
    ob = Outbox(db)
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("CREATE TABLE events (id TEXT PRIMARY KEY)")
    ev = Event(source_id="cam", kind="ppe", rule="helmet", start_pts=0.0)
    with pytest.raises(RuntimeError):
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO events VALUES (?)", (ev.id,))
            ob.enqueue_in(conn, event_message(ev, "alert"))
            raise RuntimeError("disk full while writing the snapshot")
        except RuntimeError:
            conn.execute("ROLLBACK")
            raise
    assert ob.stats().total_depth == 0
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO events VALUES (?)", (ev.id,))
    ob.enqueue_in(conn, event_message(ev, "alert"))
    conn.execute("COMMIT")
    assert ob.stats().depth["alert"] == 1
    conn.close()
    ob.close()


def test_ttl_expiry_is_counted_per_class(tmp_path: Path) -> None:
    cfg = OutboxConfig(telemetry_ttl_seconds=60, event_ttl_seconds=3600)
    with Outbox(tmp_path / "o.db", cfg) as ob:
        t0 = 1_000_000.0
        ob.enqueue(msg(0, "telemetry"), now=t0)
        ob.enqueue(msg(1, "event"), now=t0)
        assert [r.message_id for r in ob.peek(10, now=t0 + 61)] == ["m1"]  # expired is never sent
        assert ob.expire(now=t0 + 61) == 1
        s = ob.stats(now=t0 + 61)
        assert s.counters["dropped_ttl:telemetry"] == 1 and s.depth["event"] == 1
        assert s.oldest_age_seconds["event"] == pytest.approx(61)


def test_oversized_message_is_held_not_lost_and_released_when_it_fits(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as ob:
        ob.enqueue(msg(0, "event", size=5000), max_message_bytes=4096)
        ob.enqueue(msg(1, "event", size=100), max_message_bytes=4096)
        assert [r.message_id for r in ob.peek(10)] == ["m1"]
        s = ob.stats()
        assert s.held == 1 and s.depth["event"] == 2 and s.counters["held:event"] == 1
        assert ob.release_held(8192) == 1
        assert [r.message_id for r in ob.peek(10)] == ["m0", "m1"]


@pytest.mark.parametrize(
    ("classes", "survivors"),
    [
        # quota = 5 messages of 1000 B: the 6th..8th push out the oldest of the lowest priority present
        (
            ["alert", "event", "telemetry", "telemetry", "event", "alert", "event", "telemetry"],
            ["m0", "m5", "m1", "m4", "m6"],
        ),
        (["alert"] * 7, ["m2", "m3", "m4", "m5", "m6"]),
        (
            ["telemetry", "telemetry", "twin", "alert", "alert", "alert", "alert", "alert"],
            ["m3", "m4", "m5", "m6", "m7"],
        ),
    ],
)
def test_quota_drops_oldest_lowest_priority_first(
    tmp_path: Path, classes: list[str], survivors: list[str]
) -> None:
    cfg = OutboxConfig(max_bytes=5000)
    with Outbox(tmp_path / "o.db", cfg) as ob:
        for i, c in enumerate(classes):
            ob.enqueue(msg(i, c, size=1000))
        assert ob.message_ids() == survivors
        s = ob.stats()
        assert s.total_bytes <= 5000
        assert s.counter("dropped_quota") == len(classes) - len(survivors)
        assert totals_match(ob)


def test_status_counts_and_bad_class(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as ob:
        ob.enqueue(telemetry_message("dev", {"fps": 9.5}))
        d = ob.stats().as_dict()
        assert (
            d["depth"]["telemetry"] == 1
            and d["total_bytes"] > 0
            and d["oldest_age_seconds"]["telemetry"] >= 0
        )
        with pytest.raises(UplinkError, match="unknown message class"):
            ob.enqueue(OutboxMessage("x", "gossip", "events", b"{}"))  # type: ignore[arg-type]


def test_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "events.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UplinkError, match="outbox database"):
        Outbox(bad)


_WRITER = textwrap.dedent(
    """
    import sys, itertools
    from edgesight.config import OutboxConfig
    from edgesight.uplink import Outbox, OutboxMessage
    ob = Outbox(sys.argv[1], OutboxConfig(max_bytes=200_000))
    classes = ["alert", "event", "twin", "telemetry", "telemetry"]
    base = int(sys.argv[2])
    for i in itertools.count():
        batch = [OutboxMessage(f"w{base}-{i}-{j}", classes[(i + j) % 5], "events", b"y" * (300 + 37 * j))
                 for j in range(8)]
        ob.enqueue_many(batch)
        if i == 80:  # about 270 kB written: past the quota
            print("writing", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_during_writes_past_quota_never_corrupts(tmp_path: Path) -> None:
    """Kill -9 a process hammering the outbox past its quota, three times; the file stays sound."""
    db = tmp_path / "events.db"
    for round_ in range(3):
        p = subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(round_)], stdout=subprocess.PIPE)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == b"writing"
        time.sleep(0.05 + 0.1 * round_)  # past the 200 kB quota: drops happen in every batch now
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        p.stdout.close()
        with Outbox(db, OutboxConfig(max_bytes=200_000)) as ob:
            assert ob.integrity_check() == "ok"
            s = ob.stats()
            assert 0 < s.total_bytes <= 200_000
            assert totals_match(ob)
            # counters commit with the rows: every accepted message is either queued or counted as dropped
            for cls in ("alert", "event", "twin", "telemetry"):
                assert s.counters.get(f"enqueued:{cls}", 0) == s.depth[cls] + s.counters.get(
                    f"dropped_quota:{cls}", 0
                )
            assert s.counter("dropped_quota") > 0
            assert s.counters.get("dropped_quota:telemetry", 0) > 0  # lowest priority goes first

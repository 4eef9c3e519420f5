"""Fault drill: broker outage + SIGKILL of the publishing process, mid-backlog, against a real broker.

The test starts its own broker (mosquitto on an ephemeral port with on-disk persistence; the embedded
amqtt broker where mosquitto is absent) and never touches the machine's shared broker on 1883.

Sequence: publish -> stop broker -> keep accepting (backlog) -> SIGKILL publisher -> restart broker ->
restart publisher (drains backlog) -> SIGKILL it mid-backlog -> restart it -> everything drains.
Then: every accepted message arrived (de-duplicated by message_id) exactly once, nothing unknown arrived,
duplicates are byte-identical, and the backlog arrived alerts -> events -> telemetry.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.uplink.local_broker import LocalBroker
from edgesight.uplink.simulate import accepted

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEVICE = "faultdev"


class Subscriber:
    """A persistent-session QoS 1 subscriber recording every arrival in order."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, str, bytes]] = []  # (message_id, class, payload)
        self.status: list[tuple[str, int]] = []  # (state, number of data messages before it)
        self.connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fault-test-sub", clean_session=False)
        c.reconnect_delay_set(0.1, 0.5)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *_: self.connected.clear()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, keepalive=10)
        c.loop_start()
        self.client = c

    def _on_connect(self, c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        c.subscribe(f"edgesight/v1/{DEVICE}/#", qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        data = json.loads(msg.payload)
        with self.lock:
            if msg.topic.endswith("/status"):
                self.status.append((data["state"], len(self.arrivals)))
                return
            cls = data.get("class", "telemetry")
            self.arrivals.append((data["message_id"], cls, bytes(msg.payload)))

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def ids(self) -> set[str]:
        with self.lock:
            return {a[0] for a in self.arrivals}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _wait_quiet(sub: Subscriber, quiet: float = 0.7, timeout: float = 15.0) -> None:
    """Wait until no new arrival for ``quiet`` seconds (the broker has delivered what it had)."""
    end = time.monotonic() + timeout
    last, since = sub.count(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        n = sub.count()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _outbox_ids(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return [
            (r[0], r[1]) for r in conn.execute("SELECT message_id, class FROM outbox ORDER BY priority, seq")
        ]
    finally:
        conn.close()


def _publisher(db: Path, url: str, total: int, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "edgesight.uplink.simulate",
        "--db",
        str(db),
        "--url",
        url,
        "--device-id",
        DEVICE,
        "--total",
        str(total),
        "--max-inflight",
        "8",
        *extra,
    ]
    log = open(db.parent / "publisher.log", "ab")  # noqa: SIM115
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        log.close()


def test_outage_and_sigkill_lose_nothing_and_alerts_go_first(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    unbounded = 1_000_000  # the first publisher accepts until it is killed
    broker = LocalBroker(workdir=tmp_path / "broker").start()
    sub = Subscriber(broker.port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _wait(sub.connected.is_set, 10, "subscriber connected")
        # 1. online: publishing while generating. The embedded amqtt broker keeps its queues in memory
        # only, so with it the outage starts before the first publish (nothing can sit in it across a
        # restart); mosquitto persists them, so with it the outage hits a live session.
        p1 = _publisher(db, broker.url, unbounded, "--rate", "300")
        procs.append(p1)
        if broker.kind == "mosquitto":
            _wait(lambda: sub.count() >= 100, 40, "first 100 messages through the broker")
        else:
            _wait(lambda: any(st == "online" for st, _ in sub.status), 40, "publisher online")

        # 2. broker outage: the publisher keeps accepting into the outbox
        broker.stop()
        before = _count(db, "SELECT COUNT(*) FROM sim_accepted")
        _wait(
            lambda: _count(db, "SELECT COUNT(*) FROM sim_accepted") >= before + 300,
            40,
            "backlog while offline",
        )

        # 3. SIGKILL the publisher mid-backlog (it is writing at this very moment)
        p1.send_signal(signal.SIGKILL)
        p1.wait(10)
        backlog = _outbox_ids(db)
        assert len(backlog) >= 300, "the outage should have left a backlog"
        assert {c for _, c in backlog} == {"alert", "event", "telemetry"}

        # 4. broker back; let it hand over what it had persisted for the subscriber before we go on
        broker.start()
        _wait(sub.connected.is_set, 20, "subscriber reconnected")
        _wait_quiet(sub)
        n_status = len(sub.status)

        # 5. restart the publisher: it drains the backlog (and keeps generating); SIGKILL it mid-backlog.
        # Its 'online' status goes out on the same connection just before the first queued message, so
        # the arrivals after it are exactly what this process published (plus nothing from the broker's
        # own queue, which was handed over above).
        total = _count(db, "SELECT COUNT(*) FROM sim_accepted") + 300  # the next ones accept 300 more in all
        p2 = _publisher(db, broker.url, total, "--rate", "300")
        procs.append(p2)
        _wait(lambda: any(st == "online" for st, _ in sub.status[n_status:]), 60, "publisher back online")
        mark = next(pos for st, pos in sub.status[n_status:] if st == "online")
        with sub.lock:
            seen_before = {a[0] for a in sub.arrivals[:mark]}
        _wait(lambda: sub.count() >= mark + 20, 60, "part of the backlog after reconnect")
        p2.send_signal(signal.SIGKILL)
        p2.wait(10)
        backlog_ids = {mid for mid, _ in backlog}
        left_after_kill = len(backlog_ids & {mid for mid, _ in _outbox_ids(db)})

        # 6. restart once more and let it finish
        p3 = _publisher(db, broker.url, total, "--rate", "0", "--exit-when-empty")
        procs.append(p3)
        assert p3.wait(90) == 0, (tmp_path / "publisher.log").read_text()[-2000:]
        acc = accepted(db)
        assert len(acc) == total
        want = {mid for _, mid, _ in acc}
        _wait(lambda: want <= sub.ids(), 30, "every accepted message at the subscriber")
        _wait_quiet(sub, quiet=0.5, timeout=5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        sub.close()
        broker.close()

    arrivals = list(sub.arrivals)
    got = {}
    for mid, _cls, payload in arrivals:
        if mid in got:
            assert got[mid] == payload, f"duplicate of {mid} differs from its first copy"
        else:
            got[mid] = payload
    # exactly once after de-duplication: every accepted id, nothing else
    assert set(got) == want
    dupes = len(arrivals) - len(got)
    print(
        f"\naccepted={len(want)} arrivals={len(arrivals)} duplicates={dupes} backlog={len(backlog)} "
        f"left_after_2nd_kill={left_after_kill}"
    )

    # alerts before events before telemetry: first arrivals (after the reconnect) of the backlog
    first_pos: dict[str, int] = {}
    for pos, (mid, _c, _p) in enumerate(arrivals[mark:]):
        first_pos.setdefault(mid, pos)
    by_class: dict[str, list[int]] = {"alert": [], "event": [], "telemetry": []}
    for mid, cls in backlog:
        if mid not in seen_before:
            by_class[cls].append(first_pos[mid])
    assert by_class["alert"] and by_class["telemetry"]
    assert max(by_class["alert"]) < min(by_class["event"]) if by_class["event"] else True
    assert max(by_class["alert"]) < min(by_class["telemetry"])
    assert max(by_class["event"], default=-1) < min(by_class["telemetry"])

    # the second kill really happened mid-backlog, the broker announced it (last will), nothing got lost
    assert left_after_kill > 0
    states = [st for st, _ in sub.status]
    assert "offline" in states and "online" in states
    conn = sqlite3.connect(str(db))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    drops = conn.execute(
        "SELECT COALESCE(SUM(value),0) FROM outbox_counters WHERE name LIKE 'dropped%'"
    ).fetchone()[0]
    assert drops == 0
    conn.close()

"""`edgesight outbox status|drain`, `edgesight broker`, and the Prometheus collector."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, generate_latest

from edgesight.config import OutboxConfig
from edgesight.types import Event
from edgesight.uplink import Outbox, event_message, telemetry_message
from edgesight.uplink.local_broker import LocalBroker, free_port
from edgesight.uplink.metrics import OutboxCollector

pytestmark = pytest.mark.timeout(120)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    code = "import sys; from edgesight.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def filled(db: Path) -> Outbox:
    ob = Outbox(db, OutboxConfig(max_bytes=4096))
    alert = Event(source_id="cam", kind="ppe", rule="helmet", start_pts=0.0)
    ob.enqueue(event_message(alert, "alert"), now=time.time() - 90)
    for i in range(40):  # ~4 kB of telemetry: some get dropped by the quota
        ob.enqueue(telemetry_message("dev", {"i": i, "pad": "p" * 60}))
    return ob


def test_status_json_and_table(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    filled(db).close()
    r = cli("outbox", "status", "--store", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["depth"]["alert"] == 1 and d["depth"]["telemetry"] > 0
    assert d["dropped_quota"] > 0 and d["counters"]["dropped_quota:telemetry"] == d["dropped_quota"]
    assert d["oldest_age_seconds"]["alert"] >= 90 and d["total_bytes"] <= 4096
    r = cli("outbox", "status", "--db", str(db))
    assert r.returncode == 0
    assert "alert" in r.stdout and "telemetry" in r.stdout and "dropped: quota" in r.stdout
    assert re.search(r"\b9\d\.\d s\b", r.stdout)  # the alert's age
    assert "/ 4,096 bytes" in r.stdout  # the quota the writer used


def test_status_without_a_store_is_one_clear_line(tmp_path: Path) -> None:
    r = cli("outbox", "status", "--store", str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert "no outbox database at" in r.stderr and "Traceback" not in r.stderr
    other = tmp_path / "events.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE events (id TEXT)")
    conn.commit()
    conn.close()
    r = cli("outbox", "status", "--db", str(other))
    assert r.returncode == 2 and "has no outbox (was the pipeline run with an uplink: section?)" in r.stderr
    conn = sqlite3.connect(other)
    tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert tables == {"events"}  # looking did not change the file


def test_drain_sends_everything_then_exits(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    filled(db).close()
    with LocalBroker(workdir=tmp_path / "b") as broker:
        r = cli(
            "outbox", "drain", "--db", str(db), "--url", broker.url, "--device-id", "dev", "--timeout", "30"
        )
        assert r.returncode == 0, r.stderr
        assert "drained" in r.stderr
    with Outbox(db) as ob:
        s = ob.stats()
    assert s.total_depth == 0 and s.counters["sent:alert"] == 1


def test_drain_bad_url_and_dead_broker(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    filled(db).close()
    r = cli("outbox", "drain", "--db", str(db), "--url", "http://x")
    assert r.returncode == 2 and "broker URL must start with mqtt:// or mqtts://" in r.stderr
    r = cli("outbox", "drain", "--db", str(db), "--url", f"mqtt://127.0.0.1:{free_port()}", "--timeout", "2")
    assert r.returncode == 2
    assert "still queued after 2s" in r.stderr and "refused the connection" in r.stderr
    with Outbox(db) as ob:
        assert ob.stats().depth["alert"] == 1  # nothing lost


def test_prometheus_collector(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    filled(db).close()
    reg = CollectorRegistry()
    reg.register(OutboxCollector(db))
    text = generate_latest(reg).decode()
    assert 'edgesight_outbox_depth{class="alert"} 1.0' in text
    assert 'edgesight_outbox_dropped_total{class="telemetry",reason="quota"}' in text
    assert "edgesight_outbox_oldest_age_seconds" in text and "edgesight_uplink_connected 0.0" in text


@pytest.mark.slow
def test_embedded_broker_command(tmp_path: Path) -> None:
    pytest.importorskip("amqtt")
    port = free_port()
    code = "import sys; from edgesight.cli import main; main(sys.argv[1:])"
    p = subprocess.Popen(
        [sys.executable, "-c", code, "broker", "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        got: list[bytes] = []
        done = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.on_message = lambda *a: (got.append(a[2].payload), done.set())
        end = time.monotonic() + 30
        while True:
            try:
                c.connect("127.0.0.1", port)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
        c.loop_start()
        c.subscribe("t", qos=1)
        time.sleep(0.3)
        c.publish("t", b"hello", qos=1)
        assert done.wait(10) and got == [b"hello"]
        c.loop_stop()
        c.disconnect()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)


def test_drain_with_a_pipeline_config(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    filled(db).close()
    base = "sources: [{type: file, name: cam, path: a.mp4}]\nmodel: {path: m.onnx}\ndevice_id: gate-3\n"
    plain = tmp_path / "plain.yaml"
    plain.write_text(base)
    r = cli("outbox", "drain", "--db", str(db), "--config", str(plain))
    assert r.returncode == 2 and "has no uplink: section" in r.stderr
    with LocalBroker(workdir=tmp_path / "b") as broker:
        site = tmp_path / "site.yaml"
        site.write_text(base + f"uplink: {{url: '{broker.url}'}}\n")
        r = cli("outbox", "drain", "--db", str(db), "--config", str(site), "--timeout", "30")
        assert r.returncode == 0, r.stderr
    with Outbox(db) as ob:
        s = ob.stats()
    assert s.total_depth == 0 and s.counters["sent:alert"] == 1

"""The event store and the outbox in ONE transaction (same SQLite file), end to end to a real broker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.config import StoreConfig, UplinkConfig
from edgesight.types import Event
from edgesight.uplink import Uplink
from edgesight.uplink.local_broker import LocalBroker

event_store = pytest.importorskip("edgesight.store.event_store")
pytestmark = pytest.mark.timeout(120)


def test_event_row_and_outbox_row_commit_together(tmp_path: Path) -> None:
    store = event_store.EventStore(StoreConfig(path=tmp_path / "store"))
    up = Uplink.from_config(UplinkConfig(), store.db_path, "dev")
    ok = Event(device_id="dev", source_id="cam", kind="ppe", rule="helmet", start_pts=1.0, confidence=0.9)
    jpg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    store.save(ok, jpg, also=lambda conn: up.enqueue_event(conn, ok))

    bad = Event(device_id="dev", source_id="cam", kind="zone_enter", rule="z", start_pts=2.0)

    def enqueue_then_fail(conn: object) -> None:
        up.enqueue_event(conn, bad)  # type: ignore[arg-type]
        raise RuntimeError("simulated failure after the outbox write")

    with pytest.raises(RuntimeError):
        store.save(bad, None, also=enqueue_then_fail)
    assert store.get(ok.id) is not None and store.get(bad.id) is None
    assert up.outbox.message_ids() == [ok.message_id]  # the failed one left no outbox row either
    assert up.stats().depth["alert"] == 1
    up.stop()
    store.close()


@pytest.mark.slow
def test_stored_events_reach_the_broker_alerts_first(tmp_path: Path) -> None:
    with LocalBroker(workdir=tmp_path / "b") as broker:
        got: list[dict] = []
        lock = threading.Lock()
        sub = mqtt.Client(CallbackAPIVersion.VERSION2)
        sub.on_message = lambda _c, _u, m: (lock.acquire(), got.append(json.loads(m.payload)), lock.release())
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe("edgesight/v1/dev/events", qos=1)
        sub.loop_start()
        time.sleep(0.3)
        store = event_store.EventStore(StoreConfig(path=tmp_path / "store"))
        up = Uplink.from_config(UplinkConfig(url=broker.url), store.db_path, "dev")
        events = [
            Event(
                device_id="dev",
                source_id="cam",
                kind="zone_enter" if i % 4 else "near_miss",
                rule="r",
                start_pts=i,
            )
            for i in range(40)
        ]
        for e in events:  # queued while the uplink is not running yet (offline)
            store.save(e, None, also=lambda conn, e=e: up.enqueue_event(conn, e))
        up.start()
        end = time.monotonic() + 20
        while time.monotonic() < end and len(got) < 40:
            time.sleep(0.05)
        up.stop()
        sub.loop_stop()
        sub.disconnect()
        store.close()
    assert len(got) == 40
    classes = [m["class"] for m in got]
    assert classes == ["alert"] * 10 + ["event"] * 30
    assert {m["message_id"] for m in got} == {e.message_id for e in events}
    assert all(m["schema"] == "edgesight.event.v1" and m["event"]["id"] for m in got)

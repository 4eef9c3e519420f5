"""MQTT link behaviour against a real local broker: channels, retained status, clean stop, backoff."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.config import UplinkConfig
from edgesight.types import Event
from edgesight.uplink import Uplink
from edgesight.uplink.local_broker import LocalBroker

pytestmark = pytest.mark.timeout(120)


class Sub:
    def __init__(self, port: int) -> None:
        self.got: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.on_message = self._msg
        c.connect("127.0.0.1", port)
        c.subscribe("edgesight/v1/#", qos=1)
        c.loop_start()
        self.c = c
        time.sleep(0.3)

    def _msg(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((m.topic, json.loads(m.payload), bool(m.retain)))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _, _ in self.got]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_channels_status_and_stop_sends_what_is_queued(tmp_path: Path) -> None:
    with LocalBroker(workdir=tmp_path / "b") as broker:
        sub = Sub(broker.port)
        up = Uplink.from_config(UplinkConfig(url=broker.url), tmp_path / "events.db", "gate-3")
        up.start()
        assert up.link.wait_connected(15)
        ev = Event(device_id="gate-3", source_id="cam", kind="zone_enter", rule="z", start_pts=0.0)
        with up.outbox.transaction() as conn:
            up.enqueue_event(conn, ev)
        up.enqueue_telemetry({"fps": 9.5})
        up.enqueue_twin_reported({"pipeline": "v3"}, desired_version=7)
        up.stop()  # right away: the queue is sent before 'offline'
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sub.topics().count("edgesight/v1/gate-3/status") < 2:
            time.sleep(0.05)
        late = Sub(broker.port)  # a newcomer sees the retained status
        time.sleep(0.5)
        sub.close()
        late.close()
    topics = sub.topics()
    assert topics[0] == "edgesight/v1/gate-3/status" and topics[-1] == "edgesight/v1/gate-3/status"
    assert sorted(topics[1:-1]) == [
        "edgesight/v1/gate-3/events",
        "edgesight/v1/gate-3/telemetry",
        "edgesight/v1/gate-3/twin/reported",
    ]
    states = [p["state"] for t, p, _ in sub.got if t.endswith("/status")]
    assert states == ["online", "offline"]
    online = sub.got[0][1]
    assert online["schema"] == "edgesight.status.v1" and online["version"] and online["outbox_depth"] == 0
    twin = next(p for t, p, _ in sub.got if t.endswith("twin/reported"))
    assert twin["desired_version"] == 7 and twin["reported"] == {"pipeline": "v3"}
    assert [(p["state"], r) for _, p, r in late.got] == [("offline", True)]


def test_backoff_grows_to_the_ceiling(tmp_path: Path) -> None:
    broker = LocalBroker(workdir=tmp_path / "b")  # never started
    cfg = UplinkConfig(url=broker.url, reconnect_initial_seconds=0.05, reconnect_max_seconds=0.4)
    up = Uplink.from_config(cfg, tmp_path / "e.db", "dev")
    attempts: list[float] = []
    real = up.link._connection

    def spy(outbox):  # type: ignore[no-untyped-def]
        attempts.append(time.monotonic())
        return real(outbox)

    up.link._connection = spy  # type: ignore[method-assign]
    up.start()
    time.sleep(2.5)
    up.stop()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(gaps) >= 4
    # the delay doubles from 0.05 s to the 0.4 s ceiling: later gaps are clearly longer than the first,
    # and the last two (both at the ceiling) are alike
    assert gaps[-1] > 3 * gaps[0]
    assert 0.5 < gaps[-1] / gaps[-2] < 2.0

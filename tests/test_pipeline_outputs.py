"""Pipeline outputs without shared assets: the uplink outbox with a dead broker, Prometheus metrics.

No shared assets needed: a generated clip and a tiny fixed-output YOLO-layout model.
"""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np

from edgesight.config import parse_config
from edgesight.pipeline.runner import Runner
from edgesight.store import EventStore
from edgesight.uplink import Outbox
from test_inference_decoders import _v8, make_onnx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dead_broker_events_wait_in_outbox(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 320))
    for _ in range(30):
        wr.write(np.full((320, 320, 3), 90, np.uint8))
    wr.release()
    model = make_onnx(tmp_path / "m.onnx", [_v8()], {"names": "{0: 'person', 1: 'car', 2: 'dog'}"})
    cfg = parse_config(
        {
            "device_id": "edge-7",
            "sources": [{"type": "file", "name": "cam", "path": str(video)}],
            "model": {"path": str(model)},
            "rules": [{"type": "object", "name": "objects", "min_seconds": 0.2}],
            "store": {"path": str(tmp_path / "store")},
            # Nothing listens on this port: the uplink must queue, never block or lose events.
            "uplink": {"url": f"mqtt://127.0.0.1:{_free_port()}", "reconnect_max_seconds": 1},
        }
    )
    res = Runner(cfg).run()
    assert res.summary["frames"] == 30
    messages = len(res.events)
    assert messages >= 2  # object start + end messages
    store = EventStore.open(tmp_path / "store")
    assert store.count() == len({e.id for e in res.events})
    store.close()
    ob = Outbox(tmp_path / "store" / "events.db")
    st = ob.stats()
    assert st.depth["event"] + st.depth.get("alert", 0) == messages
    assert st.depth["telemetry"] >= 1  # the run's final telemetry
    ob.close()


def test_prometheus_metrics_while_running(tmp_path: Path) -> None:
    import urllib.request

    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 320))
    for _ in range(20):
        wr.write(np.full((320, 320, 3), 90, np.uint8))
    wr.release()
    model = make_onnx(tmp_path / "m.onnx", [_v8()], {"names": "{0: 'person', 1: 'car', 2: 'dog'}"})
    cfg = parse_config(
        {
            "sources": [{"type": "file", "name": "cam", "path": str(video)}],
            "model": {"path": str(model)},
            "store": {"path": str(tmp_path / "store")},
            "outputs": {"metrics_port": 0},  # ephemeral
        }
    )
    scraped: list[str] = []

    def on_frame(frame, dets, events) -> None:
        if frame.index == 10:
            assert runner.exporter is not None
            url = f"http://127.0.0.1:{runner.exporter.port}/metrics"
            scraped.append(urllib.request.urlopen(url, timeout=10).read().decode())

    runner = Runner(cfg, on_frame=on_frame)
    runner.run()
    assert scraped, "the metrics endpoint was not reachable during the run"
    text = scraped[0]
    assert 'edgesight_frames_total{source="cam"}' in text
    assert "edgesight_stage_seconds_bucket" in text and 'stage="infer"' in text

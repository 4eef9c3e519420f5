"""LiveView fed by a real pipeline run (real video, real YOLOv8n): frames, events and snapshots match the run."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import parse_config
from edgesight.pipeline.runner import Runner
from edgesight.types import Detections, Frame
from edgesight.web import LiveView, LiveViewSink, attach

TIMEOUT = 30.0


def _cfg(assets: Path, store: Path) -> dict:
    return {
        "sources": [
            {"type": "file", "name": "street", "path": str(assets / "videos/pedestrians_480x360.avi")}
        ],
        "model": {
            "path": str(assets / "models/yolov8n_coco_fp32_640.onnx"),
            "classes": ["person"],
            "confidence": 0.3,
            "backend": {"type": "onnxruntime", "threads": 2},
        },
        "rules": [
            {
                "type": "zone",
                "name": "plaza",
                "polygon": [[0, 0], [480, 0], [480, 360], [0, 360]],
                "events": ["occupancy", "dwell"],
                "dwell_seconds": 1.0,
            },
            {
                "type": "line",
                "name": "path_gate",
                "start": [230, 100],
                "end": [230, 250],
                "cooldown_seconds": 2,
            },
        ],
        "store": {"path": str(store)},
    }


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        return bytes(r.read())


@pytest.mark.slow
def test_runner_feeds_the_view(assets: Path, tmp_path: Path) -> None:
    cfg = parse_config(_cfg(assets, tmp_path / "store"))
    with LiveView(max_fps=1000) as view:
        runner = Runner(cfg, max_frames=20)
        sink = attach(runner, view)
        assert view.store_root == tmp_path / "store" and sink in runner.sinks
        parts: list[bytes] = []

        def watch() -> None:  # a viewer connected during the run: frames are kept at max_fps
            while not view.has_source("street") and view.running:
                threading.Event().wait(0.02)
            with urllib.request.urlopen(view.url + "stream/street.mjpg", timeout=TIMEOUT) as r:
                while len(parts) < 3:
                    line = r.readline()
                    if line.lower().startswith(b"content-length:"):
                        r.readline()
                        parts.append(r.read(int(line.split(b":")[1])))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        result = runner.run()
        watcher.join(TIMEOUT)
        assert len(parts) == 3, "viewer got no frames during the run"
        assert all(
            cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR).shape == (360, 480, 3) for p in parts
        )

        state = json.loads(_get(view.url + "api/state"))
        starts = Counter(e.kind for e in result.events if e.state == "start")
        assert starts, "the run produced no events: the check below would be empty"
        assert state["counts"] == dict(starts)
        assert state["stats"]["frames"] == 20  # the sink's close() published the final stats
        assert 3 <= state["sources"]["street"]["frames_kept"] <= 20
        got = json.loads(_get(view.url + "api/events?after=0"))["events"]
        assert [(m["event"]["id"], m["event"]["seq"]) for m in got] == [(e.id, e.seq) for e in result.events]
        with_snap = [m["event"] for m in got if m["event"]["snapshot"]]
        assert with_snap, "events must carry the stored snapshot path"
        rel = with_snap[0]["snapshot"]
        assert _get(view.url + "snapshots/" + rel) == (tmp_path / "store" / rel).read_bytes()


def test_sink_annotates_a_copy(assets: Path) -> None:
    cfg = parse_config(_cfg(assets, Path("unused")))
    sink = LiveViewSink(LiveView(), cfg)
    image = np.full((360, 480, 3), 90, np.uint8)
    dets = Detections(
        xyxy=[[100, 100, 200, 300]], confidence=[0.8], class_id=[0], tracker_id=[4], names={0: "person"}
    )
    out = sink.annotate(Frame(image=image, source_id="street", index=3, pts=0.3), dets)
    assert (image == 90).all(), "the caller's frame must not be drawn on"
    assert out.shape == image.shape and (out != 90).any(axis=2).sum() > 1000  # box, zone, line, caption

"""Snapshot uploader against a real local HTTP server: selection, thumbnails first, byte budget, on-request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import SnapshotUploadConfig
from edgesight.types import Detections, Event
from edgesight.uplink.snapshots import SnapshotUploader, TokenBucket


class Sink:
    """A real HTTP server that stores PUT bodies; can be told to fail."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, bytes, dict[str, str]]] = []
        self.fail = False
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if sink.fail:
                    self.send_response(503)
                else:
                    sink.puts.append((self.path, body, dict(self.headers)))
                    self.send_response(201)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/snaps"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def image(seed: int = 0, h: int = 480, w: int = 640) -> np.ndarray:
    """A textured BGR frame (noise + shapes) that compresses like a camera image, not like a flat fill."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    cv2.rectangle(img, (50 + seed, 60), (200 + seed, 300), (0, 0, 255), -1)
    return img


def jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def ev(conf: float | None) -> Event:
    return Event(source_id="cam", kind="ppe", rule="helmet", start_pts=0.0, confidence=conf)


def dets(*conf: float) -> Detections:
    n = len(conf)
    return Detections(np.tile([[10, 10, 50, 50]], (n, 1)), np.array(conf), np.zeros(n))


def cfg(url: str, **kw: object) -> SnapshotUploadConfig:
    return SnapshotUploadConfig.model_validate({"endpoint": url, **kw})


def test_token_bucket_refills_continuously() -> None:
    clk = Clock()
    b = TokenBucket(3600, 3600.0, clk)
    b.take(3600)
    assert b.available() == 0
    clk.t += 10
    assert b.available() == pytest.approx(10)
    clk.t += 1e6
    assert b.available() == 3600  # never above capacity


def test_selection_thumbnails_first_then_full(tmp_path: Path, sink: Sink) -> None:
    up = SnapshotUploader(cfg(sink.url, min_confidence=0.6), tmp_path / "events.db", "dev1")
    events = [ev(0.9), ev(0.3), ev(0.7), ev(None)]
    queued = [up.offer_event(e, jpeg(image(i))) for i, e in enumerate(events)]
    assert queued == [True, False, True, False]
    assert up.pump() == 4
    paths = [p for p, _, _ in sink.puts]
    assert paths == [
        f"/snaps/dev1/{events[0].id}/thumb.jpg",
        f"/snaps/dev1/{events[2].id}/thumb.jpg",
        f"/snaps/dev1/{events[0].id}/full.jpg",
        f"/snaps/dev1/{events[2].id}/full.jpg",
    ]
    thumb = cv2.imdecode(np.frombuffer(sink.puts[0][1], np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape == (240, 320, 3)
    assert (
        sink.puts[0][2]["Content-Type"] == "image/jpeg" and sink.puts[0][2]["X-Edgesight-Reason"] == "event"
    )
    s = up.stats()
    assert s.sent_items == 4 and s.sent_bytes == sum(len(b) for _, b, _ in sink.puts) and s.queued == 0
    up.close()
    # `edgesight outbox status` and the Prometheus collector read the same figures from the file
    from prometheus_client import CollectorRegistry, generate_latest

    from edgesight.uplink import Outbox
    from edgesight.uplink.metrics import OutboxCollector

    with Outbox(tmp_path / "events.db") as ob:
        assert ob.stats().uploads == {
            "queued": 0,
            "queued_bytes": 0,
            "sent": 4,
            "sent_bytes": s.sent_bytes,
            "skipped_over_budget": 0,
        }
    reg = CollectorRegistry()
    reg.register(OutboxCollector(tmp_path / "events.db"))
    assert f"edgesight_upload_sent_bytes_total {float(s.sent_bytes)}" in generate_latest(reg).decode()


def test_uncertain_frames_are_sampled_by_stream_time(tmp_path: Path, sink: Sink) -> None:
    up = SnapshotUploader(
        cfg(sink.url, uncertain_every_seconds=10, full_resolution="never"), tmp_path / "e.db", "d"
    )
    img = image()
    picked = [
        up.offer_frame(img, dets(*c), pts, f"cam-{i}")
        for i, (c, pts) in enumerate(
            [
                ((0.9,), 0.0),  # confident only: not uncertain
                ((0.9, 0.3), 1.0),  # uncertain -> sample
                ((0.35,), 5.0),  # uncertain but within 10 s of the last sample
                ((0.44,), 11.5),  # sample
                ((0.2,), 30.0),  # below the band
                ((), 40.0),
            ]
        )
    ]
    assert picked == [False, True, False, True, False, False]
    up.pump()
    assert [p for p, _, _ in sink.puts] == ["/snaps/d/cam-1/thumb.jpg", "/snaps/d/cam-3/thumb.jpg"]
    s = up.stats()
    assert s.frames_seen == 6
    # six full frames as JPEG would cost far more than two thumbnails
    assert s.every_frame_bytes_estimate > 6 * 0.8 * len(jpeg(img)) and s.saving_ratio and s.saving_ratio > 5
    up.close()


def test_budget_limits_bytes_per_hour_and_everything_waits_in_order(tmp_path: Path, sink: Sink) -> None:
    clk = Clock()
    probe = SnapshotUploader(cfg(sink.url), tmp_path / "probe.db", "d")
    probe.offer_event(ev(0.9), jpeg(image()))
    thumb_bytes = probe.stats().queued_bytes  # thumb + full of one image
    probe.close()
    budget = int(thumb_bytes * 1.5)
    up = SnapshotUploader(
        cfg(sink.url, bytes_per_hour=budget, full_resolution="later"), tmp_path / "e.db", "d", clock=clk
    )
    events = [ev(0.9) for _ in range(3)]
    for i, e in enumerate(events):
        up.offer_event(e, jpeg(image(i)))
    first = up.pump()
    sent_bytes = up.stats().sent_bytes
    assert 1 <= first < 6 and sent_bytes <= budget
    # all three thumbnails go before any full image, whatever the budget does
    clk.t += 3600
    while up.stats().queued:
        up.pump()
        clk.t += 3600
    kinds = [p.rsplit("/", 1)[1] for p, _, _ in sink.puts]
    assert kinds == ["thumb.jpg"] * 3 + ["full.jpg"] * 3
    up.close()


def test_on_request_full_resolution_and_server_errors_keep_items(tmp_path: Path, sink: Sink) -> None:
    up = SnapshotUploader(cfg(sink.url, full_resolution="on_request"), tmp_path / "e.db", "d")
    e = ev(0.95)
    up.offer_event(e, jpeg(image()))
    sink.fail = True
    assert up.pump() == 0
    assert up.last_error and "HTTP Error 503" in up.last_error and "stay queued" in up.last_error
    sink.fail = False
    assert up.pump() == 1 and sink.puts[-1][0].endswith("/thumb.jpg")
    assert up.stats().parked == 1 and up.pump() == 0
    assert up.request_full(e.id) and up.pump() == 1 and sink.puts[-1][0].endswith("/full.jpg")
    up.close()


def test_queue_survives_a_restart(tmp_path: Path, sink: Sink) -> None:
    db = tmp_path / "e.db"
    up = SnapshotUploader(cfg("http://127.0.0.1:9/unreachable"), db, "d")
    up.offer_event(ev(0.9), jpeg(image()))
    assert up.pump() == 0 and "failed" in (up.last_error or "")
    up.close()
    up2 = SnapshotUploader(cfg(sink.url), db, "d")
    assert up2.pump() == 2
    up2.close()

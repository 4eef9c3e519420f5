"""Live sources against a real local HTTP MJPEG server (multipart/x-mixed-replace), read by FFmpeg.

The server runs in-process on an ephemeral port; it is stopped and restarted on the same port to
exercise reconnection. Waits use generous deadlines (upper bounds), never timing assertions.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from edgesight.config import StreamSourceConfig, UsbSourceConfig
from edgesight.sources import StreamSource, UsbSource, open_source
from edgesight.types import Frame

pytestmark = pytest.mark.slow

DEADLINE = 30.0  # seconds; only reached when something is broken


def _jpegs(n: int = 8) -> list[bytes]:
    out = []
    for i in range(n):
        img = np.zeros((120, 160, 3), np.uint8)
        cv2.rectangle(img, (10 + 15 * i, 30), (40 + 15 * i, 90), (0, 200, 255), -1)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        out.append(buf.tobytes())
    return out


class MjpegServer:
    """Serves an endless MJPEG stream at ``/stream.mjpg`` (about ``fps`` frames per second)."""

    def __init__(self, fps: float = 40.0, port: int = 0) -> None:
        self.fps = fps
        self.port = port
        self.frames = _jpegs()
        self._stop = threading.Event()
        self.paused = threading.Event()  # set: keep connections open but send nothing (a frozen camera)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        stop = threading.Event()
        self._stop = stop
        frames, period, paused = self.frames, 1.0 / self.fps, self.paused

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not stop.is_set():
                        if paused.is_set():
                            stop.wait(period)
                            continue
                        jpg = frames[i % len(frames)]
                        i += 1
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        self.wfile.write(head + jpg + b"\r\n")
                        stop.wait(period)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()  # streaming handlers end their loop and close the connection
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def server() -> Iterator[MjpegServer]:
    s = MjpegServer().start()
    yield s
    s.stop()


class Consumer:
    """Reads a source's frames() in a thread, like the runner does."""

    def __init__(self, src: StreamSource | UsbSource) -> None:
        self.frames: list[Frame] = []
        self._thread = threading.Thread(target=self._run, args=(src,), daemon=True)
        self._thread.start()

    def _run(self, src: StreamSource | UsbSource) -> None:
        for f in src.frames():
            self.frames.append(f)

    def join(self) -> None:
        self._thread.join(timeout=DEADLINE)
        assert not self._thread.is_alive(), "frames() did not end after close()"


def wait_for(cond: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def stream_cfg(url: str, name: str = "cam", **kw: object) -> StreamSourceConfig:
    base: dict[str, object] = {
        "name": name,
        "url": url,
        "reconnect_initial_seconds": 0.1,
        "reconnect_max_seconds": 0.4,
        "open_timeout_seconds": 2.0,
    }
    return StreamSourceConfig.model_validate({**base, **kw})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mjpeg_stream_delivers_frames_with_monotonic_pts(server: MjpegServer) -> None:
    src = open_source(stream_cfg(server.url))
    assert isinstance(src, StreamSource) and src.is_live
    consumer = Consumer(src)
    wait_for(lambda: len(consumer.frames) >= 10, "10 frames")
    assert src.stats()["state"] == "streaming"
    src.close()
    consumer.join()
    frames = consumer.frames
    assert frames[0].image.shape == (120, 160, 3)
    assert np.all(np.diff([f.pts for f in frames]) > 0)
    assert np.all(np.diff([f.index for f in frames]) >= 1)
    st = src.stats()
    assert st["state"] == "closed" and st["decoded"] >= 10 and st["reconnects"] == 0


def test_stream_reconnects_after_server_restart(server: MjpegServer) -> None:
    src = open_source(stream_cfg(server.url))
    consumer = Consumer(src)
    try:
        wait_for(lambda: len(consumer.frames) >= 5, "first frames")
        server.stop()
        wait_for(lambda: src.stats()["disconnects"] >= 1, "the loss to be noticed")
        wait_for(lambda: src.stats()["connect_failures"] >= 1, "a failed reconnect attempt while down")
        assert src.stats()["state"] == "reconnecting"
        before = len(consumer.frames)
        server.start()  # same port
        wait_for(lambda: src.stats()["reconnects"] >= 1, "reconnection")
        wait_for(lambda: len(consumer.frames) >= before + 5, "frames to resume")
        assert src.stats()["state"] == "streaming"
    finally:
        src.close()
        consumer.join()
    pts = [f.pts for f in consumer.frames]
    assert np.all(np.diff(pts) > 0)  # stream time keeps going across the reconnect


def test_frozen_stream_times_out_and_reconnects(server: MjpegServer) -> None:
    src = open_source(stream_cfg(server.url, open_timeout_seconds=1.0))
    consumer = Consumer(src)
    try:
        wait_for(lambda: len(consumer.frames) >= 5, "first frames")
        server.paused.set()  # connection stays up, no data: only the read timeout can notice
        wait_for(lambda: src.stats()["disconnects"] >= 1, "the read timeout")
        before = len(consumer.frames)
        server.paused.clear()
        wait_for(lambda: src.stats()["reconnects"] >= 1, "reconnection")
        wait_for(lambda: len(consumer.frames) >= before + 5, "frames to resume")
    finally:
        src.close()
        consumer.join()


def test_slow_consumer_gets_freshest_frames_and_drops_are_counted(server: MjpegServer) -> None:
    src = open_source(stream_cfg(server.url, queue_size=2))
    try:
        wait_for(lambda: src.stats()["dropped"] >= 5, "queue-full drops")  # nobody is reading
        st = src.stats()
        assert st["queue_depth"] <= 2
        frame = next(iter(src.frames()))
        # Only the newest queue_size frames are kept: the next frame is at most 2 (+ 1 in flight) old.
        assert frame.index >= int(src.stats()["decoded"]) - 4
    finally:
        src.close()


def test_max_fps_on_a_live_stream(server: MjpegServer) -> None:
    src = open_source(stream_cfg(server.url, max_fps=5))
    try:
        consumer = Consumer(src)
        wait_for(lambda: int(src.stats()["decoded"]) >= 30, "30 decoded frames")
    finally:
        src.close()
    consumer.join()
    st = src.stats()
    assert st["subsampled"] > 0
    assert int(st["delivered"]) < int(st["decoded"]) / 2  # 40 fps in, 5 fps kept
    # At most one frame per 1/5 s slot of stream time (two can sit either side of a slot edge).
    slots = [int(np.floor(f.pts * 5 + 1e-6)) for f in consumer.frames]
    assert len(set(slots)) == len(slots)


def test_dead_camera_does_not_stop_the_others(server: MjpegServer) -> None:
    dead = open_source(stream_cfg(f"http://127.0.0.1:{free_port()}/stream.mjpg", name="dead"))
    live = open_source(stream_cfg(server.url, name="live"))
    consumer = Consumer(live)
    try:
        wait_for(lambda: len(consumer.frames) >= 10, "frames from the live camera")
        wait_for(lambda: dead.stats()["connect_failures"] >= 2, "the dead camera to be retried")
        assert dead.stats()["state"] == "connecting"
        assert dead.stats()["decoded"] == 0
    finally:
        dead.close()
        live.close()
        consumer.join()
    assert dead.stats()["state"] == "closed"


def test_usb_camera_that_does_not_exist_is_retried_not_raised() -> None:
    src = open_source(
        UsbSourceConfig(
            name="usb", device="/dev/video99", reconnect_initial_seconds=0.05, reconnect_max_seconds=0.1
        )
    )
    assert isinstance(src, UsbSource) and src.is_live
    try:
        wait_for(lambda: src.stats()["connect_failures"] >= 2, "retries of the missing camera")
        assert src.stats()["state"] == "connecting"
    finally:
        src.close()
    assert src.stats()["state"] == "closed"

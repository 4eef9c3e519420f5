"""A live capture: one decode thread -> drop-oldest queue, with reconnection and state reporting.

Used by the ``stream`` (RTSP/HTTP) and ``usb`` sources. The decode thread owns the ``cv2.VideoCapture``
(OpenCV captures are not thread-safe); the consumer only reads the queue, so a slow consumer never
blocks decoding and a dead camera only ever stalls its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.sources._common import Backoff, FrameQueue, SourceState, SubSampler
from edgesight.types import Frame

__all__ = ["LiveCapture"]

log = logging.getLogger(__name__)

# How long frames() waits on the queue before re-checking that the source is still open (seconds).
_POLL_SECONDS = 0.1


class LiveCapture:
    """A never-blocking live source built on an ``opener`` that returns a fresh ``cv2.VideoCapture``.

    The decode thread starts in the constructor. Frame ``pts`` is monotonic seconds since the source
    was opened (not since the last reconnect), so stream time never jumps back after a reconnect.

    Counters (see ``stats``): ``decoded`` frames read, ``delivered`` frames yielded, ``dropped`` by the
    full queue, ``subsampled`` by ``max_fps``, ``reconnects`` (successful re-opens after a lost stream),
    ``disconnects`` (streams lost), ``connect_failures`` (open attempts that failed).
    """

    is_live = True

    def __init__(
        self,
        name: str,
        opener: Callable[[], cv2.VideoCapture],
        *,
        describe: str,
        queue_size: int,
        reconnect_initial_seconds: float,
        reconnect_max_seconds: float,
        max_fps: float | None = None,
    ) -> None:
        self.name = name
        self._opener = opener
        self._describe = describe  # what to print in logs (credentials already removed)
        self._queue = FrameQueue(queue_size)
        self._backoff = Backoff(reconnect_initial_seconds, reconnect_max_seconds)
        self._sampler = SubSampler(max_fps)
        self._stop = threading.Event()
        self._state: SourceState = "connecting"
        self._t0 = time.monotonic()
        self.decoded = 0
        self.delivered = 0
        self.subsampled = 0
        self.reconnects = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.last_error = ""
        self._recent: deque[float] = deque(maxlen=32)  # monotonic decode times, for the fps figure
        self._thread = threading.Thread(target=self._run, name=f"edgesight-source-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ consumer side
    def frames(self) -> Iterator[Frame]:
        """Yield the freshest frames until ``close()``; waits (does not end) while reconnecting."""
        while True:
            frame = self._queue.get(_POLL_SECONDS)
            if frame is not None:
                self.delivered += 1
                yield frame
            elif self._queue.closed:
                return

    def close(self) -> None:
        """Stop the decode thread (waits for at most one read/open timeout) and end ``frames()``."""
        self._stop.set()
        self._queue.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=15.0)
        self._state = "closed"

    @property
    def state(self) -> SourceState:
        return self._state

    def stats(self) -> dict[str, int | float | str]:
        """Counters and state; ``fps`` is the measured decode rate over the last frames (frames/s)."""
        recent = list(self._recent)
        fps = (
            (len(recent) - 1) / (recent[-1] - recent[0])
            if len(recent) > 1 and recent[-1] > recent[0]
            else 0.0
        )
        return {
            "state": self._state,
            "decoded": self.decoded,
            "delivered": self.delivered,
            "dropped": self._queue.dropped,
            "subsampled": self.subsampled,
            "corrupt": 0,
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "connect_failures": self.connect_failures,
            "queue_depth": len(self._queue),
            "fps": round(fps, 2),
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ decode thread
    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # wakes at once on close()

    def _run(self) -> None:
        ever_streamed = False
        try:
            while not self._stop.is_set():
                self._state = "reconnecting" if ever_streamed else "connecting"
                cap = self._try_open()
                if cap is None:
                    self.connect_failures += 1
                    self._sleep(self._backoff.next_delay())
                    continue
                got_frame = self._read_until_lost(cap, reconnect=ever_streamed)
                ever_streamed = ever_streamed or got_frame
                cap.release()
                if self._stop.is_set():
                    break
                if got_frame:
                    self.disconnects += 1
                    log.warning("source %s: stream %s lost, reconnecting", self.name, self._describe)
                else:
                    self.connect_failures += 1
                self._state = "reconnecting" if ever_streamed else "connecting"
                self._sleep(self._backoff.next_delay())
        except Exception as exc:  # a bug here must not kill the process or other cameras
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("source %s: decode thread failed", self.name)
        finally:
            self._state = "closed"
            self._queue.close()

    def _try_open(self) -> cv2.VideoCapture | None:
        try:
            cap = self._opener()
        except cv2.error as exc:
            self.last_error = f"open failed: {exc}"
            return None
        if not cap.isOpened():
            cap.release()
            self.last_error = f"cannot open {self._describe}"
            log.info("source %s: cannot open %s", self.name, self._describe)
            return None
        return cap

    def _read_until_lost(self, cap: cv2.VideoCapture, *, reconnect: bool) -> bool:
        """Read frames into the queue until the capture fails or close(); True if any frame came."""
        got = False
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok or image is None:
                self.last_error = "read failed (stream ended or timed out)"
                return got
            now = time.monotonic()
            if not got:
                got = True
                self._state = "streaming"
                self._backoff.reset()
                if reconnect:
                    self.reconnects += 1
                    log.info("source %s: reconnected to %s", self.name, self._describe)
            index = self.decoded
            self.decoded += 1
            self._recent.append(now)
            pts = now - self._t0
            if not self._sampler.keep(pts):
                self.subsampled += 1
                continue
            self._queue.put(
                Frame(image=cast(npt.NDArray[np.uint8], image), source_id=self.name, index=index, pts=pts)
            )
        return got

"""``file`` source: a video file decoded with OpenCV (FFmpeg backend).

Default: frames are decoded in the caller's thread and never dropped (offline analysis sees every
frame). ``realtime: true``: a reader thread paces frames at the file's fps into a drop-oldest queue,
so the file behaves like a live camera (frames may drop when the consumer is slow).

Stream time: ``pts`` comes from the container (``CAP_PROP_POS_MSEC``), rebased so the first frame is 0.
Where the container gives no usable time (AVI streams with B-frames report 0 for the last frames),
``pts`` falls back to the previous pts + 1/fps, so it is always strictly increasing.

Corrupt data: FFmpeg conceals damaged packets itself; a ``read()`` that fails before the container's
frame count is reached is counted as ``corrupt`` and retried, up to a limit of consecutive failures,
after which the source ends cleanly (a truncated file yields what it holds, then stops).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edgesight.config import FileSourceConfig
from edgesight.errors import SourceError
from edgesight.sources._common import FrameQueue, SourceState, SubSampler
from edgesight.types import Frame

__all__ = ["FileSource"]

log = logging.getLogger(__name__)

_DEFAULT_FPS = 25.0  # when the container declares none
_MAX_CONSECUTIVE_FAILURES = 8  # failed reads in a row before a damaged file is declared ended
_REALTIME_QUEUE = 4


@dataclass(frozen=True, slots=True)
class _Decoded:
    image: np.ndarray
    index: int
    pts: float


class FileSource:
    """A video file as a frame source.

    Raises:
        SourceError: the file does not exist or OpenCV/FFmpeg cannot open it as a video.
    """

    def __init__(self, cfg: FileSourceConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.is_live = cfg.realtime
        path = cfg.path
        if not path.is_file():
            raise SourceError(f"source {cfg.name!r}: video file not found: {path}")
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"source {cfg.name!r}: cannot open {path} as a video (expected a file FFmpeg can decode, "
                "e.g. .mp4/.avi/.mkv)"
            )
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.stream_fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else _DEFAULT_FPS
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if count and np.isfinite(count) and count > 0 else None
        self._cap: cv2.VideoCapture | None = cap
        self._cap_lock = threading.Lock()
        self._state: SourceState = "idle"
        self._closed = threading.Event()
        self._queue: FrameQueue | None = None
        self._thread: threading.Thread | None = None
        self._started_wall: float | None = None
        self.decoded = 0
        self.delivered = 0
        self.corrupt = 0
        self.subsampled = 0
        self.loops = 0

    # ------------------------------------------------------------------ public API
    def frames(self) -> Iterator[Frame]:
        """Yield frames in order until the end of the file (or forever with ``loop``) or ``close()``."""
        if self._started_wall is not None:
            raise SourceError(f"source {self.name!r}: frames() can be iterated only once")
        self._started_wall = time.monotonic()
        sampler = SubSampler(self.cfg.max_fps)
        if not self.cfg.realtime:
            self._state = "streaming"
            try:
                for d in self._decode():
                    if not sampler.keep(d.pts):
                        self.subsampled += 1
                        continue
                    self.delivered += 1
                    yield Frame(image=d.image, source_id=self.name, index=d.index, pts=d.pts)
            finally:
                self._finish()
            return
        queue = FrameQueue(_REALTIME_QUEUE)
        self._queue = queue
        self._thread = threading.Thread(
            target=self._paced_reader,
            args=(queue, sampler),
            name=f"edgesight-source-{self.name}",
            daemon=True,
        )
        self._thread.start()
        try:
            while True:
                frame = queue.get(0.1)
                if frame is not None:
                    self.delivered += 1
                    yield frame
                elif queue.closed:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """End ``frames()`` and release the file; safe from another thread (waits for a read in flight)."""
        self._closed.set()
        if self._queue is not None:
            self._queue.close()
        if (
            self._thread is not None
            and self._thread.is_alive()
            and threading.current_thread() is not self._thread
        ):
            self._thread.join(timeout=5.0)
        self._release()
        self._state = "closed"

    def stats(self) -> dict[str, int | float | str]:
        """Counters; ``fps`` is frames delivered per wall-clock second since ``frames()`` started."""
        elapsed = time.monotonic() - self._started_wall if self._started_wall is not None else 0.0
        return {
            "state": self._state,
            "decoded": self.decoded,
            "delivered": self.delivered,
            "dropped": self._queue.dropped if self._queue is not None else 0,
            "subsampled": self.subsampled,
            "corrupt": self.corrupt,
            "reconnects": 0,
            "loops": self.loops,
            "stream_fps": self.stream_fps,
            "fps": round(self.delivered / elapsed, 2) if elapsed > 0 else 0.0,
        }

    @property
    def state(self) -> SourceState:
        return self._state

    # ------------------------------------------------------------------ internals
    def _release(self) -> None:
        # Under the lock: a close() from another thread must never free the capture inside read().
        with self._cap_lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def _finish(self) -> None:
        self._release()
        if self._state != "closed":
            self._state = "ended"

    def _read(self) -> tuple[np.ndarray | None, float]:
        """One frame and its container time (ms), or (None, nan) on a failed read or once closed."""
        with self._cap_lock:
            if self._cap is None or self._closed.is_set():
                return None, float("nan")
            ok, image = self._cap.read()
            if not ok or image is None:
                return None, float("nan")
            return image, float(self._cap.get(cv2.CAP_PROP_POS_MSEC))

    def _reopen(self) -> bool:
        with self._cap_lock:
            if self._cap is None or self._closed.is_set():
                return False
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.cfg.path), cv2.CAP_FFMPEG)
            return bool(self._cap.isOpened())

    def _decode(self) -> Iterator[_Decoded]:
        """Decoded frames with their index (0-based, across loops) and pts (seconds, increasing)."""
        dt = 1.0 / self.stream_fps
        index = 0
        offset = 0.0  # stream time added on each loop so pts keeps increasing
        last_pts = -dt
        while not self._closed.is_set():
            first_ms: float | None = None
            pos = 0  # frames decoded in this pass
            failures = 0
            while not self._closed.is_set():
                image, ms = self._read()
                if image is None:
                    if self._closed.is_set():
                        return
                    if (
                        self.frame_count is not None
                        and pos < self.frame_count
                        and failures < _MAX_CONSECUTIVE_FAILURES
                    ):
                        failures += 1
                        self.corrupt += 1
                        continue
                    break
                failures = 0
                if first_ms is None:
                    first_ms = ms
                pts = offset + (ms - first_ms) / 1000.0
                if not np.isfinite(pts) or pts <= last_pts + 1e-9:
                    pts = last_pts + dt  # container time unusable here: index/fps
                self.decoded += 1
                yield _Decoded(image, index, pts)
                index += 1
                pos += 1
                last_pts = pts
            if self.frame_count is not None and pos < self.frame_count and not self._closed.is_set():
                log.warning(
                    "source %s: %s ended after %d of %d frames (%d failed reads): truncated or corrupt file?",
                    self.name,
                    self.cfg.path,
                    pos,
                    self.frame_count,
                    failures,
                )
            if not self.cfg.loop or pos == 0 or self._closed.is_set():
                return
            # Loop: reopen (seeking is unreliable on damaged or B-frame streams).
            self.loops += 1
            offset = last_pts + dt
            if not self._reopen():
                log.warning("source %s: cannot reopen %s to loop", self.name, self.cfg.path)
                return

    def _paced_reader(self, queue: FrameQueue, sampler: SubSampler) -> None:
        """Realtime mode: emit each frame at its pts on the wall clock, never waiting on the consumer."""
        self._state = "streaming"
        t0 = time.monotonic()
        try:
            for d in self._decode():
                wait = t0 + d.pts - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    break
                if not sampler.keep(d.pts):
                    self.subsampled += 1
                    continue
                queue.put(Frame(image=d.image, source_id=self.name, index=d.index, pts=d.pts))
        except Exception:
            log.exception("source %s: reader thread failed", self.name)
        finally:
            self._finish()
            queue.close()

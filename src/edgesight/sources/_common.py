"""Pieces shared by the sources: max-fps sub-sampling, the drop-oldest frame queue, backoff.

Each object holds its own state; nothing here is module-level mutable state.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from typing import Literal

from edgesight.types import Frame

__all__ = ["Backoff", "FrameQueue", "SourceState", "SubSampler"]

SourceState = Literal["idle", "connecting", "streaming", "reconnecting", "ended", "closed"]


class SubSampler:
    """Keeps at most ``max_fps`` frames per second of *stream time* (pts, seconds).

    Stream time is cut into slots of ``1 / max_fps`` seconds and the first frame of each slot is kept,
    so a 30 fps stream at ``max_fps=10`` keeps exactly every third frame and rounding never drifts.
    ``max_fps=None`` keeps everything.
    """

    def __init__(self, max_fps: float | None) -> None:
        self.max_fps = max_fps
        self._last_slot: int | None = None

    def keep(self, pts: float) -> bool:
        if self.max_fps is None:
            return True
        # 1e-6 absorbs float error such as 0.3 * 10 = 2.9999999999999996.
        slot = math.floor(pts * self.max_fps + 1e-6)
        if self._last_slot is not None and slot <= self._last_slot:
            return False
        self._last_slot = slot
        return True


class FrameQueue:
    """Bounded, thread-safe frame queue for live sources: ``put`` never blocks.

    When full, the OLDEST frame is discarded (and counted in ``dropped``) so the consumer always gets
    the freshest frames and the decode thread never waits on a slow consumer.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self._items: deque[Frame] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
            self._cond.notify()

    def get(self, timeout: float) -> Frame | None:
        """Next frame, or None after ``timeout`` seconds or once closed and drained."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Wake any waiting reader; frames still queued can be drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Backoff:
    """Exponential backoff with jitter: initial, 2x initial, ... capped at ``maximum`` seconds.

    Each delay is scaled by a random factor in [1 - jitter, 1] so many cameras that fail together
    (a switch reboot) do not reconnect in lock-step.
    """

    def __init__(
        self, initial: float, maximum: float, jitter: float = 0.25, rng: random.Random | None = None
    ) -> None:
        if initial <= 0 or maximum <= 0:
            raise ValueError(f"backoff delays must be > 0, got initial={initial}, maximum={maximum}")
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._next = initial

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; doubles the following one."""
        base = self._next
        self._next = min(self._next * 2.0, self.maximum)
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._next = self.initial

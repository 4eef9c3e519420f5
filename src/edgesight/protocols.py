"""The narrow seams between components. Each implementation lives in its own module.

Shapes and units are part of the contract: boxes are xyxy float32 in *frame* pixels,
times are seconds of stream time (Frame.pts) unless named wall/UNIX time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from edgesight.types import Detections, Event, Frame

__all__ = ["Backend", "Detector", "EventSink", "Rule", "Source", "Tracker"]


@runtime_checkable
class Source(Protocol):
    """A stream of frames. Live sources decode in their own thread and never block the reader."""

    name: str
    is_live: bool

    def frames(self) -> Iterator[Frame]:
        """Yield frames until the source ends (files) or close() is called (live)."""
        ...

    def close(self) -> None: ...

    def stats(self) -> dict[str, int | float | str]:
        """Counters: decoded, dropped (queue full), corrupt (skipped), reconnects, state."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Runs a model: input tensors in, output tensors out. No pre/post-processing."""

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@runtime_checkable
class Detector(Protocol):
    """Backend + preprocessing + decoder: BGR frames in, Detections (frame pixels) out."""

    names: dict[int, str]
    max_batch: int  # 1 when the model has a static batch of 1

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


@runtime_checkable
class Tracker(Protocol):
    """Assigns tracker_id; returns new Detections (never mutates its input)."""

    def update(self, detections: Detections, t: float) -> Detections: ...


@runtime_checkable
class Rule(Protocol):
    """Turns tracked detections over time into events (start/update/end)."""

    name: str

    def step(self, detections: Detections, frame: Frame) -> list[Event]: ...

    def flush(self, frame: Frame | None) -> list[Event]:
        """End every open event (end of stream)."""
        ...


class EventSink(Protocol):
    def write(self, event: Event, frame: Frame | None) -> None: ...

    def close(self) -> None: ...

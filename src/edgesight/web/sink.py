"""Feeding a LiveView from the runner: an event sink that publishes annotated frames, events, stats.

The runner calls every sink with each event message *as stored* (snapshot path set, flushed
events at the end of a source included) and with each processed frame and its tracked detections,
so a sink sees more than ``on_frame`` does. Drawing happens only on frames the view will keep
(``LiveView.wants_frame``): with nobody watching that is ``idle_fps`` frames a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesight.pipeline.annotate import FrameAnnotator
from edgesight.types import Detections, Event, Frame
from edgesight.web.live_view import LiveView

if TYPE_CHECKING:
    from edgesight.config import PipelineConfig
    from edgesight.pipeline.runner import Runner

__all__ = ["LiveViewSink", "attach"]


class LiveViewSink:
    """An ``EventSink`` (see ``edgesight.pipeline.sinks``) that feeds a ``LiveView``.

    Args:
        view: the view to publish to (started or not; the sink never stops it).
        cfg: the pipeline config, for zone polygons and counting lines drawn on the frames;
            None draws boxes only.
        stats: returns the run summary (``PipelineMetrics.summary``); called at most every
            ``stats_interval`` seconds from the frame path while someone watches
            (``LiveView.watched``), and once more on ``close()``.
        stats_interval: seconds between stats updates.
    """

    def __init__(
        self,
        view: LiveView,
        cfg: PipelineConfig | None = None,
        *,
        stats: Callable[[], dict[str, Any]] | None = None,
        stats_interval: float = 1.0,
    ) -> None:
        self.view = view
        self.stats = stats
        self.stats_interval = float(stats_interval)
        self._next_stats = 0.0
        self.annotator = FrameAnnotator(cfg)

    def write(self, event: Event, frame: Frame | None) -> None:
        self.annotator.observe(event)
        self.view.publish_event(event)

    def frame(self, source_id: str, frame: Frame, detections: Detections) -> None:
        if self.view.wants_frame(source_id):
            self.view.publish_frame(source_id, self.annotate(frame, detections))
        if self.stats is not None:
            now = time.monotonic()
            if now >= self._next_stats and self.view.watched:
                self._next_stats = now + self.stats_interval
                self.view.publish_stats(self.stats())

    def annotate(self, frame: Frame, detections: Detections) -> np.ndarray:
        """A new (H, W, 3) uint8 BGR image: zones, lines with in/out counts, boxes, a caption."""
        return self.annotator.annotate(frame, detections)

    def close(self) -> None:
        if self.stats is not None:
            self.view.publish_stats(self.stats())


def attach(runner: Runner, view: LiveView) -> LiveViewSink:
    """Make ``runner`` feed ``view``: appends a ``LiveViewSink`` to ``runner.sinks``.

    Also points the view at the run's event store (for snapshot thumbnails) if it has none.
    Call before ``runner.run()``; publish ``RunResult.summary`` afterwards for exact final stats.
    """
    if view.store_root is None:
        view.store_root = runner.cfg.store.path
    sink = LiveViewSink(view, runner.cfg, stats=runner.metrics.summary)
    runner.sinks.append(sink)
    return sink

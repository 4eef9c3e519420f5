"""Directed line crossing with in/out counts.

Semantics (frame pixels, y down; times in stream seconds):

- The line is the SEGMENT start -> end, not the infinite line: a track's anchor must step across
  the segment itself; passing beside an end changes its side silently.
- Direction: ``in`` = from the RIGHT of start -> end to its LEFT as seen on screen, ``out`` = the
  other way. (Right = positive :func:`~edgesight.rules.geometry.signed_distance`.)
- Hysteresis: a track's side only changes once its anchor is at least ``min_distance`` px past
  the line, so jitter on the line never counts; the crossing counts if some step since the track
  last stood firmly on the old side went across the segment.
- Per-track ``cooldown_seconds``: a crossing within that long of the track's last counted one is
  neither counted nor emitted.
- Counts include both directions; events are emitted for ``directions`` only. Each event is a
  point event (``kind="line_cross"``), attributes ``direction``, ``in_count``, ``out_count``.
- Needs ``tracker_id``: without tracks nothing can cross.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesight.config import LineRuleConfig
from edgesight.rules.geometry import segments_intersect, signed_distance
from edgesight.rules.lifecycle import _EPS, BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["LineRule"]

KIND_CROSS = "line_cross"


@dataclass
class _Track:
    side: int  # +1 right, -1 left, 0 not yet firmly on a side
    prev: np.ndarray  # (2,) last anchor, frame pixels
    last_seen: float
    crossed_at: float | None = None  # first step across the segment since leaving the firm side
    best: BestMoment = field(default_factory=BestMoment)


class LineRule(ConfiguredRule[LineRuleConfig]):
    """A directed counting line (see module docstring).

    Args:
        cfg: the line's config. device_id: stamped on events. snapshots: snapshot settings (None = no snapshots).
    """

    def _setup(self) -> None:
        cfg = self.cfg
        self.start = np.asarray(cfg.start, np.float64)
        self.end = np.asarray(cfg.end, np.float64)
        self.in_count = 0
        self.out_count = 0
        self._tracks: dict[int, _Track] = {}

    def _side(self, d: float) -> int:
        if d >= self.cfg.min_distance and d > 0:
            return 1
        if d <= -self.cfg.min_distance and d < 0:
            return -1
        return 0

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        t = frame.pts
        events: list[Event] = []
        if detections.tracker_id is not None and len(detections):
            anchors = detections.anchor(self.cfg.anchor).astype(np.float64)
            dist = signed_distance(anchors, self.start, self.end)
            tids = detections.tracker_id.tolist()
            known = [i for i, tid in enumerate(tids) if tid in self._tracks]
            stepped = np.zeros(len(tids), bool)
            if known:
                prev = np.stack([self._tracks[tids[i]].prev for i in known])
                stepped[known] = segments_intersect(prev, anchors[known], self.start, self.end)
            names = detections.class_names
            for i, tid in enumerate(tids):
                side = self._side(float(dist[i]))
                st = self._tracks.get(tid)
                if st is None:
                    self._tracks[tid] = _Track(side=side, prev=anchors[i], last_seen=t)
                    continue
                st.prev, st.last_seen = anchors[i], t
                box, conf = detections.xyxy[i], float(detections.confidence[i])
                if stepped[i] and st.crossed_at is None and st.side != 0:
                    st.crossed_at, st.best = t, BestMoment()
                if st.crossed_at is not None:
                    st.best.offer(frame, box, conf, self.lifecycle.keeper)
                if side == 0:
                    continue
                if st.side == 0 or side == st.side:
                    if st.crossed_at is not None:  # came back: drop the candidate (and its frame copy)
                        st.crossed_at, st.best = None, BestMoment()
                    st.side = side
                    continue
                # Firmly on the other side now.
                crossed_at, best = st.crossed_at, st.best
                st.side, st.crossed_at, st.best = side, None, BestMoment()
                if crossed_at is not None:
                    events.extend(self._count(tid, side, frame, crossed_at, best, names[i], box, conf))
        lost = [k for k, s in self._tracks.items() if t - s.last_seen >= self.cfg.lost_seconds - _EPS]
        for k in lost:
            del self._tracks[k]
        return events

    def _count(
        self,
        tid: int,
        side: int,
        frame: Frame,
        crossed_at: float,
        best: BestMoment,
        class_name: str,
        box: np.ndarray,
        conf: float,
    ) -> list[Event]:
        key = (KIND_CROSS, tid)
        if not self.cooldown.ready(key, frame.pts):
            return []
        self.cooldown.mark(key, frame.pts)
        direction = "in" if side < 0 else "out"  # now on the left = came from the right = in
        if direction == "in":
            self.in_count += 1
        else:
            self.out_count += 1
        if direction not in self.cfg.directions:
            return []
        ev = self.lifecycle.instant(
            kind=KIND_CROSS,
            frame=frame,
            zone=self.name,
            track_id=tid,
            class_name=class_name,
            confidence=conf,
            box=box,
            start_pts=crossed_at,
            best=best,
            attributes={"direction": direction, "in_count": self.in_count, "out_count": self.out_count},
        )
        return [ev]

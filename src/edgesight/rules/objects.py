"""Tracked-object events: one event per track, from first sight to disappearance (Frigate-style).

The default rule when a pipeline names none, so `edgesight run --source V --model M` stores what it saw.
Times are stream seconds: a track must be visible ``min_seconds`` before its event starts, and the
event ends ``lost_seconds`` after the track was last seen (or at end of stream). The snapshot is the
track's most confident, sharpest moment. Attributes: ``seen_seconds`` (end message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgesight.config import ObjectRuleConfig
from edgesight.rules.lifecycle import BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["ObjectRule"]

KIND_OBJECT = "object"


@dataclass
class _Seen:
    first: float
    last: float
    class_name: str
    best: BestMoment = field(default_factory=BestMoment)


class ObjectRule(ConfiguredRule[ObjectRuleConfig]):
    """One ``object`` event per confirmed track (needs ``tracker_id``)."""

    def _setup(self) -> None:
        self._seen: dict[int, _Seen] = {}

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        out: list[Event] = []
        t = frame.pts
        if detections.tracker_id is not None:
            names = detections.class_names
            for i, tid in enumerate(detections.tracker_id.tolist()):
                box, conf = detections.xyxy[i], float(detections.confidence[i])
                s = self._seen.get(tid)
                if s is None:
                    s = self._seen[tid] = _Seen(first=t, last=t, class_name=names[i])
                s.last = t
                key = ("object", tid)
                if self.lifecycle.is_open(key):
                    self.lifecycle.observe(key, frame, box, conf)
                elif t - s.first >= self.cfg.min_seconds:
                    s.best.offer(frame, box, conf, self.lifecycle.keeper)
                    if self.cooldown.ready(key, t):
                        self.cooldown.mark(key, t)
                        out.append(
                            self.lifecycle.open(
                                key,
                                kind=KIND_OBJECT,
                                frame=frame,
                                track_id=tid,
                                class_name=s.class_name,
                                start_pts=s.first,
                                best=s.best,
                            )
                        )
                else:
                    s.best.offer(frame, box, conf, self.lifecycle.keeper)
        for tid, s in list(self._seen.items()):
            if t - s.last >= self.cfg.lost_seconds:
                key = ("object", tid)
                if self.lifecycle.is_open(key):
                    out.append(
                        self.lifecycle.close(
                            key, frame, {"seen_seconds": round(s.last - s.first, 3)}, end_pts=s.last
                        )
                    )
                del self._seen[tid]
        return out

    def _flush(self, frame: Frame | None) -> list[Event]:
        out = []
        for tid, s in list(self._seen.items()):
            key = ("object", tid)
            if self.lifecycle.is_open(key):
                out.append(
                    self.lifecycle.close(
                        key, frame, {"seen_seconds": round(s.last - s.first, 3)}, end_pts=s.last
                    )
                )
        self._seen.clear()
        return out

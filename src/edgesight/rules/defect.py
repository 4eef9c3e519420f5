"""Defect on a part: one event per part track.

Each frame, every defect detection (``defect_classes``, confidence >= ``defect_min_confidence``) is
matched to the part box (``classes``, tracked) that contains the largest share of it; it counts for
that part when at least ``min_overlap`` of the defect box's area lies inside the part box (frame
pixels). A part whose defect has been seen in at least ``min_hits`` frames spanning at least
``min_seconds`` of stream time gets ONE point event (kind ``defect``, ``track_id`` = the part track,
``start_pts`` = the first sighting, attributes ``defect_class``, ``defect_confidence`` (best), ``hits``,
``defect_box``); the snapshot is the part at its best moment. A part track is never reported twice;
its memory is dropped after it has been unseen for ``lost_seconds``. Needs ``tracker_id`` on the
detections (the defect detections themselves need no track).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgesight.config import DefectRuleConfig
from edgesight.rules.lifecycle import _EPS, BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["KIND_DEFECT", "DefectRule", "containment"]

KIND_DEFECT = "defect"


def containment(inner: npt.ArrayLike, outer: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(K, P) share of each ``inner`` box's area that lies inside each ``outer`` box (xyxy, pixels)."""
    a = np.asarray(inner, np.float64).reshape(-1, 4)
    b = np.asarray(outer, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-9)[:, None]
    return np.asarray(iw * ih / area)


@dataclass
class _Part:
    last_seen: float = 0.0
    first_hit: float | None = None
    hits: int = 0
    reported: bool = False
    defect_class: str | None = None
    defect_confidence: float = 0.0
    defect_box: list[float] | None = None
    best: BestMoment = field(default_factory=BestMoment)


class DefectRule(ConfiguredRule[DefectRuleConfig]):
    """Defect rule (see the module docstring). One instance per source."""

    role_filtered = True

    def _setup(self) -> None:
        cfg = self.cfg
        self._part_classes = set(cfg.classes or ["part"])
        self._defects = set(cfg.defect_classes)
        self._parts: dict[int, _Part] = {}

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        t = frame.pts
        events: list[Event] = []
        if detections.tracker_id is not None and len(detections):
            names = np.asarray(detections.class_names, dtype=object)
            conf = detections.confidence
            pi = np.flatnonzero(np.isin(names, list(self._part_classes)) & (conf >= self.cfg.min_confidence))
            di = np.flatnonzero(
                np.isin(names, list(self._defects)) & (conf >= self.cfg.defect_min_confidence)
            )
            for i in pi:
                tid = int(detections.tracker_id[i])
                self._parts.setdefault(tid, _Part()).last_seen = t
            if len(pi) and len(di):
                share = containment(detections.xyxy[di], detections.xyxy[pi])  # (D, P)
                best_part = np.argmax(share, axis=1)
                hit_by: dict[int, list[int]] = {}
                for k, j in enumerate(best_part):
                    if share[k, j] >= self.cfg.min_overlap - _EPS:
                        hit_by.setdefault(int(pi[j]), []).append(int(di[k]))
                for row, ds in hit_by.items():
                    events.extend(self._hit(detections, row, ds, frame))
        for tid, st in list(self._parts.items()):
            if t - st.last_seen >= self.cfg.lost_seconds - _EPS:
                del self._parts[tid]
        return events

    def _hit(self, dets: Detections, i: int, defects: list[int], frame: Frame) -> list[Event]:
        assert dets.tracker_id is not None
        t = frame.pts
        tid = int(dets.tracker_id[i])
        st = self._parts[tid]
        if st.reported:
            return []
        st.hits += 1
        if st.first_hit is None:
            st.first_hit = t
        names = dets.class_names
        for k in defects:
            c = float(dets.confidence[k])
            if c > st.defect_confidence:
                st.defect_confidence, st.defect_class = c, names[k]
                st.defect_box = [round(float(v), 1) for v in dets.xyxy[k]]
        st.best.offer(frame, dets.xyxy[i], float(dets.confidence[i]), self.lifecycle.keeper)
        if st.hits < self.cfg.min_hits or t - st.first_hit < self.cfg.min_seconds - _EPS:
            return []
        key = (KIND_DEFECT, tid)
        if not self.cooldown.ready(key, t):
            return []
        self.cooldown.mark(key, t)
        st.reported = True
        best, st.best = st.best, BestMoment()
        return [
            self.lifecycle.instant(
                kind=KIND_DEFECT,
                frame=frame,
                track_id=tid,
                class_name=names[i],
                start_pts=st.first_hit,
                best=best,
                attributes={
                    "defect_class": st.defect_class,
                    "defect_confidence": round(st.defect_confidence, 4),
                    "defect_box": st.defect_box,
                    "hits": st.hits,
                },
            )
        ]

    def _flush(self, frame: Frame | None) -> list[Event]:
        self._parts.clear()
        return []

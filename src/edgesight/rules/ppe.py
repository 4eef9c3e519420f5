"""PPE compliance: a person seen without a required item (a hard hat) for ``min_seconds``.

Association (frame pixels, y down): an item (``required_classes``, e.g. hard_hat) or a
missing-item detection (``missing_classes``, e.g. a bare head) belongs to a person when the item
box's centre lies in the person's *head region*: the top ``head_fraction`` of the person box,
widened by 15% on each side. An item inside several head regions goes to the person whose head
region centre is nearest. Each person track then gets, per frame, one observation:

- ``ok``: a required item is on the head;
- ``missing``: a missing-item detection is on the head and no required item;
- ``unknown``: neither (the head is occluded or too small). With ``require_evidence`` off,
  ``unknown`` counts as ``missing``.

Voting over stream time (robust to single-frame detector misses):

- the event *starts* (kind ``ppe``, ``start_pts`` = the first ``missing`` observation of the window)
  once the track has been seen for ``min_seconds``, over the last ``min_seconds`` at least
  ``min_fraction`` of its known observations are ``missing``, and over the last ``clear_seconds``
  most of them still are;
- it *ends* when, over the last ``clear_seconds``, at least ``min_fraction`` are ``ok``
  (``reason = "complied"``), when the person is unseen for ``lost_seconds`` (``"lost"``), leaves the
  optional ``zone`` (``"left_zone"``), or the stream ends.

One event per violation episode and track; ``cooldown_seconds`` suppresses a new episode of the same
track for that long. Needs tracked detections (``tracker_id``); without it the rule stays silent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from edgesight.config import PpeRuleConfig
from edgesight.rules.geometry import points_in_polygon
from edgesight.rules.lifecycle import _EPS, BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["KIND_PPE", "PpeRule", "associate_to_heads"]

KIND_PPE = "ppe"
Status = Literal["ok", "missing", "unknown"]


def associate_to_heads(
    persons: npt.NDArray[np.float32], items: npt.NDArray[np.float32], head_fraction: float
) -> npt.NDArray[np.int64]:
    """Which person each item box belongs to.

    Args:
        persons: (P, 4) person boxes xyxy, frame pixels.
        items: (K, 4) item boxes xyxy, frame pixels.
        head_fraction: top fraction of a person box that is its head region.

    Returns:
        (K,) int64 person index per item, -1 for an item on nobody's head.
    """
    if len(persons) == 0 or len(items) == 0:
        return np.full((len(items),), -1, np.int64)
    p = np.asarray(persons, np.float64)
    w = p[:, 2] - p[:, 0]
    hx1, hx2 = p[:, 0] - 0.15 * w, p[:, 2] + 0.15 * w
    hy1, hy2 = p[:, 1] - 0.05 * (p[:, 3] - p[:, 1]), p[:, 1] + head_fraction * (p[:, 3] - p[:, 1])
    it = np.asarray(items, np.float64)
    cx, cy = ((it[:, 0] + it[:, 2]) / 2)[:, None], ((it[:, 1] + it[:, 3]) / 2)[:, None]
    inside = (cx >= hx1) & (cx <= hx2) & (cy >= hy1) & (cy <= hy2)  # (K, P)
    d2 = (cx - (hx1 + hx2) / 2) ** 2 + (cy - (hy1 + hy2) / 2) ** 2
    d2 = np.where(inside, d2, np.inf)
    best = np.argmin(d2, axis=1)
    return np.where(np.isfinite(d2[np.arange(len(it)), best]), best, -1).astype(np.int64)


@dataclass
class _Person:
    obs: deque[tuple[float, Status]] = field(default_factory=deque)
    first_seen: float = 0.0
    last_seen: float = 0.0
    class_name: str | None = None
    best: BestMoment = field(default_factory=BestMoment)


class PpeRule(ConfiguredRule[PpeRuleConfig]):
    """PPE rule (see the module docstring). One instance per source.

    Args:
        cfg: the rule config. device_id, snapshots, long_event_seconds: see :class:`LifecycleRule`.
    """

    role_filtered = True

    def _setup(self) -> None:
        cfg = self.cfg
        self._person_classes = set(cfg.classes or ["person"])
        self._required = set(cfg.required_classes)
        self._missing = set(cfg.missing_classes)
        self._zone = None if cfg.zone is None else np.asarray(cfg.zone, np.float64)
        self._people: dict[int, _Person] = {}

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        t = frame.pts
        events: list[Event] = []
        if detections.tracker_id is not None and len(detections):
            names = np.asarray(detections.class_names, dtype=object)
            conf = detections.confidence
            is_person = np.isin(names, list(self._person_classes)) & (conf >= self.cfg.min_confidence)
            if self._zone is not None and is_person.any():
                feet = detections.anchor("bottom_center")
                in_zone = points_in_polygon(feet, self._zone)
                left = [int(detections.tracker_id[i]) for i in np.flatnonzero(is_person & ~in_zone)]
                for tid in left:
                    events.extend(self._end(tid, frame, "left_zone"))
                    self._people.pop(tid, None)
                is_person &= in_zone
            item_ok = conf >= self.cfg.item_min_confidence
            req = np.isin(names, list(self._required)) & item_ok
            miss = np.isin(names, list(self._missing)) & item_ok
            pidx = np.flatnonzero(is_person)
            iidx = np.flatnonzero(req | miss)
            owner = associate_to_heads(detections.xyxy[pidx], detections.xyxy[iidx], self.cfg.head_fraction)
            has_req = np.zeros(len(pidx), bool)
            has_miss = np.zeros(len(pidx), bool)
            for k, o in zip(iidx, owner, strict=True):
                if o >= 0:
                    if req[k]:
                        has_req[o] = True
                    else:
                        has_miss[o] = True
            for j, i in enumerate(pidx):
                status: Status = "ok" if has_req[j] else "missing" if has_miss[j] else "unknown"
                if status == "unknown" and not self.cfg.require_evidence:
                    status = "missing"
                events.extend(self._observe(int(detections.tracker_id[i]), status, frame, detections, int(i)))
        # people unseen for lost_seconds
        for tid, st in list(self._people.items()):
            if t - st.last_seen >= self.cfg.lost_seconds - _EPS:
                events.extend(self._end(tid, frame, "lost"))
                del self._people[tid]
        return events

    def _observe(self, tid: int, status: Status, frame: Frame, dets: Detections, i: int) -> list[Event]:
        t = frame.pts
        st = self._people.get(tid)
        if st is None:
            st = self._people[tid] = _Person(first_seen=t)
        st.last_seen = t
        st.class_name = dets.class_names[i]
        box, conf = dets.xyxy[i], float(dets.confidence[i])
        st.obs.append((t, status))
        horizon = max(self.cfg.min_seconds, self.cfg.clear_seconds) + 1.0
        while st.obs and st.obs[0][0] < t - horizon:
            st.obs.popleft()
        key = (KIND_PPE, tid)
        if self.lifecycle.is_open(key):
            self.lifecycle.observe(key, frame, box, conf)
            ok, missing, _ = self._votes(st, t - self.cfg.clear_seconds)
            if ok and ok >= self.cfg.min_fraction * (ok + missing) - _EPS:
                return self._end(tid, frame, "complied")
            return []
        if status == "missing":
            st.best.offer(frame, box, conf, self.lifecycle.keeper)
        if t - st.first_seen < self.cfg.min_seconds - _EPS:
            return []
        ok, missing, first_missing = self._votes(st, t - self.cfg.min_seconds)
        if missing == 0 or missing < self.cfg.min_fraction * (ok + missing) - _EPS:
            if ok > missing:
                st.best = BestMoment()
            return []
        ok_now, missing_now, _ = self._votes(st, t - self.cfg.clear_seconds)
        if missing_now <= ok_now:  # the violation must still be going on, not just in the window's past
            return []
        if not self.cooldown.ready(key, t):
            return []
        self.cooldown.mark(key, t)
        best, st.best = st.best, BestMoment()
        missing_names = sorted(self._required)
        return [
            self.lifecycle.open(
                key,
                kind=KIND_PPE,
                frame=frame,
                track_id=tid,
                class_name=st.class_name,
                confidence=conf,
                box=box,
                attributes={"missing": missing_names[0] if len(missing_names) == 1 else missing_names},
                start_pts=first_missing,
                best=best,
            )
        ]

    @staticmethod
    def _votes(st: _Person, since: float) -> tuple[int, int, float]:
        ok = missing = 0
        first = st.obs[-1][0]
        for t, s in st.obs:
            if t < since - _EPS:
                continue
            if s == "ok":
                ok += 1
            elif s == "missing":
                if missing == 0:
                    first = t
                missing += 1
        return ok, missing, first

    def _end(self, tid: int, frame: Frame, reason: str) -> list[Event]:
        key = (KIND_PPE, tid)
        if not self.lifecycle.is_open(key):
            return []
        return [self.lifecycle.close(key, frame, {"reason": reason})]

    def _flush(self, frame: Frame | None) -> list[Event]:
        self._people.clear()
        return []

"""Polygon zones: enter / exit / occupancy / dwell events, debounced in stream seconds.

Semantics (all times are ``Frame.pts`` seconds, so the same events come out at any fps):

- A track's anchor point (``bottom_center`` or ``center`` of its box, frame pixels) is tested
  against the polygon. A track first seen counts as *outside*: one that appears inside enters.
- ``enter``/``exit``: the anchor must stay on the new side for ``debounce_seconds`` before the
  change counts, so jitter at the boundary does not flicker. The event's ``start_pts`` is the
  moment the anchor first crossed; it is emitted (one ``end`` message, a point event) when the
  change is confirmed. A track unseen for ``lost_seconds`` while inside gets an exit with
  ``attributes.reason = "lost"``.
- ``dwell``: opens (``start``) when a track has been inside for ``dwell_seconds`` (``start_pts`` =
  when it entered), ends when it exits, is lost, or the stream ends.
- ``occupancy``: open while the zone holds >= 1 object (no tracker needed); an ``update`` each time
  the debounced count changes; attributes ``count`` and ``max_count``.
- ``cooldown_seconds``: after an event of a kind for a track, the same kind for that track is
  suppressed that long (occupancy: per zone).
- Enter/exit/dwell need ``tracker_id`` on the detections; without a tracker only occupancy works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesight.config import ZoneRuleConfig
from edgesight.rules.geometry import points_in_polygon
from edgesight.rules.lifecycle import _EPS, BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["ZoneRule"]

KIND_ENTER = "zone_enter"
KIND_EXIT = "zone_exit"
KIND_DWELL = "dwell"
KIND_OCCUPANCY = "occupancy"


@dataclass
class _Track:
    inside: bool = False
    entered_pts: float | None = None  # when the confirmed stay inside began
    pending_since: float | None = None  # anchor on the other side since (stream s)
    pending_best: BestMoment = field(default_factory=BestMoment)
    last_seen: float = 0.0
    class_name: str | None = None


@dataclass
class _Occupancy:
    count: int = 0  # debounced count
    max_count: int = 0
    pending_since: float | None = None
    pending_best: BestMoment = field(default_factory=BestMoment)


class ZoneRule(ConfiguredRule[ZoneRuleConfig]):
    """A polygon zone (see module docstring for the event semantics).

    Args:
        cfg: the zone's config (polygon in frame pixels).
        device_id: stamped on events. snapshots: snapshot settings (None = no snapshots).
        long_event_seconds: dwell/occupancy events send their snapshot early after this long.
    """

    def _setup(self) -> None:
        cfg = self.cfg
        self.polygon = np.asarray(cfg.polygon, np.float64).reshape(-1, 2)
        self._wants = set(cfg.events)
        self._tracks: dict[int, _Track] = {}
        self._occ = _Occupancy()

    @property
    def occupancy(self) -> int:
        """The zone's current (debounced) object count."""
        return self._occ.count

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        t = frame.pts
        inside = points_in_polygon(detections.anchor(self.cfg.anchor), self.polygon)
        events: list[Event] = []
        if "occupancy" in self._wants:
            events.extend(self._occupancy(detections, inside, frame))
        if detections.tracker_id is None:
            events.extend(self._forget_lost(frame))
            return events
        names = detections.class_names
        for i, tid in enumerate(detections.tracker_id.tolist()):
            st = self._tracks.get(tid)
            if st is None:
                st = self._tracks[tid] = _Track()
            st.last_seen = t
            st.class_name = names[i]
            box, conf = detections.xyxy[i], float(detections.confidence[i])
            raw = bool(inside[i])
            if raw == st.inside:
                if st.pending_since is not None:  # back on its side: drop the candidate and its frame copy
                    st.pending_since, st.pending_best = None, BestMoment()
            else:
                if st.pending_since is None:
                    st.pending_since = t
                    st.pending_best = BestMoment()
                st.pending_best.offer(frame, box, conf, self.lifecycle.keeper)
                if t - st.pending_since >= self.cfg.debounce_seconds - _EPS:
                    events.extend(self._flip(tid, st, frame, box, conf))
            if st.inside:
                events.extend(self._dwell(tid, st, frame, box, conf))
        events.extend(self._forget_lost(frame))
        return events

    # ------------------------------------------------------------------ per-track transitions
    def _flip(self, tid: int, st: _Track, frame: Frame, box: np.ndarray, conf: float) -> list[Event]:
        since = st.pending_since if st.pending_since is not None else frame.pts
        best, st.pending_since, st.pending_best = st.pending_best, None, BestMoment()
        st.inside = not st.inside
        if st.inside:
            st.entered_pts = since
            return self._point(KIND_ENTER, tid, st, frame, since, best, {})
        return self._leave(tid, st, frame, since, best, reason="exit")

    def _leave(
        self, tid: int, st: _Track, frame: Frame, since: float, best: BestMoment | None, reason: str
    ) -> list[Event]:
        inside_s = since - st.entered_pts if st.entered_pts is not None else None
        st.inside, st.entered_pts = False, None
        out: list[Event] = []
        key = (KIND_DWELL, tid)
        if self.lifecycle.is_open(key):
            out.append(
                self.lifecycle.close(
                    key, frame, {"inside_seconds": inside_s, "reason": reason}, end_pts=since
                )
            )
            self.cooldown.mark(key, frame.pts)
        attrs: dict[str, object] = {"inside_seconds": inside_s}
        if reason != "exit":
            attrs["reason"] = reason
        out.extend(self._point(KIND_EXIT, tid, st, frame, since, best, attrs))
        return out

    def _point(
        self,
        kind: str,
        tid: int,
        st: _Track,
        frame: Frame,
        since: float,
        best: BestMoment | None,
        attrs: dict[str, object],
    ) -> list[Event]:
        wanted = "enter" if kind == KIND_ENTER else "exit"
        key = (kind, tid)
        if wanted not in self._wants or not self.cooldown.ready(key, frame.pts):
            return []
        self.cooldown.mark(key, frame.pts)
        ev = self.lifecycle.instant(
            kind=kind,
            frame=frame,
            zone=self.name,
            track_id=tid,
            class_name=st.class_name,
            start_pts=since,
            best=best,
            attributes=attrs,
        )
        return [ev]

    def _dwell(self, tid: int, st: _Track, frame: Frame, box: np.ndarray, conf: float) -> list[Event]:
        if "dwell" not in self._wants or st.entered_pts is None:
            return []
        key = (KIND_DWELL, tid)
        if self.lifecycle.is_open(key):
            self.lifecycle.observe(key, frame, box, conf)
            return []
        inside_s = frame.pts - st.entered_pts
        if inside_s < self.cfg.dwell_seconds - _EPS or not self.cooldown.ready(key, frame.pts):
            return []
        ev = self.lifecycle.open(
            key,
            kind=KIND_DWELL,
            frame=frame,
            zone=self.name,
            track_id=tid,
            class_name=st.class_name,
            confidence=conf,
            box=box,
            start_pts=st.entered_pts,
            attributes={"dwell_seconds": self.cfg.dwell_seconds, "inside_seconds": inside_s},
        )
        return [ev]

    def _forget_lost(self, frame: Frame) -> list[Event]:
        out: list[Event] = []
        for tid in [
            k for k, s in self._tracks.items() if frame.pts - s.last_seen >= self.cfg.lost_seconds - _EPS
        ]:
            st = self._tracks.pop(tid)
            if st.inside:
                out.extend(self._leave(tid, st, frame, st.last_seen, None, reason="lost"))
        return out

    def _flush(self, frame: Frame | None) -> list[Event]:
        # End open dwells with their final time inside; occupancy and the rest end in close_all.
        out: list[Event] = []
        for tid, st in self._tracks.items():
            key = (KIND_DWELL, tid)
            if self.lifecycle.is_open(key) and st.entered_pts is not None:
                end = st.last_seen if frame is None else frame.pts
                attrs = {"inside_seconds": end - st.entered_pts, "reason": "end_of_stream"}
                out.append(self.lifecycle.close(key, frame, attrs, end_pts=end))
        self._tracks.clear()
        self._occ = _Occupancy(count=self._occ.count, max_count=self._occ.max_count)
        return out

    # ------------------------------------------------------------------ occupancy
    def _occupancy(self, detections: Detections, inside: np.ndarray, frame: Frame) -> list[Event]:
        occ, t = self._occ, frame.pts
        idx = np.flatnonzero(inside)
        count = len(idx)
        top = int(idx[np.argmax(detections.confidence[idx])]) if count else -1
        box = detections.xyxy[top] if count else None
        conf = float(detections.confidence[top]) if count else None
        key = (KIND_OCCUPANCY, None)
        is_open = self.lifecycle.is_open(key)
        if count == occ.count:
            if occ.pending_since is not None:
                occ.pending_since, occ.pending_best = None, BestMoment()
        else:
            if occ.pending_since is None:
                occ.pending_since = t
                occ.pending_best = BestMoment()
            if count:
                occ.pending_best.offer(frame, box, conf, self.lifecycle.keeper)
            if t - occ.pending_since < self.cfg.debounce_seconds - _EPS:
                if is_open and count:
                    self.lifecycle.observe(key, frame, box, conf)
                return []
            since, best = occ.pending_since, occ.pending_best
            occ.count, occ.pending_since, occ.pending_best = count, None, BestMoment()
            occ.max_count = max(occ.max_count, count) if is_open else count
            attrs = {"count": count, "max_count": occ.max_count}
            if is_open and count == 0:
                return [self.lifecycle.close(key, frame, attrs, end_pts=since)]
            if is_open:
                self.lifecycle.observe(key, frame, box, conf)
                return [self.lifecycle.update(key, frame, attrs)]
            if count and self.cooldown.ready(key, t):
                self.cooldown.mark(key, t)
                names = detections.class_names
                return [
                    self.lifecycle.open(
                        key,
                        kind=KIND_OCCUPANCY,
                        frame=frame,
                        zone=self.name,
                        class_name=names[top],
                        confidence=conf,
                        box=box,
                        start_pts=since,
                        best=best,
                        attributes=attrs,
                    )
                ]
            return []
        if is_open and count:
            self.lifecycle.observe(key, frame, box, conf)
        return []

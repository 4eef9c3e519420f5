"""Near-miss: a person closer than ``distance`` to a vehicle.

Distance (per person-vehicle pair of tracks, every frame): from the person's feet (the bottom-centre
of its box) to the vehicle's *near edge* (the bottom edge of its box, where it touches the floor
closest to the camera), as a point-to-segment distance. Without a homography it is in frame
pixels. With ``homography`` (3x3, frame pixels -> ground plane, e.g. metres, as
``cv2.findHomography`` gives from four floor points) all three points are projected to the ground
first, so one threshold holds across the whole view despite perspective.

Lifecycle (stream seconds): a pair closer than ``distance`` for ``min_seconds`` opens one event
(kind ``near_miss``, ``track_id`` = the person, ``start_pts`` = when they first came close,
attributes ``vehicle_track_id``, ``vehicle_class``, ``min_distance``); it ends when the pair has been
farther than ``distance x hysteresis`` for ``clear_seconds`` (``reason = "apart"``), when either track
is unseen for ``lost_seconds`` (``"lost"``), or the stream ends. ``cooldown_seconds`` suppresses a new
event for the same pair that long. Needs tracked detections (``tracker_id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgesight.config import NearMissRuleConfig
from edgesight.errors import ConfigError
from edgesight.rules.lifecycle import _EPS, BestMoment, ConfiguredRule
from edgesight.types import Detections, Event, Frame

__all__ = ["KIND_NEAR_MISS", "NearMissRule", "feet_to_edge_distance"]

KIND_NEAR_MISS = "near_miss"


def _apply_h(h: npt.NDArray[np.float64] | None, pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if h is None:
        return pts
    q = np.concatenate([pts, np.ones((*pts.shape[:-1], 1))], axis=-1) @ h.T
    w = q[..., 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return np.asarray(q[..., :2] / w)


def feet_to_edge_distance(
    persons: npt.ArrayLike, vehicles: npt.ArrayLike, homography: npt.ArrayLike | None = None
) -> npt.NDArray[np.float64]:
    """(P, V) distances from each person's feet to each vehicle's near (bottom) edge.

    Args:
        persons: (P, 4) xyxy frame pixels.
        vehicles: (V, 4) xyxy frame pixels.
        homography: optional 3x3 frame pixels -> ground plane; distances are then in ground units.
    """
    p = np.asarray(persons, np.float64).reshape(-1, 4)
    v = np.asarray(vehicles, np.float64).reshape(-1, 4)
    h = None if homography is None else np.asarray(homography, np.float64).reshape(3, 3)
    feet = _apply_h(h, np.stack([(p[:, 0] + p[:, 2]) / 2, p[:, 3]], axis=1))  # (P, 2)
    a = _apply_h(h, np.stack([v[:, 0], v[:, 3]], axis=1))  # (V, 2)
    b = _apply_h(h, np.stack([v[:, 2], v[:, 3]], axis=1))
    ab = b - a  # (V, 2)
    ap = feet[:, None, :] - a[None, :, :]  # (P, V, 2)
    denom = np.maximum((ab**2).sum(-1), 1e-12)[None, :]
    f = np.clip((ap * ab[None]).sum(-1) / denom, 0.0, 1.0)
    closest = a[None] + f[..., None] * ab[None]
    return np.asarray(np.linalg.norm(feet[:, None, :] - closest, axis=-1))


@dataclass
class _Pair:
    close_since: float | None = None
    apart_since: float | None = None
    last_seen: float = 0.0
    min_distance: float = float("inf")
    best: BestMoment = field(default_factory=BestMoment)
    person_class: str | None = None
    vehicle_class: str | None = None


class NearMissRule(ConfiguredRule[NearMissRuleConfig]):
    """Near-miss rule (see the module docstring). One instance per source."""

    role_filtered = True

    def _setup(self) -> None:
        cfg = self.cfg
        self._h: npt.NDArray[np.float64] | None = None
        if cfg.homography is not None:
            h = np.asarray(cfg.homography, np.float64)
            if not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
                raise ConfigError(f"rule {cfg.name!r}: homography must be a finite, invertible 3x3 matrix")
            self._h = h
        self._persons = set(cfg.classes or ["person"])
        self._vehicles = set(cfg.vehicle_classes)
        self._pairs: dict[tuple[int, int], _Pair] = {}

    def _step(self, detections: Detections, frame: Frame) -> list[Event]:
        t = frame.pts
        events: list[Event] = []
        if detections.tracker_id is not None and len(detections):
            names = np.asarray(detections.class_names, dtype=object)
            ok = detections.confidence >= self.cfg.min_confidence
            pi = np.flatnonzero(np.isin(names, list(self._persons)) & ok)
            vi = np.flatnonzero(np.isin(names, list(self._vehicles)) & ok)
            if len(pi) and len(vi):
                d = feet_to_edge_distance(detections.xyxy[pi], detections.xyxy[vi], self._h)
                for a, i in enumerate(pi):
                    for b, j in enumerate(vi):
                        events.extend(self._pair(detections, int(i), int(j), float(d[a, b]), frame))
        for key, st in list(self._pairs.items()):
            if t - st.last_seen >= self.cfg.lost_seconds - _EPS:
                events.extend(self._end(key, frame, "lost"))
                del self._pairs[key]
        return events

    def _pair(self, dets: Detections, i: int, j: int, dist: float, frame: Frame) -> list[Event]:
        assert dets.tracker_id is not None
        t = frame.pts
        key = (int(dets.tracker_id[i]), int(dets.tracker_id[j]))
        close = dist < self.cfg.distance
        apart = dist > self.cfg.distance * self.cfg.hysteresis
        st = self._pairs.get(key)
        if st is None:
            if not close:
                return []  # only pairs that came close are remembered
            st = self._pairs[key] = _Pair()
        st.last_seen = t
        names = dets.class_names
        st.person_class, st.vehicle_class = names[i], names[j]
        box, conf = dets.xyxy[i], float(dets.confidence[i])
        ekey = (KIND_NEAR_MISS, *key)
        if self.lifecycle.is_open(ekey):
            if close:
                self.lifecycle.observe(ekey, frame, box, conf)
                st.min_distance = min(st.min_distance, dist)
            if apart:
                st.apart_since = t if st.apart_since is None else st.apart_since
                if t - st.apart_since >= self.cfg.clear_seconds - _EPS:
                    return self._end(key, frame, "apart")
            else:
                st.apart_since = None
            return []
        if not close:
            if apart:
                st.close_since, st.best, st.min_distance = None, BestMoment(), float("inf")
            return []
        if st.close_since is None:
            st.close_since = t
        st.min_distance = min(st.min_distance, dist)
        st.best.offer(frame, box, conf, self.lifecycle.keeper)
        if t - st.close_since < self.cfg.min_seconds - _EPS or not self.cooldown.ready(ekey, t):
            return []
        self.cooldown.mark(ekey, t)
        best, st.best = st.best, BestMoment()
        st.apart_since = None
        return [
            self.lifecycle.open(
                ekey,
                kind=KIND_NEAR_MISS,
                frame=frame,
                track_id=key[0],
                class_name=st.person_class,
                confidence=conf,
                box=box,
                attributes={
                    "vehicle_track_id": key[1],
                    "vehicle_class": st.vehicle_class,
                    "min_distance": round(st.min_distance, 3),
                    "units": "ground" if self._h is not None else "px",
                },
                start_pts=st.close_since,
                best=best,
            )
        ]

    def _end(self, key: tuple[int, int], frame: Frame | None, reason: str) -> list[Event]:
        ekey = (KIND_NEAR_MISS, *key)
        st = self._pairs.get(key)
        if not self.lifecycle.is_open(ekey):
            return []
        attrs: dict[str, object] = {"reason": reason}
        if st is not None and np.isfinite(st.min_distance):
            attrs["min_distance"] = round(st.min_distance, 3)
        if st is not None:
            st.close_since, st.apart_since, st.min_distance = None, None, float("inf")
        return [self.lifecycle.close(ekey, frame, attrs)]

    def _flush(self, frame: Frame | None) -> list[Event]:
        out: list[Event] = []
        for key in list(self._pairs):
            out.extend(self._end(key, frame, "end_of_stream"))
        self._pairs.clear()
        return out

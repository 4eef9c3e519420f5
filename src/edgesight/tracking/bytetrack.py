"""ByteTrack multi-object tracker (Zhang et al., ECCV 2022), with time in seconds.

Why our own: the maintained ByteTrack lives in the ``trackers`` package, which pulls ``opencv-python``
(the GUI build, which fights with ``opencv-python-headless`` over ``cv2``), ``supervision`` and
``matplotlib`` into the core install of a device. This module needs only numpy and ``lap``.

Algorithm (as the reference ``byte_tracker.py``):

1. Every track's Kalman state (``kalman.KalmanXYAH``, xyah) is predicted to the frame time ``t``.
2. High-confidence detections (``>= high_confidence``) are matched to confirmed tracked + lost tracks
   on ``1 - IoU * confidence`` (the reference's score fusion), accepted when ``IoU * conf >= match_iou``.
3. Low-confidence detections (``low_confidence <= conf < high_confidence``) recover still-tracked
   tracks left over, on plain IoU (>= 0.5 as in the reference). Tracks still unmatched become *lost*.
4. Unconfirmed tracks (born last detector frame) take remaining high detections (IoU * conf >= 0.3)
   and become confirmed with a fresh id; unmatched ones are removed.
5. Remaining high detections with ``conf >= new_track_confidence`` start unconfirmed tracks.
6. Lost tracks older than ``lost_track_seconds`` of stream time are removed; a lost track that
   overlaps a tracked one (IoU > 0.85) is a duplicate and the younger of the two is dropped.

Differences from the reference, on purpose: time is stream seconds (``update(detections, t)``), so
buffers and the motion model do not change with fps; matching is class-aware (a person never takes a
car's id); ids are given on confirmation, so they are consecutive (1, 2, 3...) and per tracker
instance (no class-level counter); the input is never mutated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import lap
import numpy as np
import numpy.typing as npt

from edgesight.boxes import box_iou
from edgesight.config import TrackerConfig
from edgesight.tracking.kalman import KalmanXYAH
from edgesight.types import Detections

__all__ = ["ByteTrack", "TrackState", "box_iou"]

TrackState = Literal["tracked", "lost", "removed"]

_LOW_MATCH_IOU = 0.5  # stage 3: low-confidence detections need a clear overlap (reference: 0.5)
_UNCONFIRMED_MATCH = 0.3  # stage 4: IoU * confidence for a newborn track's second hit (reference: 0.3)
_DUPLICATE_IOU = 0.85  # a tracked and a lost track overlapping this much are one object


def _assign(cost: npt.NDArray[np.float64], max_cost: float) -> list[tuple[int, int]]:
    """Min-cost assignment (Jonker-Volgenant) keeping only pairs with cost <= max_cost."""
    if cost.size == 0:
        return []
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=max_cost)
    return [(i, int(j)) for i, j in enumerate(x) if j >= 0 and cost[i, j] <= max_cost]


class _Track:
    """One object's Kalman state and bookkeeping (times in seconds of stream time)."""

    __slots__ = (
        "class_id",
        "cov",
        "last_seen_t",
        "mean",
        "score",
        "start_t",
        "state",
        "t",
        "track_id",
        "xyxy",
    )

    def __init__(
        self,
        mean: npt.NDArray[np.float64],
        cov: npt.NDArray[np.float64],
        class_id: int,
        score: float,
        t: float,
    ) -> None:
        self.class_id = class_id
        self.score = score
        self.start_t = t  # first detection
        self.last_seen_t = t  # last matched detection
        self.t = t  # time the Kalman state refers to
        self.track_id = 0  # 0 until confirmed
        self.state: TrackState = "tracked"
        self.mean = mean  # (8,) xyah + velocities
        self.cov = cov  # (8, 8)
        self.xyxy = _xyah_box(mean)  # (4,) box of `mean`, kept in step with it

    def set_state(self, mean: npt.NDArray[np.float64], cov: npt.NDArray[np.float64]) -> None:
        self.mean, self.cov = mean, cov
        self.xyxy = _xyah_box(mean)

    @property
    def confirmed(self) -> bool:
        return self.track_id > 0


def _xyah_box(mean: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    cx, cy, a, h = mean[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _box_xyah(box: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x1, y1, x2, y2 = box
    h = max(y2 - y1, 1e-6)
    return np.array([(x1 + x2) / 2, y1 + h / 2, (x2 - x1) / h, h])


class ByteTrack:
    """ByteTrack on Detections, one instance per video source.

    Example::

        tracker = ByteTrack(cfg.tracker)
        tracked = tracker.update(detections, frame.pts)   # detector ran on this frame
        coasted = tracker.coast(frame.pts)                # detector skipped (motion gate)

    Args:
        cfg: thresholds and the lost/min-age buffers in seconds of stream time.
    """

    def __init__(self, cfg: TrackerConfig | None = None) -> None:
        self.cfg = cfg or TrackerConfig.model_validate({})
        self._kf = KalmanXYAH()
        self._tracks: list[_Track] = []  # tracked + lost + unconfirmed (removed ones are dropped)
        self._next_id = 1
        self._last_t: float | None = None
        self._names: Mapping[int, str] = {}

    # ------------------------------------------------------------------ public API
    def update(self, detections: Detections, t: float) -> Detections:
        """Associate this frame's detections with the tracks.

        Args:
            detections: the detector's output for the frame at stream time ``t`` (never modified).
            t: stream time in seconds (``Frame.pts``); must not go backwards by design, a smaller value
                is treated as no time elapsed.

        Returns:
            New Detections holding only the input rows matched to confirmed tracks (older than
            ``min_track_seconds``), in input order, with ``tracker_id`` set; boxes are the detector's.
        """
        self._advance(t)
        self._names = detections.names
        cfg = self.cfg
        xyxy = detections.xyxy.astype(np.float64)
        conf = detections.confidence.astype(np.float64)
        cls = detections.class_id.astype(np.int64)
        # Rows with NaN/inf or empty boxes can never be matched by IoU: leave them out of every stage.
        valid = np.isfinite(xyxy).all(axis=1) & np.isfinite(conf)
        valid &= (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        high = np.flatnonzero(valid & (conf >= cfg.high_confidence))
        low = np.flatnonzero(valid & (conf >= cfg.low_confidence) & (conf < cfg.high_confidence))
        matched: dict[int, _Track] = {}  # detection row -> track
        hits: list[tuple[_Track, int]] = []  # (track, detection row): Kalman-updated together below

        # Stage 1: high detections vs confirmed tracks (tracked and lost).
        pool = [tr for tr in self._tracks if tr.confirmed]
        pairs = _assign(self._cost(pool, xyxy[high], conf[high], cls[high], fuse=True), 1.0 - cfg.match_iou)
        taken_tracks = set()
        taken_high = set()
        for ti, di in pairs:
            self._hit(pool[ti], int(high[di]), conf[high[di]], t, hits)
            matched[int(high[di])] = pool[ti]
            taken_tracks.add(ti)
            taken_high.add(di)

        # Stage 2: low detections recover tracks still in view (tracked, not lost).
        rest = [tr for i, tr in enumerate(pool) if i not in taken_tracks and tr.state == "tracked"]
        pairs = _assign(self._cost(rest, xyxy[low], conf[low], cls[low], fuse=False), 1.0 - _LOW_MATCH_IOU)
        recovered = set()
        for ti, di in pairs:
            self._hit(rest[ti], int(low[di]), conf[low[di]], t, hits)
            matched[int(low[di])] = rest[ti]
            recovered.add(ti)
        for i, tr in enumerate(rest):
            if i not in recovered:
                tr.state = "lost"

        # Stage 3: newborn tracks need a second high detection to be confirmed.
        left = np.array([d for i, d in enumerate(high) if i not in taken_high], dtype=np.int64)
        newborn = [tr for tr in self._tracks if not tr.confirmed]
        pairs = _assign(
            self._cost(newborn, xyxy[left], conf[left], cls[left], fuse=True), 1.0 - _UNCONFIRMED_MATCH
        )
        confirmed = set()
        used_left = set()
        for ti, di in pairs:
            tr = newborn[ti]
            self._hit(tr, int(left[di]), conf[left[di]], t, hits)
            tr.track_id = self._next_id
            self._next_id += 1
            matched[int(left[di])] = tr
            confirmed.add(ti)
            used_left.add(di)
        for i, tr in enumerate(newborn):
            if i not in confirmed:
                tr.state = "removed"

        # Stage 4: new tracks from confident unmatched detections.
        for i, di in enumerate(left):
            if i in used_left or conf[di] < cfg.new_track_confidence:
                continue
            mean, cov = self._kf.initiate(_box_xyah(xyxy[di]))
            self._tracks.append(_Track(mean, cov, int(cls[di]), float(conf[di]), t))

        self._correct(hits, xyxy)
        self._expire(t)
        self._drop_duplicates()
        self._tracks = [tr for tr in self._tracks if tr.state != "removed"]

        rows = sorted(
            r
            for r, tr in matched.items()
            if tr.confirmed and tr.state == "tracked" and self._old_enough(tr, t)
        )
        out = detections[np.asarray(rows, dtype=np.int64)]
        return out.with_tracker_id(np.array([matched[r].track_id for r in rows], dtype=np.int64))

    def coast(self, t: float) -> Detections:
        """Predict confirmed, in-view tracks to ``t`` without detections (the detector was skipped).

        Returns:
            New Detections: Kalman-predicted xyxy boxes (frame pixels), each track's last confidence and
            class, its ``tracker_id`` — the same ids ``update`` gives, so rules keep seeing the objects.
        """
        self._advance(t)
        self._expire(t)
        self._tracks = [tr for tr in self._tracks if tr.state != "removed"]
        shown = [
            tr for tr in self._tracks if tr.confirmed and tr.state == "tracked" and self._old_enough(tr, t)
        ]
        if not shown:
            return Detections.empty(self._names).with_tracker_id(np.zeros((0,), np.int64))
        return Detections(
            xyxy=np.stack([tr.xyxy for tr in shown]).astype(np.float32),
            confidence=np.array([tr.score for tr in shown], np.float32),
            class_id=np.array([tr.class_id for tr in shown], np.int32),
            tracker_id=np.array([tr.track_id for tr in shown], np.int64),
            names=self._names,
        )

    predict_only = coast

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._tracks = []
        self._next_id = 1
        self._last_t = None

    def stats(self) -> dict[str, int]:
        """Track counts: ``tracked`` (confirmed, in view), ``lost``, ``unconfirmed``, ``ids`` given so far."""
        return {
            "tracked": sum(tr.confirmed and tr.state == "tracked" for tr in self._tracks),
            "lost": sum(tr.state == "lost" for tr in self._tracks),
            "unconfirmed": sum(not tr.confirmed for tr in self._tracks),
            "ids": self._next_id - 1,
        }

    # ------------------------------------------------------------------ internals
    def _advance(self, t: float) -> None:
        if not math.isfinite(t):
            raise ValueError(f"tracker time must be a finite number of seconds, got {t!r}")
        if self._last_t is not None and t < self._last_t:
            t = self._last_t  # time never runs backwards for the filter
        self._last_t = t
        moving = [tr for tr in self._tracks if t > tr.t]
        if not moving:
            return
        # One batched predict for every track (they usually share the same dt).
        means, covs = self._kf.predict(
            np.stack([tr.mean for tr in moving]),
            np.stack([tr.cov for tr in moving]),
            np.array([t - tr.t for tr in moving]),
        )
        for k, tr in enumerate(moving):
            tr.set_state(means[k], covs[k])
            tr.t = t

    def _cost(
        self,
        tracks: list[_Track],
        boxes: npt.NDArray[np.float64],
        conf: npt.NDArray[np.float64],
        cls: npt.NDArray[np.int64],
        *,
        fuse: bool,
    ) -> npt.NDArray[np.float64]:
        """(T, D) cost = 1 - IoU (x confidence when ``fuse``); other-class pairs cost 1 (never match)."""
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)))
        iou = box_iou(np.stack([tr.xyxy for tr in tracks]), boxes)
        if fuse:
            iou = iou * conf[None, :]
        same = np.array([tr.class_id for tr in tracks])[:, None] == cls[None, :]
        return np.where(same, 1.0 - iou, 1.0)

    @staticmethod
    def _hit(tr: _Track, row: int, score: float, t: float, hits: list[tuple[_Track, int]]) -> None:
        tr.score = float(score)
        tr.last_seen_t = t
        tr.state = "tracked"
        hits.append((tr, row))

    def _correct(self, hits: list[tuple[_Track, int]], xyxy: npt.NDArray[np.float64]) -> None:
        """One batched Kalman update of every matched track with its detection's box."""
        if not hits:
            return
        x1, y1, x2, y2 = xyxy[[row for _, row in hits]].T
        h = np.maximum(y2 - y1, 1e-6)
        meas = np.stack([(x1 + x2) / 2, y1 + h / 2, (x2 - x1) / h, h], axis=1)
        means, covs = self._kf.update(
            np.stack([tr.mean for tr, _ in hits]), np.stack([tr.cov for tr, _ in hits]), meas
        )
        for k, (tr, _) in enumerate(hits):
            tr.set_state(means[k], covs[k])

    def _old_enough(self, tr: _Track, t: float) -> bool:
        return t - tr.start_t >= self.cfg.min_track_seconds - 1e-9

    def _expire(self, t: float) -> None:
        for tr in self._tracks:
            if tr.state == "lost" and t - tr.last_seen_t > self.cfg.lost_track_seconds:
                tr.state = "removed"

    def _drop_duplicates(self) -> None:
        tracked = [tr for tr in self._tracks if tr.state == "tracked" and tr.confirmed]
        lost = [tr for tr in self._tracks if tr.state == "lost"]
        if not tracked or not lost:
            return
        iou = box_iou(np.stack([tr.xyxy for tr in tracked]), np.stack([tr.xyxy for tr in lost]))
        for i, j in zip(*np.nonzero(iou > _DUPLICATE_IOU), strict=True):
            a, b = tracked[i], lost[j]
            if a.class_id != b.class_id:
                continue
            younger = a if (a.t - a.start_t) < (b.t - b.start_t) else b
            younger.state = "removed"

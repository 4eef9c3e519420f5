"""Multi-object tracking: assigns stable ``tracker_id`` values to detections over time.

Public API (what the runner uses)::

    from edgesight.tracking import ByteTrack

    tracker = ByteTrack(cfg.tracker)            # one per source; TrackerConfig thresholds, buffers in seconds
    tracked = tracker.update(detections, t)     # detector ran on the frame at stream time t (Frame.pts, s)
    coasted = tracker.coast(t)                  # detector skipped (motion gate): predicted boxes, same ids
    tracker.stats()                             # {"tracked", "lost", "unconfirmed", "ids"}

``update`` returns a NEW Detections holding only the detections matched to confirmed tracks, with
``tracker_id`` set (int64, consecutive from 1 per tracker); the input is never mutated. Boxes are xyxy
float32 in frame pixels. Matching is class-aware. ``predict_only`` is an alias of ``coast``.
"""

from __future__ import annotations

from edgesight.tracking.bytetrack import ByteTrack, box_iou
from edgesight.tracking.kalman import KalmanXYAH

__all__ = ["ByteTrack", "KalmanXYAH", "box_iou"]

"""Class-aware non-maximum suppression in numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edgesight.boxes import box_iou

__all__ = ["box_iou", "nms"]


def nms(
    xyxy: npt.ArrayLike,
    scores: npt.ArrayLike,
    class_id: npt.ArrayLike | None = None,
    iou_threshold: float = 0.45,
    max_detections: int | None = None,
) -> npt.NDArray[np.intp]:
    """Greedy NMS; boxes of different classes never suppress each other.

    Classes are kept apart with the offset trick: each class's boxes are shifted by
    ``class_id * (max coordinate + 1)`` so boxes of different classes cannot overlap.
    A box is suppressed when its IoU with a higher-scoring kept box is > ``iou_threshold``.
    Ties in score keep the lower index first (stable sort).

    Args:
        xyxy: (N, 4) boxes, any consistent pixel unit.
        scores: (N,) confidences.
        class_id: (N,) integer classes; None = class-agnostic.
        iou_threshold: IoU above which the lower-scoring box is dropped.
        max_detections: stop after keeping this many.

    Returns:
        (K,) indices into the inputs of the kept boxes, highest score first.
    """
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) != len(s):
        raise ValueError(f"xyxy has {len(boxes)} boxes but scores has {len(s)} values")
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.intp)
    if class_id is not None:
        c = np.asarray(class_id).reshape(-1)
        if len(c) != len(s):
            raise ValueError(f"xyxy has {len(boxes)} boxes but class_id has {len(c)} values")
        lo = float(boxes.min())
        span = float(boxes.max()) - lo + 1.0
        # Class k lands in [k * span, (k + 1) * span): no overlap across classes. New array, caller's untouched.
        boxes = (boxes - lo) + (c.astype(np.float32) * span)[:, None]
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-s, kind="stable")
    limit = len(order) if max_detections is None else max(0, int(max_detections))
    keep: list[int] = []
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)

"""Drawing boxes, track ids, zones and lines on frames (annotated video, web view)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgesight.config import LineRuleConfig, PipelineConfig, ZoneRuleConfig
from edgesight.types import Detections, Event, Frame

__all__ = ["FrameAnnotator", "color_for", "draw_detections", "draw_overlays"]

# A fixed, readable palette (BGR); colour follows the class so a class keeps its colour across runs.
_PALETTE = [
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (52, 147, 26),
    (187, 212, 0),
    (168, 153, 44),
    (255, 194, 0),
    (147, 69, 52),
    (255, 115, 100),
    (236, 24, 0),
    (255, 56, 132),
    (133, 0, 82),
    (255, 56, 203),
]


def color_for(class_id: int) -> tuple[int, int, int]:
    return _PALETTE[int(class_id) % len(_PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, *, thickness: int = 2) -> np.ndarray:
    """Draw boxes with "class #track conf" labels onto ``image`` in place; returns it.

    Args:
        image: (H, W, 3) uint8 BGR, modified in place (the caller passes its own copy).
        detections: boxes in the same image's pixels.
    """
    names = detections.class_names
    for i in range(len(detections)):
        x1, y1, x2, y2 = (round(float(v)) for v in detections.xyxy[i])
        color = color_for(int(detections.class_id[i]))
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
        label = names[i]
        if detections.tracker_id is not None:
            label += f" #{int(detections.tracker_id[i])}"
        label += f" {float(detections.confidence[i]):.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        ty = max(y1, th + base + 2)
        cv2.rectangle(image, (x1, ty - th - base - 2), (x1 + tw + 2, ty), color, -1)
        cv2.putText(
            image, label, (x1 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA
        )
    return image


def draw_overlays(
    image: np.ndarray,
    polygons: Sequence[tuple[str, np.ndarray]] = (),
    lines: Sequence[tuple[str, np.ndarray, str]] = (),
) -> np.ndarray:
    """Draw zones (translucent polygons) and counting lines with their labels, in place.

    Args:
        polygons: (name, (K, 2) float points in frame pixels).
        lines: (name, (2, 2) float endpoints in frame pixels, text such as "in 3 / out 1").
    """
    if polygons:
        overlay = image.copy()
        for _, pts in polygons:
            cv2.fillPoly(overlay, [np.round(pts).astype(np.int32)], (0, 140, 255))
        cv2.addWeighted(overlay, 0.18, image, 0.82, 0, dst=image)
        for name, pts in polygons:
            p = np.round(pts).astype(np.int32)
            cv2.polylines(image, [p], True, (0, 140, 255), 2, cv2.LINE_AA)
            cv2.putText(
                image,
                name,
                tuple(int(v) for v in p[0]),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 140, 255),
                1,
                cv2.LINE_AA,
            )
    for name, seg, text in lines:
        a, b = (tuple(round(float(v)) for v in pt) for pt in seg)
        cv2.line(image, a, b, (255, 0, 255), 2, cv2.LINE_AA)
        cv2.putText(
            image,
            f"{name}: {text}",
            (a[0], max(12, a[1] - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 0, 255),
            1,
            cv2.LINE_AA,
        )
    return image


class FrameAnnotator:
    """Draws a pipeline's zones, lines (with running in/out counts per source) and boxes on frames.

    Shared by the annotated-video sink and the live web view, so both show the same picture.
    Feed it every event message (:meth:`observe`) to keep the line counts current.
    """

    def __init__(self, cfg: PipelineConfig | None = None) -> None:
        self.zones: list[tuple[str, np.ndarray]] = []
        self.lines: list[tuple[str, np.ndarray]] = []
        if cfg is not None:
            self.zones = [
                (r.name, np.asarray(r.polygon, np.float32))
                for r in cfg.rules
                if isinstance(r, ZoneRuleConfig)
            ]
            self.lines = [
                (r.name, np.asarray([r.start, r.end], np.float32))
                for r in cfg.rules
                if isinstance(r, LineRuleConfig)
            ]
        self.counts: dict[tuple[str, str], dict[str, int]] = {}  # (source, line) -> in/out so far

    def observe(self, event: Event) -> None:
        """Update line counts from a ``line_cross`` event (its attributes carry the running counts)."""
        if event.kind == "line_cross" and event.zone is not None:
            c = self.counts.setdefault((event.source_id, event.zone), {"in": 0, "out": 0})
            c["in"] = int(event.attributes.get("in_count", c["in"]))
            c["out"] = int(event.attributes.get("out_count", c["out"]))

    def annotate(self, frame: Frame, detections: Detections) -> np.ndarray:
        """A new (H, W, 3) uint8 BGR image: zones, lines with counts, boxes, a caption (frame untouched)."""
        img = frame.image.copy()
        lines = []
        for name, seg in self.lines:
            c = self.counts.get((frame.source_id, name), {"in": 0, "out": 0})
            lines.append((name, seg, f"in {c['in']} / out {c['out']}"))
        draw_overlays(img, self.zones, lines)
        draw_detections(img, detections)
        caption = f"{frame.source_id} #{frame.index} t={frame.pts:.1f}s"
        cv2.putText(
            img,
            caption,
            (6, img.shape[0] - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return img

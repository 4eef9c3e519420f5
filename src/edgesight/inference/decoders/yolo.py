"""Ultralytics YOLO detection outputs (v5, v8, 11, and end-to-end exports).

Layouts, for a batch of B images and N candidate boxes:

* v8 / 11: ``[B, 4 + nc, N]``: cx, cy, w, h (model-input pixels) then nc class scores, no objectness.
  Also accepted transposed as ``[B, N, 4 + nc]`` when the class count is known.
* v5: ``[B, N, 5 + nc]``: cx, cy, w, h, objectness, nc class scores (confidence = objectness x class).
* end-to-end (``end2end`` / ``nms=True`` exports): ``[B, N, 6]``: x1, y1, x2, y2, score, class.

TFLite exports write boxes normalised to 0..1 (``normalized=True`` scales them to input pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgesight.errors import ModelError
from edgesight.inference.backends.base import TensorInfo
from edgesight.inference.decoders import ClassThresholds, Decoded
from edgesight.inference.nms import nms

__all__ = ["YoloDecoder", "YoloLayout", "detect_yolo_layout"]

Kind = Literal["v8", "v5", "end2end"]


@dataclass(frozen=True)
class YoloLayout:
    """Which YOLO output layout a model has.

    Attributes:
        kind: "v8" (also 11), "v5" or "end2end".
        num_classes: nc.
        channels_first: v8 only: ``[B, 4 + nc, N]`` (True, Ultralytics' export) or ``[B, N, 4 + nc]``.
        output_index: which model output holds the boxes.
    """

    kind: Kind
    num_classes: int
    channels_first: bool = False
    output_index: int = 0

    def describe(self) -> str:
        if self.kind == "v8":
            shape = (
                f"[B, {4 + self.num_classes}, N]"
                if self.channels_first
                else f"[B, N, {4 + self.num_classes}]"
            )
            return f"YOLOv8/11 {shape}, {self.num_classes} classes"
        if self.kind == "v5":
            return f"YOLOv5 [B, N, {5 + self.num_classes}], {self.num_classes} classes"
        return f"YOLO end-to-end [B, N, 6], {self.num_classes} classes"


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def detect_yolo_layout(
    outputs: list[TensorInfo], num_classes: int | None, end2end: bool = False, where: str = "model"
) -> YoloLayout:
    """Pick the YOLO layout from output shapes, the class count (metadata/labels) and the end2end flag.

    Without a known class count, ``[B, A, C]`` with A < C is read as v8 (nc = A - 4) and otherwise
    as v5 (nc = C - 5): v8's transposed layout needs the class count to be told apart from v5.

    Raises:
        ModelError: no 3-D output, or shapes that fit no YOLO layout for ``num_classes``.
    """
    cands = [(i, o) for i, o in enumerate(outputs) if len(o.shape) == 3]
    shapes = ", ".join(_fmt(o.shape) for o in outputs)
    if not cands:
        raise ModelError(
            f"{where}: outputs {shapes} match no detection layout "
            "(expected YOLO [1, 4+nc, N] / [1, N, 5+nc], or TFLite SSD boxes/classes/scores/count)"
        )
    idx, out = cands[0]
    _, a, c = out.shape
    if end2end and c == 6:
        return YoloLayout("end2end", num_classes or 0, output_index=idx)
    if num_classes is not None:
        nc = num_classes
        if a == 4 + nc:
            return YoloLayout("v8", nc, channels_first=True, output_index=idx)
        if c == 5 + nc:
            return YoloLayout("v5", nc, output_index=idx)
        if c == 4 + nc:
            return YoloLayout("v8", nc, channels_first=False, output_index=idx)
        raise ModelError(
            f"{where}: output {_fmt(out.shape)} does not fit {nc} classes: expected [1, {4 + nc}, N] "
            f"(YOLOv8/11) or [1, N, {5 + nc}] (YOLOv5); check the labels file or the model"
        )
    if a is not None and (c is None or a < c) and a > 4:
        return YoloLayout("v8", a - 4, channels_first=True, output_index=idx)
    if c is not None and c > 5:
        return YoloLayout("v5", c - 5, output_index=idx)
    raise ModelError(f"{where}: output {_fmt(out.shape)} fits no YOLO layout ([1, 4+nc, N] or [1, N, 5+nc])")


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(K, 4) cx, cy, w, h -> new (K, 4) float32 x1, y1, x2, y2."""
    out = np.empty((len(b), 4), dtype=np.float32)
    half = b[:, 2:4] / 2
    out[:, :2] = b[:, :2] - half
    out[:, 2:] = b[:, :2] + half
    return out


class YoloDecoder:
    """Decodes one YOLO layout: threshold, class-aware NMS, top ``max_detections``."""

    kind = "yolo"

    def __init__(
        self,
        layout: YoloLayout,
        input_hw: tuple[int, int],
        iou: float = 0.45,
        max_detections: int = 300,
        normalized: bool = False,
        max_candidates: int = 30000,
        multi_label: bool = False,
    ) -> None:
        """
        Args:
            layout: the output layout (see :func:`detect_yolo_layout`).
            input_hw: model input (height, width) in pixels.
            iou: class-aware NMS IoU threshold.
            max_detections: kept per image after NMS.
            normalized: boxes are 0..1 of the input size (TFLite exports).
            max_candidates: at most this many highest-scoring boxes enter NMS.
            multi_label: one candidate per (box, class) whose score passes that class's threshold,
                instead of only the box's best class (Ultralytics' ``multi_label``). Needed when two
                classes share a box, e.g. a ``defect`` that covers its whole ``part``.
        """
        self.layout = layout
        self.num_classes: int | None = layout.num_classes or None
        self.iou = iou
        self.max_detections = max_detections
        self.max_candidates = max_candidates
        self.multi_label = multi_label
        h, w = input_hw
        self._box_scale = np.array([w, h, w, h], dtype=np.float32) if normalized else None

    def decode(self, outputs: list[np.ndarray], index: int, thresholds: ClassThresholds) -> Decoded:
        """Decode image ``index``; returns boxes in model-input pixels, highest confidence first."""
        out = np.asarray(outputs[self.layout.output_index][index], dtype=np.float32)
        kind = self.layout.kind
        lowest = thresholds.lowest
        if not np.isfinite(lowest):
            return Decoded.empty()
        if kind == "end2end":
            conf = out[:, 4]
            keep = conf >= lowest
            rows = out[keep]
            cls = rows[:, 5].astype(np.int32)
            conf = rows[:, 4]
            boxes = rows[:, :4].astype(np.float32, copy=True)
            ok = conf >= thresholds.lookup(cls)
            return self._finish(boxes[ok], conf[ok], cls[ok], run_nms=False)
        if kind == "v8":
            scores = out[4:].T if self.layout.channels_first else out[:, 4:]  # (N, nc), a view
            xywh = out[:4].T if self.layout.channels_first else out[:, :4]
        else:  # v5: confidence = objectness x class score
            obj = out[:, 4]
            keep_obj = np.flatnonzero(obj >= lowest)
            scores = out[keep_obj, 5:] * obj[keep_obj, None]
            xywh = out[keep_obj, :4]
        if self.multi_label:
            limit = thresholds.lookup(np.arange(scores.shape[1]))
            anchor, col = np.nonzero(scores >= limit[None, :])
            cls = col.astype(np.int32)
            conf = scores[anchor, col]
            boxes = xywh[anchor]
        else:
            best = scores.max(axis=1)
            cand = np.flatnonzero(best >= lowest)
            cls = scores[cand].argmax(axis=1).astype(np.int32)
            conf = best[cand]
            boxes = xywh[cand]
        ok = conf >= thresholds.lookup(cls)
        return self._finish(_xywh_to_xyxy(boxes[ok]), conf[ok], cls[ok], run_nms=True)

    def _finish(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, run_nms: bool) -> Decoded:
        if self._box_scale is not None:
            xyxy = xyxy * self._box_scale
        if len(conf) > self.max_candidates:
            top = np.argsort(-conf, kind="stable")[: self.max_candidates]
            xyxy, conf, cls = xyxy[top], conf[top], cls[top]
        if run_nms:
            keep = nms(xyxy, conf, cls, self.iou, self.max_detections)
        else:
            keep = np.argsort(-conf, kind="stable")[: self.max_detections]
        return Decoded(
            xyxy[keep].astype(np.float32), conf[keep].astype(np.float32), cls[keep].astype(np.int32)
        )

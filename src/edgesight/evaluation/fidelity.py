"""Fidelity: score a model against a reference model's detections on the same frames (no labels).

The reference's detections at or above ``reference_confidence`` (0.25) play the ground truth, those
between ``ignore_confidence`` (0.1) and it are "don't care" regions (COCO crowd boxes); the candidate's
detections (run with a low confidence threshold, as for mAP) are scored with the COCO protocol
(class-averaged). A model compared with itself scores mAP50 = 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesight.evaluation.coco import CocoResult, detections_to_coco, evaluate_coco
from edgesight.types import Detections

__all__ = ["Agreement", "FidelityResult", "agreement", "fidelity", "pseudo_ground_truth"]


@dataclass(frozen=True)
class Agreement:
    """Box-level agreement at an operating threshold (greedy one-to-one match, same class, IoU >= iou).

    Attributes:
        matched: candidate boxes matched to a reference box.
        reference: reference boxes (>= confidence).
        candidate: candidate boxes (>= confidence).
        mean_iou: mean IoU of matched pairs (1.0 when nothing to match).
    """

    matched: int
    reference: int
    candidate: int
    mean_iou: float

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.candidate if self.candidate else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class FidelityResult:
    """mAP of a candidate against a reference's detections, plus operating-point agreement."""

    coco: CocoResult
    agreement: Agreement
    frames: int

    @property
    def map50(self) -> float:
        return self.coco.map50

    @property
    def map50_95(self) -> float:
        return self.coco.map50_95

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "map50": self.map50,
            "map50_95": self.map50_95,
            "reference_boxes": self.agreement.reference,
            "candidate_boxes": self.agreement.candidate,
            "matched": self.agreement.matched,
            "f1": self.agreement.f1,
            "mean_iou": self.agreement.mean_iou,
            "per_class": [c.__dict__ for c in self.coco.per_class],
        }


def pseudo_ground_truth(
    reference: Sequence[Detections],
    sizes: Sequence[tuple[int, int]],
    names: Mapping[int, str],
    min_confidence: float,
    ignore_confidence: float | None = None,
) -> dict[str, Any]:
    """A COCO dataset dict whose annotations are the reference's boxes (>= min_confidence).

    Args:
        reference: one Detections per frame (xyxy, frame pixels).
        sizes: (height, width) of each frame.
        names: class id -> name; category ids are the model class ids.
        ignore_confidence: reference boxes with ignore_confidence <= conf < min_confidence become
            "don't care" regions (COCO ``iscrowd``): the reference itself is unsure of them, so a
            candidate is neither rewarded nor penalised for finding them.
    """
    images = [
        {"id": i + 1, "width": int(w), "height": int(h), "file_name": f"{i}"}
        for i, (h, w) in enumerate(sizes)
    ]
    anns: list[dict[str, Any]] = []
    for i, det in enumerate(reference):
        lo = min_confidence if ignore_confidence is None else ignore_confidence
        keep = det.confidence >= lo
        for box, cls, conf in zip(det.xyxy[keep], det.class_id[keep], det.confidence[keep], strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(cls),
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": int(conf < min_confidence),
                }
            )
    ids = sorted(set(names) | {int(a["category_id"]) for a in anns})
    cats = [{"id": c, "name": names.get(c, str(c))} for c in ids]
    return {"images": images, "annotations": anns, "categories": cats}


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def agreement(
    candidate: Sequence[Detections],
    reference: Sequence[Detections],
    confidence: float = 0.25,
    iou: float = 0.5,
) -> Agreement:
    """Greedy one-to-one matching (highest IoU first, same class) of boxes >= ``confidence``."""
    matched = n_ref = n_cand = 0
    ious: list[float] = []
    for cand, ref in zip(candidate, reference, strict=True):
        c = cand[cand.confidence >= confidence]
        r = ref[ref.confidence >= confidence]
        n_ref += len(r)
        n_cand += len(c)
        if not len(c) or not len(r):
            continue
        m = _iou_matrix(c.xyxy.astype(np.float64), r.xyxy.astype(np.float64))
        m[c.class_id[:, None] != r.class_id[None, :]] = 0.0
        while True:
            k = int(np.argmax(m))
            i, j = divmod(k, m.shape[1])
            if m[i, j] < iou:
                break
            ious.append(float(m[i, j]))
            matched += 1
            m[i, :] = 0.0
            m[:, j] = 0.0
    return Agreement(matched, n_ref, n_cand, float(np.mean(ious)) if ious else 1.0)


def fidelity(
    candidate: Sequence[Detections],
    reference: Sequence[Detections],
    sizes: Sequence[tuple[int, int]],
    names: Mapping[int, str],
    reference_confidence: float = 0.25,
    ignore_confidence: float | None = 0.1,
) -> FidelityResult:
    """Score ``candidate`` detections against ``reference`` detections of the same frames.

    Args:
        candidate: the model under test, run with a low threshold (e.g. 0.001), frame pixels.
        reference: the reference model on the same frames (any threshold <= reference_confidence).
        sizes: (height, width) of each frame.
        names: class id -> name (shared by both models).
        reference_confidence: reference boxes at or above it are the ground truth.
        ignore_confidence: reference boxes from this confidence up to ``reference_confidence`` are
            "don't care" regions (None: none); without them a candidate that scores a borderline box
            0.26 where the reference said 0.24 counts as a false positive.
    """
    if len(candidate) != len(reference) or len(reference) != len(sizes):
        raise ValueError(
            f"expected one Detections per frame: {len(candidate)} vs {len(reference)} vs {len(sizes)}"
        )
    gt = pseudo_ground_truth(reference, sizes, names, reference_confidence, ignore_confidence)
    dets: list[dict[str, Any]] = []
    for i, det in enumerate(candidate):
        dets.extend(detections_to_coco(i + 1, det))
    result = evaluate_coco(gt, dets)
    return FidelityResult(result, agreement(candidate, reference, reference_confidence), len(reference))

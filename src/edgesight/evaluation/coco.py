"""COCO-protocol box evaluation (mAP50, mAP50-95, per-class AP) with faster-coco-eval.

Boxes cross this module in COCO json form: ``bbox`` = [x, y, width, height] in image pixels,
top-left origin. Ground truth is a COCO dataset dict (images, annotations, categories);
detections are a list of ``{"image_id", "category_id", "bbox", "score"}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesight.errors import ConfigError
from edgesight.types import Detections

__all__ = ["ClassAP", "CocoResult", "detections_to_coco", "evaluate_coco"]


@dataclass(frozen=True)
class ClassAP:
    """Average precision of one category (COCO protocol, area 'all', 100 detections per image)."""

    category_id: int
    name: str
    ap50_95: float
    ap50: float
    instances: int


@dataclass(frozen=True)
class CocoResult:
    """What :func:`evaluate_coco` measured. APs are in [0, 1]; -1 when no ground truth exists."""

    map50_95: float
    map50: float
    images: int
    instances: int
    detections: int
    per_class: list[ClassAP] = field(default_factory=list)
    stats: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "map50_95": self.map50_95,
            "map50": self.map50,
            "images": self.images,
            "instances": self.instances,
            "detections": self.detections,
            "per_class": [c.__dict__ for c in self.per_class],
            "coco_stats": self.stats,
        }


def detections_to_coco(
    image_id: int, detections: Detections, category_of: Mapping[int, int] | None = None
) -> list[dict[str, Any]]:
    """COCO result entries for one image.

    Args:
        image_id: the image's id in the ground truth.
        detections: boxes in that image's pixels (xyxy).
        category_of: model class id -> COCO category id (default: the same number); classes missing
            from the mapping are dropped (the dataset does not know them).
    """
    out: list[dict[str, Any]] = []
    for box, score, cls in zip(detections.xyxy, detections.confidence, detections.class_id, strict=True):
        c = int(cls)
        cat = c if category_of is None else category_of.get(c)
        if cat is None:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append(
            {
                "image_id": int(image_id),
                "category_id": int(cat),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(score),
            }
        )
    return out


def evaluate_coco(gt: Mapping[str, Any], detections: Sequence[Mapping[str, Any]]) -> CocoResult:
    """Evaluate ``detections`` against ``gt`` with faster-coco-eval (iouType bbox).

    Neither argument is modified (the evaluator annotates what it is given, so it gets copies).

    Raises:
        ConfigError: faster-coco-eval is not installed.
    """
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError:
        raise ConfigError("faster-coco-eval is not installed: pip install 'edgesight[eval]'") from None

    gt_copy = copy.deepcopy(dict(gt))
    gt_copy.setdefault("info", {})
    gt_copy.setdefault("licenses", [])
    coco_gt = COCO(gt_copy)
    cats = {int(c["id"]): str(c.get("name", c["id"])) for c in gt_copy.get("categories", [])}
    counts: dict[int, int] = {}
    for a in gt_copy.get("annotations", []):
        if not a.get("iscrowd", 0):
            counts[int(a["category_id"])] = counts.get(int(a["category_id"]), 0) + 1
    n_gt = sum(counts.values())
    dets = [dict(d) for d in detections]
    if not dets:
        return CocoResult(
            0.0 if n_gt else -1.0, 0.0 if n_gt else -1.0, len(gt_copy.get("images", [])), n_gt, 0
        )
    coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
    ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    stats = [float(s) for s in ev.stats]
    precision = np.asarray(
        ev.eval["precision"]
    )  # [T iou thresholds, R recall, K classes, A areas, M maxdets]
    cat_ids = list(ev.params.catIds)
    per_class = []
    for k, cat in enumerate(cat_ids):
        if counts.get(int(cat), 0) == 0:
            continue
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        p50 = p[0][p[0] > -1]
        per_class.append(
            ClassAP(
                int(cat),
                cats.get(int(cat), str(cat)),
                float(valid.mean()) if valid.size else -1.0,
                float(p50.mean()) if p50.size else -1.0,
                counts.get(int(cat), 0),
            )
        )
    return CocoResult(
        map50_95=stats[0],
        map50=stats[1],
        images=len(gt_copy.get("images", [])),
        instances=n_gt,
        detections=len(dets),
        per_class=per_class,
        stats=stats,
    )

"""Accuracy of a detector on held-out generated frames: COCO mAP50 and mAP50-95 (faster-coco-eval).

The frames come from :class:`edgesight.demo.scene.Scene` seeds never used for training
(:data:`HELDOUT_SEEDS`), so the figure is a fair held-out measure for the bundled model. The model
runs through :func:`edgesight.inference.detector.load_detector`, the same path ``edgesight run`` uses.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.demo import CLASS_NAMES
from edgesight.demo.scene import Scene
from edgesight.errors import ConfigError

__all__ = ["HELDOUT_SEEDS", "coco_map", "evaluate_model", "heldout_samples"]

#: Scene seeds reserved for evaluation (training uses seeds >= 1000).
HELDOUT_SEEDS: tuple[int, ...] = (91, 92)


def heldout_samples(
    seeds: Sequence[int] = HELDOUT_SEEDS, duration: float = 120.0, step: int = 10
) -> list[tuple[Scene, int]]:
    """(scene, frame index) pairs: every ``step``-th frame that holds at least one object."""
    out: list[tuple[Scene, int]] = []
    for s in seeds:
        sc = Scene(s, duration)
        out += [(sc, i) for i in range(0, sc.n_frames, step) if len(sc.boxes(i))]
    return out


def coco_map(
    gts: Sequence[np.ndarray], preds: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], nc: int
) -> dict[str, Any]:
    """COCO box mAP.

    Args:
        gts: per image, (M, >=5) rows (x1, y1, x2, y2, class_id, ...) in pixels.
        preds: per image, (xyxy (N, 4) pixels, scores (N,), class ids (N,)).
        nc: number of classes.

    Returns:
        {"map50": float, "map50_95": float, "per_class_ap50": {name: float}, "images": int}
    """
    from faster_coco_eval import COCO, COCOeval_faster

    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for k, (g, (xyxy, sc, cl)) in enumerate(zip(gts, preds, strict=True)):
        images.append({"id": k + 1, "width": 10_000, "height": 10_000})
        for r in g:
            w, h = float(r[2] - r[0]), float(r[3] - r[1])
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": k + 1,
                    "category_id": int(r[4]) + 1,
                    "bbox": [float(r[0]), float(r[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for b, s, c in zip(xyxy, sc, cl, strict=True):
            dets.append(
                {
                    "image_id": k + 1,
                    "category_id": int(c) + 1,
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                    "score": float(s),
                }
            )
    cats = [{"id": i + 1, "name": CLASS_NAMES[i] if i < len(CLASS_NAMES) else str(i)} for i in range(nc)]
    gt = COCO({"images": images, "annotations": anns, "categories": cats})
    dt = gt.loadRes(dets) if dets else COCO({"images": images, "annotations": [], "categories": cats})
    ev = COCOeval_faster(gt, dt, iouType="bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision: [T iou thresholds, R recall points, K classes, A areas, M max dets]
    prec = np.asarray(ev.eval["precision"])
    per_class = {}
    for k in range(nc):
        p = prec[0, :, k, 0, -1]
        p = p[p > -1]
        per_class[cats[k]["name"]] = round(float(p.mean()) if p.size else 0.0, 4)
    return {
        "map50": round(float(ev.stats[1]), 4),
        "map50_95": round(float(ev.stats[0]), 4),
        "per_class_ap50": per_class,
        "images": len(images),
    }


def evaluate_model(
    model: Path,
    seeds: Sequence[int] = HELDOUT_SEEDS,
    duration: float = 120.0,
    step: int = 10,
    confidence: float = 0.001,
    multi_label: bool = True,
) -> dict[str, Any]:
    """Run ``model`` (any detector edgesight can load) on held-out frames and return :func:`coco_map`'s dict.

    ``multi_label`` decodes every class above threshold per box, as the bundled pipeline does (and as
    Ultralytics' validator does): a wrong-colour part is both a ``part`` and a ``defect``.
    """
    from edgesight.config import ModelConfig
    from edgesight.inference.detector import load_detector

    if step < 1:
        raise ConfigError(f"evaluate: step must be >= 1, got {step}")
    det = load_detector(
        ModelConfig(
            path=Path(model), confidence=confidence, iou=0.6, max_detections=100, multi_label=multi_label
        )
    )
    gts, preds = [], []
    for sc, i in heldout_samples(seeds, duration, step):
        d = det.detect([sc.render(i)])[0]
        gts.append(sc.boxes(i))
        preds.append((d.xyxy, d.confidence, d.class_id))
    out = coco_map(gts, preds, len(CLASS_NAMES))
    out.update({"seeds": list(seeds), "duration": duration, "step": step, "multi_label": multi_label})
    return out

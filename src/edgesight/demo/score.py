"""Score a run's events against the scene's ground-truth events: precision and recall per kind.

An *event* here is one event id (its start/update/end messages folded together: earliest
``start_pts``, latest ``end_pts``, the last message's box). A predicted event matches a ground-truth
event of the same kind when

- **time**: its span ``[start_pts, end_pts]`` overlaps the ground-truth span widened by
  ``time_tolerance`` seconds on each side, and
- **position**: its box centre comes within ``max(min_distance_px, 0.5 x diagonal)`` pixels of the
  ground-truth object's box centre (the ground-truth track's per-frame boxes) at some frame of that
  overlap. Tracker ids are never compared: the run's tracker numbers objects its own way.

Matching is one-to-one, greedy by start-time difference. Precision = matched / predicted,
recall = matched / ground truth (1.0 when the denominator is 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesight.demo.scene import GroundTruth
from edgesight.types import Event

__all__ = ["DEMO_KINDS", "KindScore", "fold_events", "score_events"]

#: Event kinds the demo is scored on (ground truth and rules use the same names).
DEMO_KINDS: tuple[str, ...] = ("defect", "ppe", "zone_enter", "near_miss", "line_cross")


@dataclass(frozen=True)
class KindScore:
    """Counts for one event kind."""

    kind: str
    ground_truth: int
    predicted: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.ground_truth if self.ground_truth else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ground_truth": self.ground_truth,
            "predicted": self.predicted,
            "matched": self.matched,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def fold_events(messages: Iterable[Event | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One dict per event id: kind, start_pts, end_pts, box (last message's), track_id, attributes."""
    out: dict[str, dict[str, Any]] = {}
    for m in messages:
        d = m.model_dump() if isinstance(m, Event) else dict(m)
        cur = out.get(d["id"])
        end = d.get("end_pts")
        if cur is None:
            out[d["id"]] = {
                "id": d["id"],
                "kind": d["kind"],
                "start_pts": float(d["start_pts"]),
                "end_pts": float(end) if end is not None else float(d["start_pts"]),
                "box": d.get("box"),
                "track_id": d.get("track_id"),
                "attributes": dict(d.get("attributes") or {}),
                "seq": int(d.get("seq", 0)),
            }
            continue
        cur["start_pts"] = min(cur["start_pts"], float(d["start_pts"]))
        if end is not None:
            cur["end_pts"] = max(cur["end_pts"], float(end))
        if int(d.get("seq", 0)) >= cur["seq"]:
            cur["seq"] = int(d.get("seq", 0))
            cur["box"] = d.get("box") or cur["box"]
            cur["attributes"].update(d.get("attributes") or {})
    return sorted(out.values(), key=lambda e: (e["start_pts"], e["kind"]))


def _track_boxes(gt: GroundTruth) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """(class id, track id) -> (frame indices (K,), boxes (K, 4))."""
    acc: dict[tuple[int, int], tuple[list[int], list[np.ndarray]]] = {}
    for i, rows in enumerate(gt.boxes):
        for r in rows:
            key = (int(r[4]), int(r[5]))
            fr, bx = acc.setdefault(key, ([], []))
            fr.append(i)
            bx.append(r[:4])
    return {k: (np.asarray(f), np.asarray(b, np.float32).reshape(-1, 4)) for k, (f, b) in acc.items()}


def score_events(
    messages: Iterable[Event | Mapping[str, Any]],
    gt: GroundTruth,
    kinds: Sequence[str] = DEMO_KINDS,
    time_tolerance: float = 1.0,
    min_distance_px: float = 20.0,
) -> dict[str, KindScore]:
    """Precision/recall per kind of the run's event messages against ``gt.events`` (see module doc)."""
    fps = float(gt.meta.get("fps", 10.0))
    names = {int(k): v for k, v in dict(gt.meta.get("names", {})).items()}
    cls_of = {v: k for k, v in names.items()}
    tracks = _track_boxes(gt)
    preds = fold_events(messages)
    result: dict[str, KindScore] = {}
    for kind in kinds:
        p_k = [p for p in preds if p["kind"] == kind]
        g_k = [g for g in gt.events if g["kind"] == kind]
        pairs: list[tuple[float, int, int]] = []
        for gi, g in enumerate(g_k):
            tb = tracks.get((cls_of.get(g["class_name"], -1), int(g["track_id"])))
            for pi, p in enumerate(p_k):
                lo = max(p["start_pts"], g["start_pts"] - time_tolerance)
                hi = min(p["end_pts"], g["end_pts"] + time_tolerance)
                if lo > hi + 1e-9:
                    continue
                if p["box"] is not None and tb is not None:
                    frames, boxes = tb
                    sel = (frames >= round(lo * fps) - 1) & (frames <= round(hi * fps) + 1)
                    if not sel.any():
                        # the object is hidden in the overlap: compare with its nearest sighting
                        sel = np.zeros_like(frames, bool)
                        sel[int(np.argmin(np.abs(frames - lo * fps)))] = True
                    b = boxes[sel]
                    pb = np.asarray(p["box"], np.float32)
                    pc = (pb[:2] + pb[2:]) / 2
                    gc = (b[:, :2] + b[:, 2:]) / 2
                    diag = np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
                    if not np.any(np.linalg.norm(gc - pc, axis=1) <= np.maximum(min_distance_px, 0.5 * diag)):
                        continue
                pairs.append((abs(p["start_pts"] - g["start_pts"]), pi, gi))
        pairs.sort()
        used_p: set[int] = set()
        used_g: set[int] = set()
        for _, pi, gi in pairs:
            if pi not in used_p and gi not in used_g:
                used_p.add(pi)
                used_g.add(gi)
        result[kind] = KindScore(kind, len(g_k), len(p_k), len(used_p))
    return result

"""Class-aware NMS against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.inference.nms import box_iou, nms


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (
        max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    )
    return inter / union if union > 0 else 0.0


def _reference(boxes, scores, classes, thr, max_det=None):
    """Plain greedy NMS, one class at a time, python loops only."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if max_det is not None and len(kept) >= max_det:
            break
        same = [k for k in kept if classes is None or classes[k] == classes[i]]
        if all(_iou(boxes[i], boxes[k]) <= thr for k in same):
            kept.append(i)
    return kept


def _random_boxes(seed: int, n: int, n_classes: int, origin: float = 0.0):
    rng = np.random.default_rng(seed)
    # clustered boxes so that many overlap
    centers = rng.uniform(origin, origin + 200, size=(max(1, n // 6), 2))
    c = centers[rng.integers(0, len(centers), n)] + rng.normal(0, 8, size=(n, 2))
    wh = rng.uniform(10, 60, size=(n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    scores[rng.integers(0, n, n // 10)] = 0.5  # ties
    classes = rng.integers(0, n_classes, n).astype(np.int32)
    return boxes, scores, classes


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("n_classes", [1, 4])
def test_matches_brute_force(seed: int, thr: float, n_classes: int) -> None:
    boxes, scores, classes = _random_boxes(seed, 120, n_classes)
    got = nms(boxes, scores, classes, thr).tolist()
    assert got == _reference(boxes, scores, classes, thr)


@pytest.mark.parametrize("seed", range(4))
def test_class_agnostic_matches_brute_force(seed: int) -> None:
    boxes, scores, _ = _random_boxes(seed, 80, 3)
    assert nms(boxes, scores, None, 0.45).tolist() == _reference(boxes, scores, None, 0.45)


@pytest.mark.parametrize("seed", range(4))
def test_negative_coordinates_keep_classes_apart(seed: int) -> None:
    # boxes around the origin: the class offset must not let classes overlap
    boxes, scores, classes = _random_boxes(seed, 100, 5, origin=-150.0)
    assert nms(boxes, scores, classes, 0.5).tolist() == _reference(boxes, scores, classes, 0.5)


def test_overlapping_boxes_of_different_classes_both_kept() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, None, 0.5).tolist() == [0]


def test_max_detections_and_inputs_untouched() -> None:
    boxes, scores, classes = _random_boxes(3, 60, 2)
    before = (boxes.copy(), scores.copy(), classes.copy())
    keep = nms(boxes, scores, classes, 0.5, max_detections=5)
    assert keep.tolist() == _reference(boxes, scores, classes, 0.5, max_det=5)
    assert len(keep) == 5
    for a, b in zip(before, (boxes, scores, classes), strict=True):
        np.testing.assert_array_equal(a, b)


def test_empty_and_mismatched() -> None:
    assert nms(np.zeros((0, 4)), np.zeros((0,))).shape == (0,)
    with pytest.raises(ValueError):
        nms(np.zeros((2, 4)), np.zeros((3,)))


def test_box_iou_pairs() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float32)
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[:, 0], [1.0, 25 / 175], rtol=1e-6)
    assert np.all(iou[:, 1:] == 0)

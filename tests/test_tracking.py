"""ByteTrack: id stability, occlusion buffer in seconds, fps independence, crossing, classes, coasting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edgesight.config import TrackerConfig
from edgesight.protocols import Tracker
from edgesight.tracking import ByteTrack, box_iou
from edgesight.tracking.kalman import KalmanXYAH, xyah_to_xyxy, xyxy_to_xyah
from edgesight.types import Detections

NAMES = {0: "person", 2: "car"}


def dets(
    boxes: Sequence[Sequence[float]], conf: Sequence[float] | None = None, cls: Sequence[int] | None = None
) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.asarray(conf if conf is not None else [0.9] * n, np.float32),
        class_id=np.asarray(cls if cls is not None else [0] * n, np.int32),
        names=NAMES,
    )


def box_at(cx: float, cy: float, w: float = 40, h: float = 80) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def cfg(**kw: float) -> TrackerConfig:
    return TrackerConfig.model_validate(kw)


def run_linear(
    tracker: ByteTrack,
    fps: float,
    seconds: float,
    starts: Sequence[tuple[float, float]],
    velocities: Sequence[tuple[float, float]],
    hidden: Sequence[tuple[int, float, float]] = (),
    noise: float = 0.0,
    seed: int = 0,
) -> dict[int, list[int]]:
    """Objects moving at constant velocity (px/s); ``hidden`` = (object, from_s, to_s) with no detection.

    Returns object index -> tracker ids it was given, in time order.
    """
    rng = np.random.default_rng(seed)
    ids: dict[int, list[int]] = {k: [] for k in range(len(starts))}
    for i in range(round(seconds * fps)):
        t = i / fps
        boxes, owners = [], []
        for k, ((x0, y0), (vx, vy)) in enumerate(zip(starts, velocities, strict=True)):
            if any(k == o and a <= t < b for o, a, b in hidden):
                continue
            boxes.append(np.array(box_at(x0 + vx * t, y0 + vy * t)) + rng.normal(0, noise, 4))
            owners.append(k)
        out = tracker.update(dets(boxes), t)
        assert out.tracker_id is not None
        for row, tid in zip(out.xyxy, out.tracker_id, strict=True):
            iou = box_iou(row[None], np.asarray(boxes))[0]
            ids[owners[int(np.argmax(iou))]].append(int(tid))
    return ids


def distinct(ids: list[int]) -> list[int]:
    return sorted(set(ids))


def test_satisfies_tracker_protocol() -> None:
    assert isinstance(ByteTrack(), Tracker)


def test_update_never_mutates_and_returns_new_arrays() -> None:
    tracker = ByteTrack()
    d = dets([box_at(50, 50), box_at(200, 50)], [0.9, 0.8]).with_tracker_id([7, 8])
    copy = Detections(d.xyxy.copy(), d.confidence.copy(), d.class_id.copy(), d.tracker_id.copy(), d.names)
    for t in (0.0, 0.1, 0.2):
        out = tracker.update(d, t)
    assert len(out) == 2 and out.tracker_id is not None
    for name in ("xyxy", "confidence", "class_id", "tracker_id"):
        np.testing.assert_array_equal(getattr(d, name), getattr(copy, name))
        assert not np.shares_memory(getattr(out, name), getattr(d, name))
    assert list(out.tracker_id) == [1, 2]  # tracker's own ids, input ids untouched
    np.testing.assert_array_equal(out.xyxy, d.xyxy)  # boxes are the detector's


@pytest.mark.parametrize("fps", [5.0, 10.0, 30.0])
def test_ids_stable_under_noise(fps: float) -> None:
    ids = run_linear(ByteTrack(), fps, 4.0, [(50, 100), (300, 300)], [(40, 0), (-30, 10)], noise=2.0)
    assert distinct(ids[0]) == [1] and distinct(ids[1]) == [2]
    # Confirmed on the second frame and tracked on every frame after.
    assert len(ids[0]) == len(ids[1]) == round(4.0 * fps) - 1


@pytest.mark.parametrize("fps", [5.0, 30.0])
@pytest.mark.parametrize(("gap", "same_id"), [(1.0, True), (2.4, True), (3.6, False)])
def test_occlusion_buffer_is_in_seconds(fps: float, gap: float, same_id: bool) -> None:
    """lost_track_seconds=3: a gap shorter keeps the id at any fps, a longer one gives a new id."""
    tracker = ByteTrack(cfg(lost_track_seconds=3.0))
    ids = run_linear(tracker, fps, 8.0, [(60, 200)], [(30, 0)], hidden=[(0, 2.0, 2.0 + gap)], noise=1.0)
    assert (distinct(ids[0]) == [1]) is same_id
    if not same_id:
        assert distinct(ids[0]) == [1, 2]


def test_same_result_at_5_and_30_fps() -> None:
    scenario = {
        "seconds": 6.0,
        "starts": [(40, 100), (400, 110), (200, 300)],
        "velocities": [(50, 0), (-50, 0), (0, -20)],
        "hidden": [(2, 1.0, 2.5)],
        "noise": 1.5,
    }
    slow = run_linear(ByteTrack(), 5.0, **scenario)  # type: ignore[arg-type]
    fast = run_linear(ByteTrack(), 30.0, **scenario)  # type: ignore[arg-type]
    for k in range(3):
        assert len(distinct(slow[k])) == len(distinct(fast[k])) == 1
    assert sorted(distinct(slow[0] + slow[1] + slow[2])) == [1, 2, 3]
    assert sorted(distinct(fast[0] + fast[1] + fast[2])) == [1, 2, 3]


@pytest.mark.parametrize("fps", [5.0, 10.0, 30.0])
def test_crossing_objects_keep_their_ids(fps: float) -> None:
    # Two people walk through each other (boxes fully overlap mid-way), 10 px apart vertically.
    ids = run_linear(ByteTrack(), fps, 5.0, [(50, 200), (450, 210)], [(80, 0), (-80, 0)], noise=1.0)
    assert distinct(ids[0]) == [1]
    assert distinct(ids[1]) == [2]


def test_matching_is_class_aware() -> None:
    tracker = ByteTrack()
    for t in (0.0, 0.1, 0.2):
        out = tracker.update(dets([box_at(100, 100)], cls=[0]), t)
    assert list(out.tracker_id) == [1]
    # A car appears exactly where the person was: it must not inherit the person's id.
    for t in (0.3, 0.4):
        out = tracker.update(dets([box_at(100, 100)], cls=[2]), t)
    assert list(out.tracker_id) == [2]
    assert list(out.class_id) == [2]


def test_low_confidence_detections_keep_a_track_alive() -> None:
    tracker = ByteTrack(cfg(high_confidence=0.5, low_confidence=0.1))
    seen = []
    for i in range(20):
        conf = 0.9 if i < 5 or i >= 12 else 0.3  # partly occluded: the detector is unsure
        out = tracker.update(dets([box_at(50 + 5 * i, 100)], [conf]), i / 10)
        seen.append(out.tracker_id.tolist() if out.tracker_id is not None else None)
    assert all(s == [1] for s in seen[1:])


def test_low_confidence_detections_never_start_tracks() -> None:
    tracker = ByteTrack(cfg(high_confidence=0.5, new_track_confidence=0.6))
    for i in range(10):
        out = tracker.update(dets([box_at(100, 100)], [0.55]), i / 10)
        assert len(out) == 0
    assert tracker.stats()["ids"] == 0


def test_min_track_seconds_delays_reporting() -> None:
    tracker = ByteTrack(cfg(min_track_seconds=0.5))
    first = None
    for i in range(10):
        out = tracker.update(dets([box_at(100, 100)]), i / 10)
        if len(out) and first is None:
            first = i / 10
    assert first == pytest.approx(0.5)


def test_coast_predicts_boxes_with_the_same_ids() -> None:
    tracker = ByteTrack()
    for i in range(10):  # 100 px/s to the right
        tracker.update(dets([box_at(100 + 10 * i, 100)]), i / 10)
    coasted = tracker.coast(1.4)  # last detection at 0.9 s, x = 190
    assert list(coasted.tracker_id) == [1]
    cx = float(coasted.xyxy[0, 0] + coasted.xyxy[0, 2]) / 2
    assert cx == pytest.approx(240, abs=5)  # 190 + 100 px/s * 0.5 s
    assert coasted.names == NAMES and list(coasted.class_id) == [0]
    out = tracker.update(dets([box_at(250, 100)]), 1.5)
    assert list(out.tracker_id) == [1]


def test_coast_on_empty_tracker_and_empty_update() -> None:
    tracker = ByteTrack()
    c = tracker.coast(0.0)
    assert len(c) == 0 and c.tracker_id is not None
    out = tracker.update(Detections.empty(NAMES), 0.1)
    assert len(out) == 0 and out.tracker_id is not None and out.tracker_id.dtype == np.int64


def test_lost_tracks_expire_while_coasting() -> None:
    tracker = ByteTrack(cfg(lost_track_seconds=1.0))
    for i in range(5):
        tracker.update(dets([box_at(100, 100)]), i / 10)
    tracker.update(Detections.empty(NAMES), 0.5)
    assert tracker.stats()["lost"] == 1
    tracker.coast(1.2)
    assert tracker.stats()["lost"] == 1
    tracker.coast(1.6)
    assert tracker.stats()["lost"] == 0


def test_ids_are_per_tracker_instance() -> None:
    a, b = ByteTrack(), ByteTrack()
    for t in (0.0, 0.1):
        out_a = a.update(dets([box_at(10, 10)]), t)
        out_b = b.update(dets([box_at(10, 10)]), t)
    assert list(out_a.tracker_id) == list(out_b.tracker_id) == [1]


def test_time_going_backwards_does_not_crash() -> None:
    tracker = ByteTrack()
    tracker.update(dets([box_at(10, 10)]), 1.0)
    tracker.update(dets([box_at(10, 10)]), 0.5)
    with pytest.raises(ValueError, match="finite"):
        tracker.update(dets([box_at(10, 10)]), float("nan"))


def test_config_rejects_low_above_high() -> None:
    with pytest.raises(ValueError, match="low_confidence"):
        TrackerConfig.model_validate({"low_confidence": 0.7, "high_confidence": 0.5})


def test_box_iou_and_xyah_round_trip() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float32)
    iou = box_iou(a, a)
    np.testing.assert_allclose(np.diag(iou), 1.0)
    assert iou[0, 1] == pytest.approx(25 / 175)
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(a)), a, atol=1e-9)


def test_kalman_prediction_is_fps_independent() -> None:
    kf = KalmanXYAH()
    mean, cov = kf.initiate(np.array([100.0, 100.0, 0.5, 80.0]))
    mean[4] = 2.0  # 2 px per 1/30 s = 60 px/s
    one_m, one_c = kf.predict(mean, cov, 1.0)
    six_m, six_c = mean, cov
    for _ in range(6):
        six_m, six_c = kf.predict(six_m, six_c, 1 / 6)
    np.testing.assert_allclose(one_m, six_m)
    assert one_m[0] == pytest.approx(160.0)
    # Position variance grows by the same order whichever way the second is cut.
    assert 0.5 < six_c[0, 0] / one_c[0, 0] < 2.0


def test_invalid_boxes_are_ignored_not_tracked() -> None:
    tracker = ByteTrack()
    bad = dets(
        [box_at(100, 100), [np.nan, 0, 5, 5], [20, 20, 20, 40], box_at(300, 100)], [0.9, 0.9, 0.9, np.nan]
    )
    for t in (0.0, 0.1, 0.2):
        out = tracker.update(bad, t)
    assert list(out.tracker_id) == [1]
    np.testing.assert_array_equal(out.xyxy, bad.xyxy[:1])
    assert tracker.stats()["ids"] == 1 and tracker.stats()["unconfirmed"] == 0
    assert np.isfinite(tracker.coast(0.5).xyxy).all()

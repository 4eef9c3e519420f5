"""The synthetic site: determinism, ground truth consistency, caching, and event scoring."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import load_config
from edgesight.demo import CLASS_NAMES, asset_path
from edgesight.demo.scene import (
    FPS,
    HEIGHT,
    WIDTH,
    GroundTruth,
    Scene,
    ensure_scene,
    frames_digest,
    load_ground_truth,
)
from edgesight.demo.score import DEMO_KINDS, fold_events, score_events
from edgesight.errors import ConfigError, SourceError
from edgesight.rules import build_rules
from edgesight.tracking import ByteTrack
from edgesight.types import Detections, Event, Frame

SEED = 0  # a 60 s scene holding every event kind, several of most


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene(seed=SEED, duration=60.0)


@pytest.fixture(scope="module")
def gt(scene: Scene) -> GroundTruth:
    return scene.ground_truth()


def test_same_seed_same_frames_and_ground_truth(scene: Scene, gt: GroundTruth) -> None:
    again = Scene(seed=SEED, duration=60.0)
    assert frames_digest(scene, 40) == frames_digest(again, 40)
    # random access gives the same frame as sequential rendering
    assert np.array_equal(scene.render(500), again.render(500))
    a, b = gt.to_json(), again.ground_truth().to_json()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_different_seed_differs(scene: Scene, gt: GroundTruth) -> None:
    other = Scene(seed=SEED + 1, duration=60.0)
    assert frames_digest(scene, 40) != frames_digest(other, 40)
    assert gt.events != other.ground_truth().events


def test_frames_look_like_frames(scene: Scene) -> None:
    img = scene.render(100)
    assert img.shape == (HEIGHT, WIDTH, 3) and img.dtype == np.uint8
    # textured, noisy, not flat: plenty of distinct grey levels and local variation
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert len(np.unique(grey)) > 100
    assert float(cv2.Laplacian(grey, cv2.CV_64F).var()) > 20
    # sensor noise: two renders of a quiet moment differ frame to frame but only slightly
    q0, q1 = scene.render(int(27 * FPS)), scene.render(int(27 * FPS) + 1)
    d = np.abs(q0.astype(int) - q1.astype(int))
    assert 0 < d.mean() < 10


def test_ground_truth_boxes_and_events(scene: Scene, gt: GroundTruth) -> None:
    assert len(gt.boxes) == scene.n_frames == int(60 * FPS)
    rows = np.concatenate(gt.boxes)
    assert rows.shape[1] == 6
    assert (rows[:, 0] >= 0).all() and (rows[:, 2] <= WIDTH).all() and (rows[:, 3] <= HEIGHT).all()
    assert (rows[:, 2] > rows[:, 0]).all() and (rows[:, 3] > rows[:, 1]).all()
    assert set(np.unique(rows[:, 4]).astype(int)) == set(range(len(CLASS_NAMES)))
    counts = gt.counts()
    for kind in DEMO_KINDS:
        assert counts.get(kind, 0) >= 1, (kind, counts)
    # quiet period (24..30 s of each 30 s block): nothing on screen
    assert all(len(gt.boxes[i]) == 0 for i in range(int(25 * FPS), int(29 * FPS)))
    # every part crosses the counting line once
    parts = {int(r[5]) for r in rows if int(r[4]) == CLASS_NAMES.index("part")}
    assert counts["line_cross"] == len(parts)


@pytest.mark.parametrize(("seed", "duration"), [(-1, 60.0), (1, 0.0), (1, float("nan"))])
def test_bad_scene_arguments(seed: int, duration: float) -> None:
    with pytest.raises(ConfigError):
        Scene(seed, duration)


def test_render_out_of_range(scene: Scene) -> None:
    with pytest.raises(SourceError, match="frame index"):
        scene.render(scene.n_frames)


def test_ensure_scene_writes_then_reuses_cache(tmp_path: Path) -> None:
    video, gt_path = ensure_scene(3, 5.0, cache_dir=tmp_path)
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and n == int(5 * FPS) and first.shape == (HEIGHT, WIDTH, 3)
    # MJPG keeps the frame close to the rendered one
    assert np.abs(first.astype(int) - Scene(3, 5.0).render(0).astype(int)).mean() < 6
    stamp = (video.stat().st_mtime_ns, gt_path.stat().st_mtime_ns)
    assert ensure_scene(3, 5.0, cache_dir=tmp_path) == (video, gt_path)
    assert (video.stat().st_mtime_ns, gt_path.stat().st_mtime_ns) == stamp
    gt = load_ground_truth(gt_path)
    assert gt.meta["seed"] == 3 and len(gt.boxes) == n


def test_corrupt_ground_truth_file(tmp_path: Path) -> None:
    bad = tmp_path / "gt.json"
    bad.write_text("{not json")
    with pytest.raises(SourceError, match=r"gt\.json"):
        load_ground_truth(bad)
    bad.write_text('{"meta": {}}')
    with pytest.raises(SourceError, match="expected keys"):
        load_ground_truth(bad)


# ----------------------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def oracle(gt: GroundTruth) -> list[Event]:
    return oracle_events(gt)


def oracle_events(gt: GroundTruth, jitter: float = 1.0) -> list[Event]:
    """Ground-truth boxes (with pixel jitter) through the real tracker and the demo's rules."""
    cfg = load_config(asset_path("pipeline.yaml"))
    names = dict(enumerate(CLASS_NAMES))
    rules = build_rules(cfg.rules, names=names, snapshots=None)
    tracker = ByteTrack(cfg.tracker)
    rng = np.random.default_rng(0)
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    events: list[Event] = []
    for i, rows in enumerate(gt.boxes):
        f = Frame(img, "site", i, i / FPS, wall_time=float(i))
        xy = rows[:, :4] + rng.normal(0, jitter, (len(rows), 4)).astype(np.float32)
        d = Detections(xy, np.full(len(rows), 0.8, np.float32), rows[:, 4].astype(np.int32), None, names)
        d = tracker.update(d, f.pts)
        for r in rules:
            events += r.step(d, f)
    for r in rules:
        events += r.flush(None)
    return events


def test_perfect_detections_score_perfectly_through_tracker_and_rules(
    gt: GroundTruth, oracle: list[Event]
) -> None:
    scores = score_events(oracle, gt)
    for kind in DEMO_KINDS:
        s = scores[kind]
        assert s.ground_truth >= 1
        assert s.precision == 1.0 and s.recall == 1.0, s.to_dict()


def test_scoring_counts_misses_and_false_alarms(gt: GroundTruth, oracle: list[Event]) -> None:
    events = oracle
    folded = fold_events(events)
    defects = [e for e in folded if e["kind"] == "defect"]
    keep = [e for e in events if not (e.kind == "defect" and e.id == defects[0]["id"])]
    s = score_events(keep, gt)["defect"]
    assert s.recall == pytest.approx((s.ground_truth - 1) / s.ground_truth) and s.precision == 1.0
    # an event at the right time but on the wrong object does not match
    e0 = next(e for e in events if e.kind == "line_cross")
    wrong = e0.model_copy(update={"id": "X", "box": [0.0, 250.0, 10.0, 260.0]})
    s2 = score_events([*events, wrong], gt)["line_cross"]
    assert s2.predicted == s2.ground_truth + 1 and s2.matched == s2.ground_truth
    assert s2.precision < 1.0
    # an event far from any ground-truth time does not match either
    late = e0.model_copy(update={"id": "Y", "start_pts": 59.0, "end_pts": 59.0})
    assert score_events([late], gt)["line_cross"].matched == 0

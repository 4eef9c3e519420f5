"""End to end on a short seed: scene -> real runner (bundled model, tracker, rules, store) -> scores.

Issue 3's bar: event precision and recall >= 0.9 for every demo event kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesight.config import load_config
from edgesight.demo import asset_path
from edgesight.demo.run import demo_config, run_demo
from edgesight.demo.score import DEMO_KINDS

SEED, DURATION = 0, 60.0  # every kind present, several of most (see test_demo_scene)


def test_demo_config_points_at_the_scene_and_the_bundled_model(tmp_path: Path) -> None:
    cfg = demo_config(tmp_path / "scene.avi", tmp_path / "out")
    assert cfg.sources[0].path == tmp_path / "scene.avi"  # type: ignore[union-attr]
    assert cfg.model.path == asset_path("model.onnx") and cfg.model.path.is_file()
    assert cfg.store.path == tmp_path / "out" / "store"
    assert {r.type for r in cfg.rules} == {"zone", "line", "ppe", "near_miss", "defect"}
    # the bundled YAML itself validates on its own
    assert len(load_config(asset_path("pipeline.yaml")).rules) == len(cfg.rules)


@pytest.mark.slow
def test_demo_events_match_ground_truth(tmp_path: Path) -> None:
    """Issue 3's bar, on the short seed: precision and recall >= 0.9 for every kind (measured: all 1.0)."""
    res = run_demo(
        SEED, DURATION, tmp_path / "out", cache_dir=tmp_path / "cache", annotated=False, snapshots=False
    )
    table = {k: s.to_dict() for k, s in res.scores.items()}
    # every kind is present on this seed, several of most: a kind with nothing to find proves nothing
    assert {k: s.ground_truth for k, s in res.scores.items()} == {
        "defect": 7,
        "ppe": 3,
        "zone_enter": 4,
        "near_miss": 2,
        "line_cross": 15,
    }, table
    for kind in DEMO_KINDS:
        s = res.scores[kind]
        assert s.precision >= 0.9 and s.recall >= 0.9, table
    assert res.summary["frames"] == int(DURATION * 20)
    assert (res.store / "events.db").is_file()


def test_multi_label_finds_the_defect_that_shares_its_part_box() -> None:
    """A wrong-colour part's defect box IS the part's box. Best-class-per-box decoding reports only
    the higher of the two scores at that box (measured on this held-out seed: 19/36 such defects
    found); the bundled pipeline decodes multi-label and finds them all (36/36)."""
    import numpy as np

    from edgesight.boxes import box_iou
    from edgesight.config import ModelConfig
    from edgesight.demo import CLASS_NAMES
    from edgesight.demo.scene import Scene
    from edgesight.inference import load_detector

    assert load_config(asset_path("pipeline.yaml")).model.multi_label
    part, defect = CLASS_NAMES.index("part"), CLASS_NAMES.index("defect")
    sc = Scene(92, 60.0)
    shared: list[tuple[int, np.ndarray]] = []  # (frame, colour-defect boxes)
    for i in range(0, sc.n_frames, 5):
        b = sc.boxes(i)
        d, p = b[b[:, 4] == defect, :4], b[b[:, 4] == part, :4]
        if len(d) and len(p):
            same = d[box_iou(d, p).max(axis=1) > 0.95]
            if len(same):
                shared.append((i, same))
    total = sum(len(s) for _, s in shared)
    assert total >= 20
    found = {}
    for multi in (False, True):
        det = load_detector(ModelConfig(path=asset_path("model.onnx"), confidence=0.3, multi_label=multi))
        n = 0
        for i, boxes in shared:
            r = det(sc.render(i))
            got = r.xyxy[r.class_id == defect]
            n += int((box_iou(boxes, got).max(axis=1) >= 0.5).sum()) if len(got) else 0
        found[multi] = n
    assert found[True] >= 0.95 * total and found[True] >= found[False], (found, total)

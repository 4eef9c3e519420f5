"""Composite rules (PPE, near-miss, defect) on synthetic tracked Detections, stream-time driven."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edgesight.config import DefectRuleConfig, NearMissRuleConfig, PpeRuleConfig, parse_config
from edgesight.errors import ConfigError
from edgesight.rules import build_rule
from edgesight.rules.defect import DefectRule, containment
from edgesight.rules.near_miss import NearMissRule, feet_to_edge_distance
from edgesight.rules.ppe import PpeRule, associate_to_heads
from edgesight.types import Detections, Event, Frame

NAMES = {0: "person", 1: "hard_hat", 2: "head", 3: "forklift", 4: "part", 5: "defect"}
IMG = np.zeros((288, 512, 3), np.uint8)


def frame(i: int, fps: float = 10.0) -> Frame:
    return Frame(image=IMG, source_id="cam", index=i, pts=i / fps, wall_time=1000.0 + i / fps)


def dets(rows: Sequence[tuple[float, float, float, float, int, int]], conf: float = 0.9) -> Detections:
    """rows: (x1, y1, x2, y2, class_id, track_id)."""
    a = np.asarray(rows, np.float32).reshape(-1, 6)
    return Detections(
        xyxy=a[:, :4],
        confidence=np.full(len(a), conf, np.float32),
        class_id=a[:, 4].astype(np.int32),
        tracker_id=a[:, 5].astype(np.int64),
        names=NAMES,
    )


def person(tid: int, x: float = 100, y: float = 100, item: str | None = "hat") -> list[tuple]:
    """A 30x80 person at (x, y) top-left, with a hat, a bare head, or nothing detected on the head."""
    rows: list[tuple] = [(x, y, x + 30, y + 80, 0, tid)]
    if item == "hat":
        rows.append((x + 8, y - 2, x + 22, y + 6, 1, 100 + tid))
    elif item == "head":
        rows.append((x + 9, y, x + 21, y + 12, 2, 100 + tid))
    return rows


def run(rule, seq: Sequence[list[tuple]], fps: float = 10.0, flush: bool = True) -> list[Event]:
    out: list[Event] = []
    for i, rows in enumerate(seq):
        out += rule.step(dets(rows), frame(i, fps))
    if flush:
        out += rule.flush(frame(len(seq) - 1, fps) if seq else None)
    return out


def starts(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind and e.seq == 0]


# ----------------------------------------------------------------------------- PPE
def ppe(**kw) -> PpeRule:
    return PpeRule(PpeRuleConfig(name="ppe", **kw))


def test_head_association_picks_nearest_person_and_ignores_bodies() -> None:
    persons = np.array([[100, 100, 130, 180], [125, 100, 155, 180]], np.float32)
    items = np.array([[108, 98, 122, 106], [133, 98, 147, 106], [108, 150, 122, 158]], np.float32)
    assert associate_to_heads(persons, items, 0.3).tolist() == [0, 1, -1]
    assert associate_to_heads(persons[:0], items, 0.3).tolist() == [-1, -1, -1]


@pytest.mark.parametrize("fps", [5.0, 10.0, 30.0])
def test_hatless_person_one_event_after_min_seconds_at_any_fps(fps: float) -> None:
    n = int(5 * fps)
    ev = run(ppe(min_seconds=2.0), [person(1, item="head")] * n, fps=fps)
    s = starts(ev, "ppe")
    assert len(s) == 1
    assert s[0].track_id == 1 and s[0].class_name == "person"
    assert s[0].start_pts == pytest.approx(0.0)
    # emitted once 2 s of evidence were seen (the frame where pts >= 2.0)
    ends = [e for e in ev if e.state == "end"]
    assert len(ends) == 1 and ends[0].id == s[0].id and ends[0].attributes["reason"] == "end_of_stream"


def test_hat_wearer_and_short_violation_give_nothing() -> None:
    assert run(ppe(min_seconds=2.0), [person(1, item="hat")] * 60) == []
    # bare head for 1.5 s only, then the hat is seen
    seq = [person(1, item="head")] * 15 + [person(1, item="hat")] * 40
    assert starts(run(ppe(min_seconds=2.0), seq), "ppe") == []


def test_violation_ends_when_hat_comes_back_and_single_frame_noise_is_ignored() -> None:
    seq = [person(1, item="head")] * 30
    seq[12] = person(1, item="hat")  # one spurious hat detection does not reset the vote
    seq += [person(1, item="hat")] * 20
    ev = run(ppe(min_seconds=2.0, clear_seconds=1.0), seq, flush=False)
    s = starts(ev, "ppe")
    assert len(s) == 1
    end = [e for e in ev if e.state == "end"]
    assert len(end) == 1 and end[0].attributes["reason"] == "complied"
    assert 3.0 <= end[0].end_pts <= 4.1


def test_require_evidence_unknown_heads() -> None:
    seq = [person(1, item=None)] * 40
    assert run(ppe(min_seconds=2.0), seq) == []
    assert len(starts(run(ppe(min_seconds=2.0, require_evidence=False), seq), "ppe")) == 1


def test_lost_person_ends_event_and_zone_limits_rule() -> None:
    seq = [person(1, item="head")] * 30 + [[]] * 30
    ev = run(ppe(min_seconds=2.0, lost_seconds=1.0), seq, flush=False)
    assert [e.attributes.get("reason") for e in ev if e.state == "end"] == ["lost"]
    zone = [(0.0, 0.0), (50.0, 0.0), (50.0, 288.0), (0.0, 288.0)]  # the person's feet are at x=115
    assert run(ppe(min_seconds=2.0, zone=zone), [person(1, item="head")] * 40) == []
    zone2 = [(90.0, 150.0), (160.0, 150.0), (160.0, 200.0), (90.0, 200.0)]
    assert len(starts(run(ppe(min_seconds=2.0, zone=zone2), [person(1, item="head")] * 40), "ppe")) == 1


def test_two_people_only_the_hatless_one() -> None:
    seq = [person(1, x=100, item="hat") + person(2, x=300, item="head")] * 40
    s = starts(run(ppe(min_seconds=2.0), seq), "ppe")
    assert [e.track_id for e in s] == [2]
    assert s[0].box is not None and s[0].box[0] == pytest.approx(300)


# ----------------------------------------------------------------------------- near-miss
def nm(**kw) -> NearMissRule:
    kw.setdefault("distance", 20.0)
    return NearMissRule(NearMissRuleConfig(name="nm", **kw))


def test_feet_to_edge_distance_pixels_and_homography() -> None:
    p = np.array([[100, 100, 120, 200]], np.float32)  # feet at (110, 200)
    v = np.array(
        [[130, 150, 230, 210], [0, 100, 50, 190]], np.float32
    )  # edges y=210 x 130..230; y=190 x 0..50
    d = feet_to_edge_distance(p, v)
    assert d.shape == (1, 2)
    assert d[0, 0] == pytest.approx(np.hypot(20, 10))
    assert d[0, 1] == pytest.approx(np.hypot(60, 10))
    h = np.diag([0.1, 0.1, 1.0])  # 10 px = 1 ground unit
    assert feet_to_edge_distance(p, v, h)[0, 0] == pytest.approx(np.hypot(2, 1))


def vehicle_at(x: float, tid: int = 50) -> tuple:
    return (x, 120, x + 100, 205, 3, tid)


def test_near_miss_one_event_per_close_approach() -> None:
    # person stands still, feet at (115, 180); forklift drives past left to right, twice
    xs = list(np.arange(-300, 500, 20.0))
    seq = [[*person(1, item="hat"), vehicle_at(x)] for x in xs]
    seq += [person(1, item="hat")] * 20
    seq += [[*person(1, item="hat"), vehicle_at(x, 51)] for x in xs]
    ev = run(nm(distance=30.0), seq)
    s = starts(ev, "near_miss")
    assert len(s) == 2
    assert {e.attributes["vehicle_track_id"] for e in s} == {50, 51}
    assert all(e.track_id == 1 for e in s)
    ends = [e for e in ev if e.state == "end"]
    assert len(ends) == 2 and all(e.attributes["min_distance"] < 30.0 for e in ends)


def test_far_vehicle_and_min_seconds() -> None:
    far = [[*person(1, item="hat"), (100, 0, 200, 60, 3, 50)]] * 30  # edge y=60, feet y=180
    assert run(nm(distance=30.0), far) == []
    brief = [[*person(1, item="hat"), vehicle_at(90)]] * 3 + [[*person(1, item="hat"), vehicle_at(400)]] * 20
    assert starts(run(nm(distance=30.0, min_seconds=0.5), brief), "near_miss") == []
    assert len(starts(run(nm(distance=30.0, min_seconds=0.0), brief), "near_miss")) == 1


def test_near_miss_homography_config_validation() -> None:
    with pytest.raises(ValueError, match="3x3"):
        NearMissRuleConfig(name="x", distance=1.0, homography=[[1, 0], [0, 1]])
    with pytest.raises(ConfigError, match="invertible"):
        nm(homography=[[0, 0, 0], [0, 0, 0], [0, 0, 0]])


# ----------------------------------------------------------------------------- defect
def dr(**kw) -> DefectRule:
    return DefectRule(DefectRuleConfig(name="qa", **kw))


def part(tid: int, x: float, defect: bool) -> list[tuple]:
    rows: list[tuple] = [(x, 50, x + 46, 82, 4, tid)]
    if defect:
        rows.append((x + 5, 60, x + 17, 72, 5, 900 + tid))
    return rows


def test_containment() -> None:
    c = containment([[0, 0, 10, 10]], [[5, 0, 20, 10], [0, 0, 10, 10], [50, 50, 60, 60]])
    assert c.tolist() == [[0.5, 1.0, 0.0]]


def test_one_defect_event_per_part_track() -> None:
    seq = []
    for i in range(60):
        x = -40 + 8 * i
        seq.append(
            part(1, x, defect=True) + part(2, x - 120, defect=False) + part(3, x - 240, defect=(i % 2 == 0))
        )
    ev = run(dr(), seq)
    assert sorted(e.track_id for e in ev) == [1, 3]
    assert all(e.kind == "defect" and e.state == "end" and e.seq == 0 for e in ev)
    e1 = next(e for e in ev if e.track_id == 1)
    # min_seconds 0.2 (default): seen at 0.0, 0.1, 0.2 -> emitted at 0.2 with 3 hits
    assert e1.start_pts == pytest.approx(0.0) and e1.end_pts == pytest.approx(0.2)
    assert e1.attributes["defect_class"] == "defect" and e1.attributes["hits"] == 3


def test_defect_needs_min_hits_and_overlap() -> None:
    once = [part(1, 100, True)] + [part(1, 100, False)] * 10
    assert run(dr(min_hits=2), once) == []
    outside = [[(100, 50, 146, 82, 4, 1), (150, 60, 170, 72, 5, 9)]] * 10  # defect beside the part
    assert run(dr(), outside) == []
    weak = [part(1, 100, True)] * 10
    assert run(DefectRule(DefectRuleConfig(name="qa", defect_min_confidence=0.95)), weak) == []


def test_untracked_detections_are_ignored_not_crashing() -> None:
    d = dets(part(1, 100, True))
    untracked = Detections(d.xyxy, d.confidence, d.class_id, None, NAMES)
    for rule in (dr(), nm(), ppe()):
        assert rule.step(untracked, frame(0)) == []
        assert rule.step(Detections.empty(NAMES), frame(1)) == []


def test_caller_detections_not_mutated() -> None:
    d = dets(person(1, item="head") + part(2, 300, True) + [vehicle_at(90)])
    before = (d.xyxy.copy(), d.confidence.copy(), d.class_id.copy(), d.tracker_id.copy())
    for rule in (dr(), nm(), ppe(min_seconds=0.0)):
        for i in range(5):
            rule.step(d, frame(i))
    assert np.array_equal(before[0], d.xyxy) and np.array_equal(before[3], d.tracker_id)


# ----------------------------------------------------------------------------- config + registry
def test_yaml_config_builds_each_rule_from_registry() -> None:
    cfg = parse_config(
        {
            "sources": [{"name": "cam", "type": "file", "path": "x.mp4"}],
            "model": {"path": "m.onnx"},
            "rules": [
                {"name": "ppe", "type": "ppe", "min_seconds": 2},
                {"name": "nm", "type": "near_miss", "distance": 1.5, "homography": np.eye(3).tolist()},
                {"name": "qa", "type": "defect"},
            ],
        }
    )
    rules = [build_rule(r, names=NAMES) for r in cfg.rules]
    assert [type(r).__name__ for r in rules] == ["PpeRule", "NearMissRule", "DefectRule"]


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"name": "a", "type": "near_miss"}, "distance"),
        ({"name": "a", "type": "ppe", "zone": [[0, 0], [1, 1]]}, "at least 3 points"),
        ({"name": "a", "type": "ppe", "bogus": 1}, "unknown key"),
        ({"name": "a", "type": "defect", "min_overlap": 2}, "min_overlap"),
    ],
)
def test_bad_rule_configs_are_refused_with_the_key(rule: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_config(
            {"sources": [{"name": "c", "type": "file", "path": "x"}], "model": {"path": "m"}, "rules": [rule]}
        )


def test_unknown_person_class_is_refused() -> None:
    with pytest.raises(ConfigError, match="not classes of the model"):
        build_rule(PpeRuleConfig(name="p", classes=["worker"]), names=NAMES)

"""Zone and line rules: time-based semantics, debounce, cooldown, counts, lifecycle, snapshots."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import pytest

from edgesight.config import LineRuleConfig, SnapshotConfig, ZoneRuleConfig
from edgesight.errors import ConfigError
from edgesight.rules import LineRule, ZoneRule, build_rules, rule_types
from edgesight.rules.geometry import points_in_polygon, segments_intersect, signed_distance
from edgesight.rules.lifecycle import BestMoment, EventLifecycle, FrameKeeper, sharpness
from edgesight.types import Detections, Event, Frame

NAMES = {0: "person", 1: "car"}
W, H = 320, 240


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


IMAGE = _texture()

# An object: (track id, anchor x, anchor y[, confidence, class id]) -> bottom-center anchored box.
Obj = tuple


def dets(objs: Sequence[Obj], tracked: bool = True) -> Detections:
    """Detections whose bottom-center anchors are the given points (boxes 20 x 40 px)."""
    if not objs:
        d = Detections.empty(NAMES)
        return d.with_tracker_id(np.zeros((0,), np.int64)) if tracked else d
    xyxy, conf, cls, tid = [], [], [], []
    for o in objs:
        t, x, y = o[0], o[1], o[2]
        c = o[3] if len(o) > 3 else 0.9
        k = o[4] if len(o) > 4 else 0
        xyxy.append([x - 10, y - 40, x + 10, y])
        conf.append(c)
        cls.append(k)
        tid.append(t)
    return Detections(
        np.array(xyxy), np.array(conf), np.array(cls), np.array(tid) if tracked else None, NAMES
    )


def frame(i: int, fps: float, image: np.ndarray = IMAGE) -> Frame:
    return Frame(image=image, source_id="cam", index=i, pts=i / fps, wall_time=1_700_000_000.0 + i / fps)


Scene = Callable[[float, int], list[Obj]]  # (t seconds, frame index) -> objects


def run(
    rule, scene: Scene, fps: float, seconds: float, flush: bool = True, jpegs: dict[str, bytes] | None = None
) -> list[Event]:
    """Step ``rule`` through ``seconds`` of ``scene``; JPEGs handed out go into ``jpegs`` by message id."""
    out: list[Event] = []
    n = round(seconds * fps)

    def keep(events: list[Event]) -> None:
        for e in events:
            jpeg = rule.take_snapshot(e)
            if jpegs is not None and jpeg is not None:
                jpegs[e.message_id] = jpeg
        out.extend(events)

    for i in range(n + 1):
        f = frame(i, fps)
        keep(rule.step(dets(scene(f.pts, i)), f))
    if flush:
        keep(rule.flush(frame(n, fps)))
    return out


def summary(events: list[Event]) -> list[tuple]:
    return [(e.kind, e.state, e.track_id) for e in events]


# ----------------------------------------------------------------------------- zones
SQUARE = [(100.0, 100.0), (200.0, 100.0), (200.0, 200.0), (100.0, 200.0)]


def zone(**kw) -> ZoneRule:
    cfg = ZoneRuleConfig(name="restricted", polygon=SQUARE, **kw)
    return ZoneRule(cfg, snapshots=SnapshotConfig(enabled=True))


def walk_in_out(t: float, i: int) -> list[Obj]:
    """Track 7 walks in at t=1 s, stays (jittering 2 px) until t=14 s, then leaves; jitter at the
    boundary for the first 0.2 s of each crossing (per frame) must not flicker."""
    if t < 1.0:
        x = 50 + 45 * t  # approaches the left edge (x=100) from outside
    elif t < 14.0:
        x = 150 + (2 if i % 2 else -2)
    else:
        x = 260.0
    return [(7, x, 150)]


@pytest.mark.parametrize("fps", [5, 10, 30])
def test_zone_enter_dwell_exit_same_events_at_any_fps(fps: float) -> None:
    rule = zone(events=["enter", "exit", "dwell"], dwell_seconds=10.0, debounce_seconds=0.3)
    jpegs: dict[str, bytes] = {}
    events = run(rule, walk_in_out, fps, 16.0, jpegs=jpegs)
    assert summary(events) == [
        ("zone_enter", "end", 7),
        ("dwell", "start", 7),
        ("dwell", "end", 7),
        ("zone_exit", "end", 7),
    ]
    enter, dstart, dend, exit_ = events
    # point events carry their snapshot; a dwell (long from the start) sends one with its start
    assert {enter.message_id, dstart.message_id, exit_.message_id} <= set(jpegs)
    tol = 1.0 / fps + 1e-6
    assert enter.start_pts == pytest.approx(1.0, abs=tol)
    assert dstart.start_pts == pytest.approx(enter.start_pts)
    assert dstart.updated_at - 1_700_000_000.0 == pytest.approx(11.0, abs=tol)
    assert dend.end_pts == pytest.approx(14.0, abs=tol)
    assert exit_.start_pts == pytest.approx(14.0, abs=tol)
    assert exit_.attributes["inside_seconds"] == pytest.approx(13.0, abs=2 * tol)
    assert dend.attributes["reason"] == "exit"
    # one id across the dwell lifecycle, seq increasing
    dwell = [e for e in events if e.kind == "dwell"]
    assert len({e.id for e in dwell}) == 1
    assert [e.seq for e in dwell] == [0, 1]
    assert len({e.id for e in events}) == 3


@pytest.mark.parametrize(
    ("debounce", "expected_enters"),
    [
        (0.0, 5),  # no hysteresis: every in-step after an out-step is an entry
        (0.3, 1),  # held >= 0.3 s only once, when it finally goes in
    ],
)
def test_zone_debounce_boundary_jitter(debounce: float, expected_enters: int) -> None:
    fps = 10.0

    def scene(t: float, i: int) -> list[Obj]:
        if i < 10:  # 1 s of per-frame jitter across the left edge (x = 100)
            return [(1, 100 + (3 if i % 2 else -3), 150)]
        return [(1, 150, 150)]

    events = run(zone(events=["enter"], debounce_seconds=debounce), scene, fps, 2.0)
    assert [e.kind for e in events] == ["zone_enter"] * expected_enters


@pytest.mark.parametrize(
    ("cooldown", "gap_s", "expected"),
    [
        (0.0, 1.0, 2),
        (5.0, 1.0, 1),  # re-entry 1.x s after the first: suppressed
        (5.0, 6.0, 2),  # re-entry after the cooldown: reported
    ],
)
def test_zone_cooldown_per_track(cooldown: float, gap_s: float, expected: int) -> None:
    def scene(t: float, i: int) -> list[Obj]:
        inside = t < 1.0 or t >= 1.0 + gap_s
        return [(3, 150 if inside else 40, 150), (4, 40, 150)]

    rule = zone(events=["enter"], cooldown_seconds=cooldown, debounce_seconds=0.0)
    events = run(rule, scene, 10.0, gap_s + 2.0)
    assert [(e.kind, e.track_id) for e in events] == [("zone_enter", 3)] * expected


@pytest.mark.parametrize("fps", [5, 10, 30])
def test_zone_occupancy_counts_and_ends(fps: float) -> None:
    def scene(t: float, i: int) -> list[Obj]:
        objs: list[Obj] = []
        if 1.0 <= t < 5.0:
            objs.append((1, 150, 150))
        if 2.0 <= t < 3.0:
            objs.append((2, 160, 160))
        return objs

    rule = zone(events=["occupancy"], debounce_seconds=0.3)
    events = run(rule, scene, fps, 7.0)
    assert [(e.kind, e.state, e.attributes["count"], e.attributes["max_count"]) for e in events] == [
        ("occupancy", "start", 1, 1),
        ("occupancy", "update", 2, 2),
        ("occupancy", "update", 1, 2),
        ("occupancy", "end", 0, 2),
    ]
    assert events[0].start_pts == pytest.approx(1.0, abs=1 / fps + 1e-6)
    assert events[-1].end_pts == pytest.approx(5.0, abs=1 / fps + 1e-6)
    assert [e.seq for e in events] == [0, 1, 2, 3]
    assert events[-1].box is not None and events[-1].confidence == pytest.approx(0.9)
    assert rule.occupancy == 0


def test_zone_occupancy_works_without_tracker() -> None:
    rule = zone(events=["enter", "occupancy"], debounce_seconds=0.0)
    out: list[Event] = []
    for i in range(5):
        f = frame(i, 10.0)
        out.extend(rule.step(dets([(0, 150, 150)], tracked=False), f))
    assert [e.kind for e in out] == ["occupancy"]
    assert rule.occupancy == 1


def test_zone_lost_track_inside_exits_after_lost_seconds() -> None:
    def scene(t: float, i: int) -> list[Obj]:
        return [(9, 150, 150)] if t < 2.0 else []

    rule = zone(events=["enter", "exit", "dwell"], dwell_seconds=1.0, debounce_seconds=0.0, lost_seconds=1.5)
    events = run(rule, scene, 10.0, 5.0)
    assert summary(events) == [
        ("zone_enter", "end", 9),
        ("dwell", "start", 9),
        ("dwell", "end", 9),
        ("zone_exit", "end", 9),
    ]
    assert events[-1].attributes["reason"] == "lost"
    assert events[-1].updated_at - 1_700_000_000.0 == pytest.approx(1.9 + 1.5, abs=0.11)


def test_zone_flush_ends_open_events() -> None:
    rule = zone(events=["dwell"], dwell_seconds=0.5, debounce_seconds=0.0)
    events = run(rule, lambda t, i: [(1, 150, 150)], 10.0, 2.0, flush=False)
    assert summary(events) == [("dwell", "start", 1)]
    ended = rule.flush(None)
    assert summary(ended) == [("dwell", "end", 1)]
    assert ended[0].end_pts == pytest.approx(2.0)
    assert ended[0].attributes["reason"] == "end_of_stream"
    assert ended[0].attributes["inside_seconds"] == pytest.approx(2.0)  # the final time, not the start's
    assert ended[0].id == events[0].id
    jpeg = rule.take_snapshot(ended[0])
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
    assert rule.flush(None) == []


def test_zone_class_filter_and_min_confidence() -> None:
    rule = ZoneRule(
        ZoneRuleConfig(
            name="z",
            polygon=SQUARE,
            classes=["person"],
            min_confidence=0.5,
            debounce_seconds=0.0,
            events=["enter"],
        )
    )
    f = frame(0, 10.0)
    # car (class 1) and a weak person are ignored; the strong person enters.
    out = rule.step(dets([(1, 150, 150, 0.9, 1), (2, 150, 150, 0.3, 0), (3, 150, 150, 0.8, 0)]), f)
    assert [(e.kind, e.track_id, e.class_name) for e in out] == [("zone_enter", 3, "person")]


def test_rules_never_mutate_callers_detections() -> None:
    d = dets([(1, 150, 150), (2, 40, 40)])
    before = (d.xyxy.copy(), d.confidence.copy(), d.tracker_id.copy())
    img = IMAGE.copy()
    f = Frame(image=img, source_id="cam", index=0, pts=0.0, wall_time=0.0)
    for r in (zone(events=["enter", "occupancy"], debounce_seconds=0.0), line_rule()):
        r.step(d, f)
        r.flush(f)
    assert np.array_equal(d.xyxy, before[0]) and np.array_equal(d.confidence, before[1])
    assert np.array_equal(d.tracker_id, before[2])
    assert np.array_equal(img, IMAGE)


# ----------------------------------------------------------------------------- lines
# A vertical line x = 160 from y = 50 (start) to y = 150 (end): direction start->end points DOWN
# on screen, so its right is -x (smaller x) and its left is +x: moving +x crosses "in".
LINE = ((160.0, 50.0), (160.0, 150.0))


def line_rule(**kw) -> LineRule:
    return LineRule(LineRuleConfig(name="gate", start=LINE[0], end=LINE[1], **kw))


def path(points: list[tuple[float, float]], tid: int = 1) -> Scene:
    """A track visiting the given anchors, one per frame."""
    return lambda t, i: [(tid, *points[min(i, len(points) - 1)])]


def xs(values: Sequence[float], y: float = 100.0) -> list[tuple[float, float]]:
    return [(float(x), y) for x in values]


LINE_CASES = [
    pytest.param(xs(range(100, 221, 10)), 1, 0, id="left-to-right = in"),
    pytest.param(xs(range(220, 99, -10)), 0, 1, id="right-to-left = out"),
    pytest.param(xs([100, 130, 150, 157, 163, 158, 162, 159, 161, 156]), 0, 0, id="jitter on the line"),
    pytest.param(xs([100, 130, 158, 163, 162, 158, 164, 190, 210]), 1, 0, id="jitter then through"),
    pytest.param(xs([100, 150, 163, 150, 120]), 0, 0, id="touches, comes back"),
    pytest.param(xs(range(100, 221, 10), y=170.0), 0, 0, id="beside the segment end"),
    pytest.param(xs(range(100, 221, 10), y=30.0), 0, 0, id="beside the segment start"),
    pytest.param(xs([100, 140, 180, 220, 180, 140, 100, 140, 180, 220]), 2, 1, id="back and forth"),
    pytest.param([(150.0, 160.0), (170.0, 130.0), (190.0, 120.0)], 1, 0, id="diagonal across near end"),
    pytest.param([(150.0, 145.0), (172.0, 167.0), (190.0, 185.0)], 0, 0, id="diagonal cutting past end"),
]


@pytest.mark.parametrize(("points", "n_in", "n_out"), LINE_CASES)
def test_line_counts(points: list[tuple[float, float]], n_in: int, n_out: int) -> None:
    rule = line_rule(min_distance=5.0)
    events = run(rule, path(points), 10.0, (len(points) + 2) / 10.0)
    assert (rule.in_count, rule.out_count) == (n_in, n_out)
    assert [e.attributes["direction"] for e in events].count("in") == n_in
    assert all(e.kind == "line_cross" and e.state == "end" and e.seq == 0 for e in events)
    if events:
        last = events[-1]
        assert (last.attributes["in_count"], last.attributes["out_count"]) == (n_in, n_out)


def test_line_geometry_sanity() -> None:
    # right of start->end (+ distance) is smaller x for this downward line
    assert signed_distance([[150, 100], [170, 100]], *LINE).tolist() == [10.0, -10.0]


def test_line_per_track_cooldown_and_direction_filter() -> None:
    pts = xs([100, 140, 180, 220, 180, 140, 100, 140, 180, 220])
    rule = line_rule(cooldown_seconds=5.0)
    run(rule, path(pts), 10.0, 1.2)
    assert (rule.in_count, rule.out_count) == (1, 0)  # later crossings within 5 s are ignored

    rule = line_rule(directions=["out"])
    events = run(rule, path(pts), 10.0, 1.2)
    assert (rule.in_count, rule.out_count) == (2, 1)  # counts are kept for both directions
    assert [e.attributes["direction"] for e in events] == ["out"]


def test_line_two_tracks_counted_independently() -> None:
    def scene(t: float, i: int) -> list[Obj]:
        return [(1, 100 + 20 * i, 100), (2, 220 - 20 * i, 120)]

    rule = line_rule()
    events = run(rule, scene, 10.0, 0.7)
    assert sorted((e.track_id, e.attributes["direction"]) for e in events) == [(1, "in"), (2, "out")]


@pytest.mark.parametrize("fps", [5, 10, 30])
def test_line_same_counts_at_any_fps(fps: float) -> None:
    # Three people crossing at 100 px/s at different times, one jittering on the line for 2 s.
    def scene(t: float, i: int) -> list[Obj]:
        objs: list[Obj] = [(1, 60 + 100 * t, 100)]
        if t >= 1.0:
            objs.append((2, 260 - 100 * (t - 1.0), 80))
        objs.append((3, 160 + (2 if i % 2 else -2), 120) if t < 2.0 else (3, 160 + 100 * (t - 2.0), 120))
        return objs

    rule = line_rule()
    events = run(rule, scene, fps, 4.0)
    assert sorted((e.track_id, e.attributes["direction"]) for e in events) == [(1, "in"), (2, "out")]


# ----------------------------------------------------------------------------- lifecycle / snapshots
def test_lifecycle_ids_and_seq() -> None:
    lc = EventLifecycle("r", device_id="dev-1", snapshots=SnapshotConfig(enabled=True))
    f0, f1, f2 = frame(0, 10.0), frame(1, 10.0), frame(2, 10.0)
    lc.begin_step(f0)
    s = lc.open(
        "k", kind="ppe", frame=f0, track_id=5, class_name="person", confidence=0.7, box=[10, 10, 60, 90]
    )
    lc.begin_step(f1)
    u = lc.update("k", f1, {"missing": ["helmet"]})
    lc.begin_step(f2)
    lc.observe("k", f2, [12, 12, 62, 92], 0.95)
    e = lc.close("k", f2, {"resolved": True})
    assert (s.state, u.state, e.state) == ("start", "update", "end")
    assert s.id == u.id == e.id and [s.seq, u.seq, e.seq] == [0, 1, 2]
    assert e.attributes == {"missing": ["helmet"], "resolved": True}
    assert e.confidence == pytest.approx(0.95) and e.device_id == "dev-1" and e.end_pts == pytest.approx(0.2)
    assert {s.message_id, u.message_id, e.message_id} == {f"{s.id}:0", f"{s.id}:1", f"{s.id}:2"}
    jpeg = lc.take_snapshot(e)
    assert jpeg is not None and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (
        H,
        W,
        3,
    )
    assert lc.take_snapshot(e) is None  # popped
    assert not lc.is_open("k")
    with pytest.raises(KeyError):
        lc.update("k", f2)


def test_best_snapshot_prefers_confident_and_sharp() -> None:
    sharp = _texture(1)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    box = [40, 40, 200, 200]
    assert sharpness(sharp, box) > 0.9 > 0.5 > sharpness(blurred, box)

    keeper = FrameKeeper()
    best = BestMoment()
    seq = [(blurred, 0.95), (sharp, 0.80), (sharp, 0.30), (blurred, 0.99)]
    for i, (img, conf) in enumerate(seq):
        best.offer(Frame(img, "cam", i, i / 10, 0.0), box, conf, keeper)
    assert best.pts == pytest.approx(0.1) and best.confidence == pytest.approx(0.80)
    assert best.max_confidence == pytest.approx(0.99)
    assert np.array_equal(best.image, sharp) and best.image is not sharp  # a private copy


def test_one_frame_copy_shared_between_events() -> None:
    lc = EventLifecycle("r", snapshots=SnapshotConfig(enabled=True))
    f = frame(0, 10.0, _texture(3))
    lc.begin_step(f)
    for k in range(5):
        lc.open(k, kind="x", frame=f, confidence=0.9, box=[10 + k, 10, 100, 100])
    images = {id(lc.best(k).image) for k in range(5)}
    assert len(images) == 1 and lc.best(0).image is not f.image


@pytest.mark.parametrize("snapshots", [SnapshotConfig(enabled=False), None], ids=["disabled", "none"])
def test_snapshots_disabled_keeps_no_frames(snapshots: SnapshotConfig | None) -> None:
    rule = ZoneRule(
        ZoneRuleConfig(name="z", polygon=SQUARE, events=["dwell"], dwell_seconds=0.2, debounce_seconds=0.0),
        snapshots=snapshots,
    )
    events = run(rule, lambda t, i: [(1, 150, 150)], 10.0, 1.0, flush=False)
    assert rule.lifecycle.best(("dwell", 1)).image is None
    assert all(rule.take_snapshot(e) is None for e in events + rule.flush(None))


def test_snapshot_draws_box_and_downscales() -> None:
    lc = EventLifecycle("r", snapshots=SnapshotConfig(enabled=True, draw_boxes=True, max_width=160))
    img = np.full((H, W, 3), 128, np.uint8)
    f = Frame(img, "cam", 0, 0.0, 0.0)
    lc.begin_step(f)
    ev = lc.instant(kind="x", frame=f, confidence=0.9, box=[20, 20, 100, 100])
    out = cv2.imdecode(np.frombuffer(lc.take_snapshot(ev) or b"", np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == (120, 160, 3)
    edge = out[8:13, 15:45].astype(int)  # the box's top edge, y = 20 / 2, x = 10..50
    assert (edge[..., 2] - edge[..., 0]).max() > 60  # red (BGR) drawn there
    assert np.abs(out[60:100, 60:100].astype(int) - 128).max() < 10  # and nothing elsewhere
    assert np.all(img == 128)  # caller's image untouched


# ----------------------------------------------------------------------------- registry / geometry
def test_build_rules_registry_and_class_check() -> None:
    cfgs = [
        ZoneRuleConfig(name="z", polygon=SQUARE, classes=["person"]),
        LineRuleConfig(name="l", start=(0, 0), end=(10, 0)),
    ]
    rules = build_rules(cfgs, device_id="d", names=NAMES)
    assert [type(r) for r in rules] == [ZoneRule, LineRule] and [r.name for r in rules] == ["z", "l"]
    assert set(rule_types()) >= {ZoneRuleConfig, LineRuleConfig}
    with pytest.raises(TypeError):
        rule_types()[int] = ZoneRule  # type: ignore[index]
    with pytest.raises(ConfigError, match="helmet"):
        build_rules([ZoneRuleConfig(name="z", polygon=SQUARE, classes=["helmet"])], names=NAMES)


def test_points_in_polygon_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    poly = np.array([[10, 10], [200, 30], [150, 120], [220, 220], [30, 180], [90, 100]], np.float64)
    pts = rng.uniform(0, 240, (2000, 2))
    ours = points_in_polygon(pts, poly)
    cv = np.array([cv2.pointPolygonTest(poly.astype(np.float32), (float(x), float(y)), True) for x, y in pts])
    clear = np.abs(cv) > 1e-3  # ignore points on an edge
    assert np.array_equal(ours[clear], cv[clear] > 0)
    assert 200 < ours.sum() < 1800


@pytest.mark.parametrize(
    ("a0", "a1", "hit"),
    [
        ((0, 5), (10, 5), True),
        ((0, 5), (4, 5), False),
        ((5, -1), (5, 0), True),  # touches the end point
        ((5, -2), (5, -1), False),  # collinear, beyond the end
        ((5, 2), (5, 8), True),  # collinear overlap
        ((11, -5), (11, 15), False),
    ],
)
def test_segments_intersect(a0, a1, hit) -> None:
    assert segments_intersect([a0], [a1], (5, 0), (5, 10)).tolist() == [hit]


def test_abandoned_candidates_release_their_frame_copy() -> None:
    snaps = SnapshotConfig(enabled=True)
    line = LineRule(LineRuleConfig(name="gate", start=LINE[0], end=LINE[1]), snapshots=snaps)
    run(line, path(xs([100, 150, 163, 150, 120])), 10.0, 0.6, flush=False)  # touches the line, comes back
    assert line._tracks[1].best.image is None
    z = ZoneRule(ZoneRuleConfig(name="z", polygon=SQUARE, debounce_seconds=1.0), snapshots=snaps)
    run(z, path(xs([90, 105, 90, 80], y=150)), 10.0, 0.5, flush=False)  # steps in briefly, leaves
    assert z._tracks[1].pending_best.image is None


@pytest.mark.parametrize(("late_conf", "end_has_jpeg"), [(0.6, False), (0.95, True)])
def test_long_event_sends_early_snapshot_then_only_a_better_one(late_conf: float, end_has_jpeg: bool) -> None:
    def scene(t: float, i: int) -> list[Obj]:
        if t >= 15.0:
            return []
        return [(1, 150, 150, 0.7 if t < 12.0 else late_conf)]

    jpegs: dict[str, bytes] = {}
    rule = zone(events=["occupancy"], debounce_seconds=0.0)
    events = run(rule, scene, 10.0, 16.0, jpegs=jpegs)
    assert [(e.state, e.seq) for e in events] == [("start", 0), ("update", 1), ("end", 2)]
    start, early, end = events
    assert early.attributes["early_snapshot"] is True
    assert early.updated_at - start.updated_at == pytest.approx(10.0)
    assert start.message_id not in jpegs and early.message_id in jpegs
    assert (end.message_id in jpegs) is end_has_jpeg
    assert end.confidence == pytest.approx(max(0.7, late_conf))

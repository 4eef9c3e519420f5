"""Deterministic synthetic industrial site: video frames plus exact ground truth.

A fixed camera looks at a factory floor (``WIDTH`` x ``HEIGHT`` pixels, ``FPS`` frames per second):

- a conveyor across the back carries metal parts left to right; some are defective (a missing hole,
  a crack, the wrong colour) and every part crosses a counting line;
- workers walk across the floor, some without a hard hat, some through a marked restricted zone;
- a forklift drives along an aisle near the camera and sometimes passes close to a waiting worker;
- every ``BLOCK_SECONDS`` the site goes quiet for ``QUIET_SECONDS`` (nothing moves).

The floor is a plane with a known homography (:data:`H_IMAGE_FROM_GROUND`, ground metres -> image
pixels), so sizes follow perspective and near-misses can be judged in metres. Frames get a
noise-based texture, slow lighting drift with short flickers, sensor noise, motion blur and
occlusions (a crate stack near the camera, the forklift in front of people).

Everything is a pure function of ``(seed, duration)``: :class:`Scene` scripts all trajectories up
front with ``numpy.random.default_rng(seed)``, then :meth:`Scene.render` draws any frame index on
demand (random access, no hidden state), and :meth:`Scene.ground_truth` derives per-frame boxes and
the ground-truth events from the scripted geometry.

Coordinates: image pixels, x right, y down, boxes xyxy. Ground: metres, X right, Y away from the camera.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.demo import CLASS_NAMES
from edgesight.errors import ConfigError, SourceError

__all__ = [
    "DEFAULT_DURATION",
    "FPS",
    "GENERATOR_VERSION",
    "HEIGHT",
    "H_GROUND_FROM_IMAGE",
    "H_IMAGE_FROM_GROUND",
    "LINE",
    "NEAR_MISS_METRES",
    "PPE_SECONDS",
    "WIDTH",
    "ZONE_IMAGE",
    "GroundTruth",
    "Scene",
    "ensure_scene",
]

GENERATOR_VERSION = 3  # bump whenever frames or ground truth change (invalidates caches)
WIDTH, HEIGHT, FPS = 512, 288, 20.0
DEFAULT_DURATION = 180.0
BLOCK_SECONDS, QUIET_SECONDS = 30.0, 6.0
PPE_SECONDS = 2.0  # a hatless worker must be seen this long before it is a PPE event
NEAR_MISS_METRES = 1.5  # person's feet to the vehicle's near edge, on the ground plane
PERSON, HARD_HAT, HEAD, FORKLIFT, PART, DEFECT = range(6)

# Ground rectangle X in [0, 12] m, Y in [0, 10] m seen as a trapezoid (perspective floor).
_GROUND_QUAD = np.array([[0, 0], [12, 0], [12, 10], [0, 10]], np.float32)
_IMAGE_QUAD = np.array([[-30, 288], [542, 288], [442, 96], [70, 96]], np.float32)
H_IMAGE_FROM_GROUND: npt.NDArray[np.float64] = np.asarray(
    cv2.getPerspectiveTransform(_GROUND_QUAD, _IMAGE_QUAD), np.float64
)
H_GROUND_FROM_IMAGE: npt.NDArray[np.float64] = np.asarray(np.linalg.inv(H_IMAGE_FROM_GROUND), np.float64)

_ZONE_GROUND = [(7.5, 3.5), (10.5, 3.5), (10.5, 5.6), (7.5, 5.6)]
_BELT_Y0, _BELT_Y1 = 48, 84
_PART_Y = 66
_CONVEYOR_SPEED = 55.0  # px/s
_AISLE_NEAR_Y = 1.9  # forklift near side (ground Y, m)
_FORKLIFT_SPEED = 2.6  # m/s
_CRATES = (136, 226, 206, 288)  # occluder box, image pixels


def _project(h: npt.NDArray[np.float64], pts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    q = np.concatenate([p, np.ones((len(p), 1))], axis=1) @ h.T
    return q[:, :2] / q[:, 2:3]


ZONE_IMAGE: list[tuple[float, float]] = [
    (round(float(x), 1), round(float(y), 1)) for x, y in _project(H_IMAGE_FROM_GROUND, _ZONE_GROUND)
]
#: The part-counting line across the conveyor (start, end), image pixels.
LINE: tuple[tuple[float, float], tuple[float, float]] = ((400.0, 36.0), (400.0, 96.0))


def _ppm(x: float, y: float) -> float:
    """Image pixels per ground metre (horizontal) at ground point (x, y)."""
    a = _project(H_IMAGE_FROM_GROUND, [(x, y), (x + 1.0, y)])
    return float(a[1, 0] - a[0, 0])


# ----------------------------------------------------------------------------- script
@dataclass(frozen=True)
class _Part:
    track_id: int
    defect_id: int
    t0: float
    y: float
    w: float
    h: float
    shade: tuple[int, int, int]
    defect: str | None  # None, "hole", "crack", "colour"
    hole: int  # which hole is missing (0/1) for "hole"
    crack: tuple[tuple[float, float], ...]  # polyline relative to the part centre
    scratches: tuple[tuple[float, float, float, float], ...]

    def x(self, t: float) -> float:
        return -30.0 + _CONVEYOR_SPEED * (t - self.t0)


@dataclass(frozen=True)
class _Worker:
    track_id: int
    item_id: int  # track id of its hard hat or bare head
    keys: tuple[tuple[float, float, float], ...]  # (t, X, Y) keyframes, linear in between
    hat: bool
    hat_colour: tuple[int, int, int]
    hair: tuple[int, int, int]
    skin: tuple[int, int, int]
    top: tuple[int, int, int]
    vest: bool
    legs: tuple[int, int, int]
    height_m: float

    @property
    def t0(self) -> float:
        return self.keys[0][0]

    @property
    def t1(self) -> float:
        return self.keys[-1][0]

    def pos(self, t: float) -> tuple[float, float, float, bool]:
        """(X, Y, walked distance m, moving) at time t."""
        ks = self.keys
        dist = 0.0
        for (ta, xa, ya), (tb, xb, yb) in itertools.pairwise(ks):
            seg = math.hypot(xb - xa, yb - ya)
            if t <= tb:
                f = 0.0 if tb <= ta else (t - ta) / (tb - ta)
                f = min(max(f, 0.0), 1.0)
                return xa + f * (xb - xa), ya + f * (yb - ya), dist + f * seg, seg > 1e-6
            dist += seg
        return ks[-1][1], ks[-1][2], dist, False


@dataclass(frozen=True)
class _Forklift:
    track_id: int
    t0: float
    direction: int  # +1 left->right, -1 right->left
    colour: tuple[int, int, int]

    @property
    def t1(self) -> float:
        return self.t0 + 20.0 / _FORKLIFT_SPEED

    def front_x(self, t: float) -> float:
        """Ground X of the fork tips."""
        s = _FORKLIFT_SPEED * (t - self.t0)
        return -4.0 + s if self.direction > 0 else 16.0 - s


@dataclass(frozen=True)
class _Script:
    parts: tuple[_Part, ...]
    workers: tuple[_Worker, ...]
    forklifts: tuple[_Forklift, ...]
    belt_moving: tuple[tuple[float, float], ...]  # intervals when the belt runs


def _colour(
    rng: np.random.Generator, choices: list[tuple[int, int, int]], jitter: int = 12
) -> tuple[int, int, int]:
    c = choices[int(rng.integers(len(choices)))]
    j = rng.integers(-jitter, jitter + 1, 3)
    return (
        int(np.clip(c[0] + j[0], 0, 255)),
        int(np.clip(c[1] + j[1], 0, 255)),
        int(np.clip(c[2] + j[2], 0, 255)),
    )


# BGR colours
_HATS = [(0, 210, 250), (245, 245, 245), (0, 130, 255), (200, 120, 20)]
_HAIR = [(20, 20, 25), (30, 50, 80), (60, 110, 160), (130, 130, 130), (25, 35, 50)]
_SKIN = [(150, 180, 225), (110, 145, 195), (70, 100, 150), (60, 80, 110)]
_TOPS = [(40, 40, 160), (150, 90, 40), (60, 60, 60), (200, 200, 200), (40, 110, 40), (90, 50, 120)]
_VESTS = [(30, 230, 210), (0, 140, 255), (60, 255, 190)]
_LEGS = [(80, 50, 30), (40, 40, 40), (90, 90, 100), (120, 90, 60)]
_METAL = [(150, 150, 150), (170, 168, 165), (135, 138, 140)]
_WRONG = [(40, 90, 200), (170, 90, 40), (60, 150, 70)]
_FORK = [(0, 170, 235), (0, 120, 230)]


def _worker_look(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "hat": bool(rng.random() > 0.45),
        "hat_colour": _colour(rng, _HATS, 8),
        "hair": _colour(rng, _HAIR, 8),
        "skin": _colour(rng, _SKIN, 10),
        "vest": bool(rng.random() < 0.6),
        "top": _colour(rng, _VESTS if rng.random() < 0.6 else _TOPS, 12),
        "legs": _colour(rng, _LEGS, 10),
        "height_m": float(rng.uniform(1.62, 1.9)),
    }


def _plan_block(
    rng: np.random.Generator, b0: float, ids: Iterator[int]
) -> tuple[list[_Part], list[_Worker], list[_Forklift]]:
    """Script one active block starting at stream time b0 (seconds)."""
    active = BLOCK_SECONDS - QUIET_SECONDS
    parts: list[_Part] = []
    travel = (WIDTH + 60) / _CONVEYOR_SPEED
    t = b0 + rng.uniform(0.3, 1.0)
    while t < b0 + active - travel - 0.2:
        w, h = float(rng.uniform(42, 50)), float(rng.uniform(29, 34))
        r = rng.random()
        defect = None if r > 0.32 else ("hole" if r < 0.11 else "crack" if r < 0.22 else "colour")
        n = int(rng.integers(3, 6))
        cx0 = float(rng.uniform(-0.25, 0.05)) * w
        crack = tuple(
            (cx0 + k * w * 0.5 / (n - 1) + float(rng.uniform(-2, 2)), float(rng.uniform(-0.35, 0.35)) * h)
            for k in range(n)
        )
        scratches = tuple(
            (
                float(rng.uniform(-0.4, 0.3)) * w,
                float(rng.uniform(-0.4, 0.4)) * h,
                float(rng.uniform(4, 10)),
                float(rng.uniform(-0.5, 0.5)),
            )
            for _ in range(int(rng.integers(0, 3)))
        )
        parts.append(
            _Part(
                track_id=next(ids),
                defect_id=next(ids),
                t0=t,
                y=_PART_Y + float(rng.uniform(-2.5, 2.5)),
                w=w,
                h=h,
                shade=_colour(rng, _WRONG if defect == "colour" else _METAL, 10),
                defect=defect,
                hole=int(rng.integers(2)),
                crack=crack,
                scratches=scratches,
            )
        )
        t += float(rng.uniform(1.5, 2.6))

    workers: list[_Worker] = []
    forklifts: list[_Forklift] = []
    if rng.random() < 0.9:
        direction = 1 if rng.random() < 0.5 else -1
        tf = b0 + float(rng.uniform(3.0, 8.0))
        fk = _Forklift(next(ids), tf, direction, _colour(rng, _FORK, 10))
        forklifts.append(fk)
        # a worker comes up from the camera side to the aisle at X = xw
        xw = float(rng.uniform(3.0, 8.9))
        if 6.9 < xw < 8.1:  # keep clear of the zone's edge so entering it is never ambiguous
            xw = 6.9 if xw < 7.5 else 8.1
        speed = float(rng.uniform(1.0, 1.4))
        # time the forklift's footprint is centred on xw
        t_pass = tf + (xw + 4.0 + 1.7 if direction > 0 else 16.0 - xw + 1.7) / _FORKLIFT_SPEED
        near = rng.random() < 0.8
        y_wait = 1.1
        exit_x = -1.5 if rng.random() < 0.5 else 13.5
        if near:
            arrive = t_pass - float(rng.uniform(1.5, 2.5))
            leave = t_pass + float(rng.uniform(2.2, 3.0))
            t_start = arrive - (y_wait + 1.2) / speed
            keys = [(t_start, xw, -1.2), (arrive, xw, y_wait), (leave, xw, y_wait)]
        else:
            # crosses the aisle well before the forklift arrives
            t_start = max(b0 + 0.2, t_pass - 9.0 - float(rng.uniform(0, 1.5)))
            leave = t_start + (y_wait + 1.2) / speed
            keys = [(t_start, xw, -1.2), (leave, xw, y_wait)]
        y_top = 6.3
        t_top = leave + (y_top - y_wait) / speed
        keys.append((t_top, xw, y_top))
        keys.append((t_top + abs(exit_x - xw) / speed, exit_x, y_top))
        workers.append(_Worker(next(ids), next(ids), tuple(keys), **_worker_look(rng)))

    for _ in range(int(rng.integers(1, 4))):
        speed = float(rng.uniform(1.0, 1.4))
        in_zone = rng.random() < 0.7
        yw = float(rng.uniform(4.3, 5.0)) if in_zone else float(rng.uniform(6.2, 6.5))
        dy = float(rng.uniform(-0.2, 0.2))
        x0, x1 = (-1.5, 13.5) if rng.random() < 0.5 else (13.5, -1.5)
        dur = math.hypot(x1 - x0, dy) / speed
        t_start = b0 + float(rng.uniform(0.0, max(0.1, active - dur - 0.5)))
        keys2 = ((t_start, x0, yw), (t_start + dur, x1, yw + dy))
        workers.append(_Worker(next(ids), next(ids), keys2, **_worker_look(rng)))
    return parts, workers, forklifts


def _make_script(seed: int, duration: float) -> _Script:
    np.random.default_rng([seed, 7919])
    counter = iter(range(1, 1_000_000))
    parts: list[_Part] = []
    workers: list[_Worker] = []
    forklifts: list[_Forklift] = []
    belt: list[tuple[float, float]] = []
    b0 = 0.0
    while b0 + BLOCK_SECONDS - QUIET_SECONDS <= duration + 1e-9:
        # re-plan a block until every person/vehicle approach is clearly near or clearly far
        # and no two workers overlap on screen (trackers swap ids when people cross; the demo
        # scores rules, so it keeps people apart while forklift and crate occlusions stay)
        for attempt in range(80):
            sub = np.random.default_rng([seed, int(b0 * 10), attempt])
            ids_start = next(counter)
            ids = iter(range(ids_start * 1000, ids_start * 1000 + 1000))
            p, w, f = _plan_block(sub, b0, ids)
            if _approaches_clear(w, f) and _people_apart(w):
                break
        parts += p
        workers += w
        forklifts += f
        belt.append((b0, b0 + BLOCK_SECONDS - QUIET_SECONDS))
        b0 += BLOCK_SECONDS
    return _Script(tuple(parts), tuple(workers), tuple(forklifts), tuple(belt))


def _approaches_clear(workers: list[_Worker], forklifts: list[_Forklift]) -> bool:
    for fk in forklifts:
        for wk in workers:
            lo, hi = max(fk.t0, wk.t0), min(fk.t1, wk.t1)
            if lo >= hi:
                continue
            ds = []
            for t in np.arange(lo, hi, 1.0 / FPS):
                fb = _forklift_box(fk, float(t))
                pb = _worker_geometry(wk, float(t))["box"]
                if fb is None:
                    continue
                ds.append(_ground_gap(pb, fb))
            if ds and NEAR_MISS_METRES * 0.6 < min(ds) < NEAR_MISS_METRES * 1.5:
                return False
    return True


def _people_apart(workers: list[_Worker], margin: float = 6.0) -> bool:
    """True when no two workers' boxes come within ``margin`` px of each other while on screen."""
    for a in range(len(workers)):
        for b in range(a + 1, len(workers)):
            wa, wb = workers[a], workers[b]
            lo, hi = max(wa.t0, wb.t0), min(wa.t1, wb.t1)
            for t in np.arange(lo, hi, 0.2):
                ba = _worker_geometry(wa, float(t))["box"]
                bb = _worker_geometry(wb, float(t))["box"]
                on_screen = all(-10 < (x[0] + x[2]) / 2 < WIDTH + 10 and x[1] < HEIGHT for x in (ba, bb))
                if (
                    on_screen
                    and min(ba[2], bb[2]) - max(ba[0], bb[0]) > -margin
                    and min(ba[3], bb[3]) - max(ba[1], bb[1]) > -margin
                ):
                    return False
    return True


def _ground_gap(person_box: tuple[float, ...], vehicle_box: tuple[float, ...]) -> float:
    """Ground distance (m) from the person's feet to the vehicle's near edge (its box's bottom edge)."""
    g = _project(
        H_GROUND_FROM_IMAGE,
        [
            ((person_box[0] + person_box[2]) / 2, person_box[3]),
            (vehicle_box[0], vehicle_box[3]),
            (vehicle_box[2], vehicle_box[3]),
        ],
    )
    p, a, b = g[0], g[1], g[2]
    ab = b - a
    f = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + f * ab)))


# ----------------------------------------------------------------------------- geometry
def _worker_geometry(wk: _Worker, t: float) -> dict[str, Any]:
    gx, gy, dist, moving = wk.pos(t)
    ((fx, fy),) = _project(H_IMAGE_FROM_GROUND, [(gx, gy)])
    s = _ppm(gx, gy)
    hpx = wk.height_m * s
    phase = dist / 0.75 * math.pi  # one stride per 1.5 m
    swing = 0.11 * hpx * math.sin(phase) if moving else 0.0
    head_c = (fx, fy - 0.88 * hpx)
    head_r = 0.068 * hpx
    half_w = 0.15 * hpx
    top = head_c[1] - head_r - (0.045 * hpx if wk.hat else 0.012 * hpx)
    box = (fx - half_w, top, fx + half_w, fy)
    # item boxes cover the whole head, with its hard hat or its hair (as PPE datasets label them)
    if wk.hat:
        ax, ay = 0.095 * hpx, 0.075 * hpx
        item = (
            head_c[0] - ax - 1,
            head_c[1] - head_r - 0.045 * hpx,
            head_c[0] + ax + 1,
            head_c[1] + head_r + 1,
        )
    else:
        item = (
            head_c[0] - head_r - 1,
            head_c[1] - head_r - 0.012 * hpx,
            head_c[0] + head_r + 1,
            head_c[1] + head_r + 1,
        )
        ax = ay = 0.0
    return {
        "foot": (fx, fy),
        "ground": (gx, gy),
        "hpx": hpx,
        "swing": swing,
        "head_c": head_c,
        "head_r": head_r,
        "hat_axes": (ax, ay),
        "box": box,
        "item": item,
        "speed_px": (s * 1.35 / FPS) if moving else 0.0,
    }


def _forklift_box(fk: _Forklift, t: float) -> tuple[float, float, float, float] | None:
    if not fk.t0 <= t <= fk.t1:
        return None
    tip = fk.front_x(t)
    length = 3.4  # forks 1.0 m + body 2.4 m
    gx0, gx1 = (tip - length, tip) if fk.direction > 0 else (tip, tip + length)
    a = _project(H_IMAGE_FROM_GROUND, [(gx0, _AISLE_NEAR_Y), (gx1, _AISLE_NEAR_Y)])
    s = _ppm((gx0 + gx1) / 2, _AISLE_NEAR_Y)
    return (float(a[0, 0]), float(a[0, 1] - 2.25 * s), float(a[1, 0]), float(a[0, 1]))


# ----------------------------------------------------------------------------- ground truth
@dataclass(frozen=True)
class GroundTruth:
    """Exact annotations of a scene.

    Attributes:
        boxes: per frame, an (M, 6) float32 array of rows (x1, y1, x2, y2, class_id, track_id), image pixels.
        events: ground-truth events, dicts with kind, start_pts, end_pts, track_id, class_name, box, attributes.
        meta: seed, duration, fps, size, class names, zone polygon, line, homography, thresholds.
    """

    boxes: list[npt.NDArray[np.float32]]
    events: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "events": self.events,
            "frames": [np.round(b, 2).tolist() for b in self.boxes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroundTruth:
        try:
            boxes = [np.asarray(f, np.float32).reshape(-1, 6) for f in data["frames"]]
            return cls(boxes=boxes, events=list(data["events"]), meta=dict(data["meta"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(
                f"ground truth: expected keys meta/events/frames with (M, 6) boxes, got error {exc}"
            ) from None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.events:
            out[e["kind"]] = out.get(e["kind"], 0) + 1
        return out


def _inside(poly: npt.NDArray[np.float32], x: float, y: float) -> bool:
    return cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0


def _clip_box(b: tuple[float, ...]) -> tuple[float, float, float, float, float]:
    """Clip to the frame; returns (x1, y1, x2, y2, visible fraction of the area)."""
    x1, y1, x2, y2 = (float(v) for v in b[:4])
    area = max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, WIDTH - 1.0), min(y2, HEIGHT - 1.0)
    vis = max(cx2 - cx1, 0.0) * max(cy2 - cy1, 0.0) / area
    return cx1, cy1, cx2, cy2, vis


def _covered(b: tuple[float, ...], occ: tuple[float, ...]) -> float:
    """Fraction of box b covered by box occ."""
    iw = min(b[2], occ[2]) - max(b[0], occ[0])
    ih = min(b[3], occ[3]) - max(b[1], occ[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)


# ----------------------------------------------------------------------------- the scene
class Scene:
    """A scripted site for one seed. Random access: :meth:`render` any frame index, in any order.

    Args:
        seed: any non-negative integer; the same seed always gives the same frames and ground truth.
        duration: seconds of stream time (frames = round(duration * FPS)).
    """

    def __init__(self, seed: int = 0, duration: float = DEFAULT_DURATION) -> None:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"demo scene seed: expected a non-negative integer, got {seed!r}")
        if not (math.isfinite(duration) and 1.0 <= duration <= 3600.0):
            raise ConfigError(f"demo scene duration: expected 1..3600 seconds, got {duration!r}")
        self.seed = int(seed)
        self.duration = float(duration)
        self.fps = FPS
        self.width, self.height = WIDTH, HEIGHT
        self.n_frames = round(duration * FPS)
        self._script = _make_script(self.seed, self.duration)
        rng = np.random.default_rng([self.seed, 104729])
        self._background = _render_background(rng)
        self._belt = _render_belt(rng)
        self._crates, self._crates_mask = _render_crates(rng)
        noise = rng.normal(0.0, 3.2, size=(8, HEIGHT, WIDTH, 3))
        self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self._noise_order = rng.integers(0, 8, self.n_frames)
        self._flicker = rng.random(self.n_frames) < 0.004
        self._light_phase = float(rng.uniform(0, 2 * math.pi))

    # -- timing
    def pts(self, index: int) -> float:
        return index / FPS

    def _belt_offset(self, t: float) -> float:
        run = 0.0
        for a, b in self._script.belt_moving:
            run += max(0.0, min(t, b) - a)
        return run * _CONVEYOR_SPEED

    def _gain(self, index: int) -> float:
        t = index / FPS
        g = (
            1.0
            + 0.10 * math.sin(2 * math.pi * t / 41.0 + self._light_phase)
            + 0.04 * math.sin(2 * math.pi * t / 13.0)
        )
        lo = max(0, index - 2)
        if self._flicker[lo : index + 1].any():
            g *= 0.82
        return g

    # -- geometry shared by render and ground truth
    def _objects(self, t: float) -> list[dict[str, Any]]:
        """Every visible object at time t, far to near (draw order)."""
        objs: list[dict[str, Any]] = []
        for p in self._script.parts:
            x = p.x(t)
            if -40 < x < WIDTH + 40 and t >= p.t0:
                objs.append({"kind": "part", "obj": p, "x": x, "depth": 100.0})
        for w in self._script.workers:
            if w.t0 <= t <= w.t1:
                g = _worker_geometry(w, t)
                objs.append({"kind": "worker", "obj": w, "g": g, "depth": g["ground"][1]})
        for f in self._script.forklifts:
            fb = _forklift_box(f, t)
            if fb is not None:
                objs.append({"kind": "forklift", "obj": f, "box": fb, "depth": _AISLE_NEAR_Y + 0.55})
        objs.sort(key=lambda o: -o["depth"])
        return objs

    def _frame_boxes(self, t: float) -> npt.NDArray[np.float32]:
        objs = self._objects(t)
        rows: list[tuple[float, ...]] = []
        # occluders in front of each object: later objects in draw order, plus the crate stack
        drawn_boxes: list[tuple[float, ...]] = []
        for o in objs:
            if o["kind"] == "part":
                p: _Part = o["obj"]
                b = (o["x"] - p.w / 2, p.y - p.h / 2, o["x"] + p.w / 2, p.y + p.h / 2)
                items = [(PART, p.track_id, b)]
                if p.defect is not None:
                    items.append((DEFECT, p.defect_id, _defect_box(p, o["x"])))
            elif o["kind"] == "worker":
                wk: _Worker = o["obj"]
                g = o["g"]
                b = g["box"]
                items = [(PERSON, wk.track_id, b), (HARD_HAT if wk.hat else HEAD, wk.item_id, g["item"])]
            else:
                b = o["box"]
                items = [(FORKLIFT, o["obj"].track_id, b)]
            o["items"] = items
            drawn_boxes.append(b)
        for i, o in enumerate(objs):
            front = [*drawn_boxes[i + 1 :], _CRATES]
            for cls, tid, b in o["items"]:
                x1, y1, x2, y2, vis = _clip_box(b)
                small = cls in (HARD_HAT, HEAD, DEFECT)
                cover = max((_covered(b, f) for f in front), default=0.0)
                if (
                    vis < (0.6 if small else 0.35)
                    or cover > (0.5 if small else 0.7)
                    or x2 - x1 < 3
                    or y2 - y1 < 3
                ):
                    continue
                rows.append((x1, y1, x2, y2, float(cls), float(tid)))
        return np.asarray(rows, np.float32).reshape(-1, 6)

    # -- rendering
    def render(self, index: int) -> npt.NDArray[np.uint8]:
        """Frame ``index`` as (HEIGHT, WIDTH, 3) uint8 BGR."""
        if not 0 <= index < self.n_frames:
            raise SourceError(f"demo scene: frame index must be in [0, {self.n_frames}), got {index}")
        t = index / FPS
        img = self._background.copy()
        off = int(self._belt_offset(t)) % 32
        img[_BELT_Y0:_BELT_Y1] = self._belt[:, off : off + WIDTH]
        for o in self._objects(t):
            if o["kind"] == "part":
                _draw_part(img, o["obj"], o["x"])
            elif o["kind"] == "worker":
                _draw_worker(img, o["obj"], o["g"])
            else:
                _draw_forklift(img, o["obj"], o["box"], t)
        cv2.copyTo(self._crates, self._crates_mask, img)
        gain = self._gain(index)
        lut = np.clip(np.arange(256, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
        k = int(self._noise_order[index])
        out = cv2.subtract(cv2.add(cv2.LUT(img, lut), self._noise_pos[k]), self._noise_neg[k])
        return np.ascontiguousarray(out, dtype=np.uint8)

    def frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
        """Yield (index, pts seconds, BGR image) for frames [start, stop)."""
        for i in range(start, self.n_frames if stop is None else min(stop, self.n_frames)):
            yield i, i / FPS, self.render(i)

    def boxes(self, index: int) -> npt.NDArray[np.float32]:
        """Ground-truth boxes of frame ``index``: (M, 6) rows (x1, y1, x2, y2, class_id, track_id)."""
        return self._frame_boxes(index / FPS)

    def ground_truth(self) -> GroundTruth:
        """Per-frame boxes and ground-truth events for the whole scene."""
        boxes = [self._frame_boxes(i / FPS) for i in range(self.n_frames)]
        return GroundTruth(boxes=boxes, events=self._events(boxes), meta=self.meta())

    def meta(self) -> dict[str, Any]:
        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "duration": self.duration,
            "fps": FPS,
            "width": WIDTH,
            "height": HEIGHT,
            "frames": self.n_frames,
            "names": dict(enumerate(CLASS_NAMES)),
            "zone": [list(p) for p in ZONE_IMAGE],
            "line": [list(LINE[0]), list(LINE[1])],
            "homography_ground_from_image": np.round(H_GROUND_FROM_IMAGE, 10).tolist(),
            "ppe_seconds": PPE_SECONDS,
            "near_miss_metres": NEAR_MISS_METRES,
        }

    def _events(self, boxes: list[npt.NDArray[np.float32]]) -> list[dict[str, Any]]:
        """Ground-truth events derived from the per-frame boxes (what a perfect detector + tracker sees)."""
        tracks: dict[tuple[int, int], list[tuple[int, npt.NDArray[np.float32]]]] = {}
        for i, rows in enumerate(boxes):
            for r in rows:
                tracks.setdefault((int(r[4]), int(r[5])), []).append((i, r[:4]))
        events: list[dict[str, Any]] = []

        def ev(
            kind: str, cls: int, tid: int, i0: int, i1: int, box: npt.NDArray[np.float32], **attrs: Any
        ) -> None:
            events.append(
                {
                    "kind": kind,
                    "class_name": CLASS_NAMES[cls],
                    "track_id": tid,
                    "start_pts": round(i0 / FPS, 3),
                    "end_pts": round(i1 / FPS, 3),
                    "box": [round(float(v), 1) for v in box],
                    "attributes": attrs,
                }
            )

        # defect: one per defective part (its defect seen at least 0.5 s)
        for (cls, tid), obs in tracks.items():
            if cls == DEFECT and len(obs) >= 5:
                part = next(p for p in self._script.parts if p.defect_id == tid)
                ev(
                    "defect",
                    PART,
                    part.track_id,
                    obs[0][0],
                    obs[-1][0],
                    obs[len(obs) // 2][1],
                    defect=part.defect,
                )
        # line crossing: part centre crosses x = LINE x, left -> right
        lx = LINE[0][0]
        for (cls, tid), obs in tracks.items():
            if cls != PART:
                continue
            for (_ia, ba), (ib, bb) in itertools.pairwise(obs):
                if (ba[0] + ba[2]) / 2 < lx <= (bb[0] + bb[2]) / 2:
                    ev("line_cross", PART, tid, ib, ib, bb, direction="right")
        # PPE: hatless worker seen with a bare head for >= PPE_SECONDS
        for wk in self._script.workers:
            if wk.hat:
                continue
            obs = tracks.get((HEAD, wk.item_id), [])
            if obs and (obs[-1][0] - obs[0][0]) / FPS >= PPE_SECONDS + 0.5:
                pobs = dict(tracks.get((PERSON, wk.track_id), []))
                # starts when the bare head is first seen (reported PPE_SECONDS later, as the rule does)
                i0 = obs[0][0]
                ev("ppe", PERSON, wk.track_id, i0, obs[-1][0], pobs.get(i0, obs[0][1]), missing="hard_hat")
        # zone intrusion: the person's bottom-centre enters the zone polygon (point event)
        poly = np.asarray(ZONE_IMAGE, np.float32)
        for (cls, tid), obs in tracks.items():
            if cls != PERSON:
                continue
            prev = False  # as the zone rule: a track first seen counts as outside
            for i, b in obs:
                inside = _inside(poly, (b[0] + b[2]) / 2, b[3])
                if inside and prev is False:
                    ev("zone_enter", PERSON, tid, i, i, b, zone="restricted")
                prev = inside
        # near-miss: person within NEAR_MISS_METRES of a forklift's near edge (episodes)
        per_frame: dict[int, dict[int, npt.NDArray[np.float32]]] = {}
        for (cls, tid), obs in tracks.items():
            if cls in (PERSON, FORKLIFT):
                for i, b in obs:
                    per_frame.setdefault(i, {})[tid if cls == PERSON else -tid] = b
        close: dict[tuple[int, int], list[int]] = {}
        for i, objs in sorted(per_frame.items()):
            for pid, pb in objs.items():
                if pid < 0:
                    continue
                for fid, fb in objs.items():
                    if fid < 0 and _ground_gap(tuple(pb), tuple(fb)) < NEAR_MISS_METRES:
                        close.setdefault((pid, -fid), []).append(i)
        for (pid, fid), frames in close.items():
            start = frames[0]
            for cur, nxt in zip(frames, [*frames[1:], None], strict=True):
                if nxt is None or nxt - cur > FPS:
                    ev("near_miss", PERSON, pid, start, cur, per_frame[start][pid], vehicle_track_id=fid)
                    if nxt is not None:
                        start = nxt
        events.sort(key=lambda e: (e["start_pts"], e["kind"], e["track_id"]))
        return events


# ----------------------------------------------------------------------------- drawing
def _noise_texture(
    rng: np.random.Generator, h: int, w: int, scales: tuple[int, ...], amps: tuple[float, ...]
) -> npt.NDArray[np.float32]:
    out = np.zeros((h, w), np.float32)
    for s, a in zip(scales, amps, strict=True):
        small = rng.normal(0, 1, (max(2, h // s), max(2, w // s))).astype(np.float32)
        out += a * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out


def _render_background(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    h, w = HEIGHT, WIDTH
    img = np.zeros((h, w, 3), np.float32)
    # back wall (above the floor) with panels
    wall = 120 + _noise_texture(rng, h, w, (32, 8, 2), (8, 5, 3))
    img[:] = np.stack([wall * 0.95, wall * 0.97, wall], axis=2)
    for x in range(0, w, 64):
        img[:96, x : x + 2] *= 0.8
    # floor: concrete through the perspective
    floor = 105 + _noise_texture(rng, h, w, (48, 12, 3, 1), (10, 6, 4, 3))
    floor_rgb = np.stack([floor * 0.98, floor, floor * 1.02], axis=2)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(_IMAGE_QUAD).astype(np.int32)], 1)
    mask[96:] = 1
    img = np.where(mask[..., None] > 0, floor_rgb, img)
    # stains
    for _ in range(14):
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(100, h))
        st = np.zeros((h, w), np.float32)
        cv2.ellipse(
            st,
            (cx, cy),
            (int(rng.uniform(6, 30)), int(rng.uniform(3, 12))),
            float(rng.uniform(0, 180)),
            0,
            360,
            1.0,
            -1,
        )
        st = np.asarray(cv2.GaussianBlur(st, (0, 0), 4), np.float32)
        img *= (1 - 0.25 * st)[..., None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    # expansion joints on the floor every 3 m, and the yellow aisle lines
    for gx in range(0, 13, 3):
        a = _project(H_IMAGE_FROM_GROUND, [(gx, 0), (gx, 10)]).round().astype(int)
        cv2.line(out, tuple(a[0]), tuple(a[1]), (80, 82, 85), 1, cv2.LINE_AA)
    for gy in (3.0, 6.0, 9.0):
        a = _project(H_IMAGE_FROM_GROUND, [(-3, gy), (15, gy)]).round().astype(int)
        cv2.line(out, tuple(a[0]), tuple(a[1]), (80, 82, 85), 1, cv2.LINE_AA)
    for gy in (1.6, 3.2):
        a = _project(H_IMAGE_FROM_GROUND, [(-3, gy), (15, gy)]).round().astype(int)
        cv2.line(out, tuple(a[0]), tuple(a[1]), (30, 190, 220), 3, cv2.LINE_AA)
    # restricted zone: red tint, hatching and a yellow/black border
    poly = np.round(np.asarray(ZONE_IMAGE)).astype(np.int32)
    tint = out.copy()
    cv2.fillPoly(tint, [poly], (40, 40, 170))
    zmask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(zmask, [poly], 255)
    for k in range(-300, 600, 14):
        cv2.line(tint, (k, 96), (k + 200, 296), (30, 30, 120), 2, cv2.LINE_AA)
    blend = cv2.addWeighted(out, 0.7, tint, 0.3, 0)
    out = np.where(zmask[..., None] > 0, blend, out)
    cv2.polylines(out, [poly], True, (20, 200, 230), 4, cv2.LINE_AA)
    cv2.polylines(out, [poly], True, (20, 20, 20), 1, cv2.LINE_AA)
    # conveyor: rails, legs, and the counting mark on the side
    cv2.rectangle(out, (0, _BELT_Y0 - 5), (w, _BELT_Y0 - 1), (95, 100, 105), -1)
    cv2.rectangle(out, (0, _BELT_Y1), (w, _BELT_Y1 + 6), (85, 90, 95), -1)
    cv2.line(out, (0, _BELT_Y0 - 5), (w, _BELT_Y0 - 5), (150, 155, 160), 1)
    for x in range(20, w, 90):
        cv2.rectangle(out, (x, _BELT_Y1 + 6), (x + 6, 98), (60, 62, 66), -1)
    cv2.rectangle(
        out, (int(LINE[0][0]) - 2, _BELT_Y1), (int(LINE[0][0]) + 2, _BELT_Y1 + 6), (20, 200, 230), -1
    )
    # ceiling lamps: pools of light
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.full((h, w), 0.82, np.float32)
    for lx, ly in ((110, 170), (300, 210), (460, 150)):
        light += 0.28 * np.exp(-(((xx - lx) / 120) ** 2 + ((yy - ly) / 80) ** 2))
    return np.clip(out.astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)


def _render_belt(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    h, w = _BELT_Y1 - _BELT_Y0, WIDTH + 32
    belt = 55 + _noise_texture(rng, h, w, (4, 1), (4, 3))
    for x in range(0, w, 32):
        belt[:, x : x + 2] -= 14
    belt[:3] += 25
    belt[-3:] -= 10
    b = np.clip(belt, 0, 255).astype(np.uint8)
    # the strip scrolls right with the belt: frame column c shows strip column c + 32 - offset
    b = b[:, ::-1]
    return np.ascontiguousarray(np.stack([b, b, b + 3], axis=2))


def _render_crates(rng: np.random.Generator) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    x0, y0, x1, y1 = _CRATES
    wood = 120 + _noise_texture(rng, y1 - y0, x1 - x0, (6, 1), (10, 6))
    for y in range(0, y1 - y0, 9):
        wood[y : y + 1] -= 35
    tex = np.clip(np.stack([wood * 0.55, wood * 0.8, wood], axis=2), 0, 255).astype(np.uint8)
    img[y0:y1, x0:x1] = tex
    mask[y0:y1, x0:x1] = 1
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), (30, 45, 60), 2)
    cv2.line(img, (x0, y0 + 30), (x1, y0 + 30), (30, 45, 60), 2)
    cv2.line(img, (x0 + 35, y0 + 30), (x0 + 35, y1), (30, 45, 60), 2)
    return img, mask


def _blur_region(img: npt.NDArray[np.uint8], box: tuple[float, ...], k: int) -> None:
    if k < 2:
        return
    x1, y1 = max(int(box[0]) - k, 0), max(int(box[1]) - 1, 0)
    x2, y2 = min(int(box[2]) + k + 1, img.shape[1]), min(int(box[3]) + 2, img.shape[0])
    if x2 - x1 > k and y2 > y1:
        roi = img[y1:y2, x1:x2]
        roi[:] = cv2.blur(roi, (k, 1))


def _defect_box(p: _Part, x: float) -> tuple[float, float, float, float]:
    if p.defect == "hole":
        hx = x + (-0.25 if p.hole == 0 else 0.25) * p.w
        return (hx - 6, p.y - 6, hx + 6, p.y + 6)
    if p.defect == "crack":
        xs = [x + c[0] for c in p.crack]
        ys = [p.y + c[1] for c in p.crack]
        return (min(xs) - 2, min(ys) - 2, max(xs) + 2, max(ys) + 2)
    return (x - p.w / 2, p.y - p.h / 2, x + p.w / 2, p.y + p.h / 2)


def _draw_part(img: npt.NDArray[np.uint8], p: _Part, x: float) -> None:
    x1, y1, x2, y2 = round(x - p.w / 2), round(p.y - p.h / 2), round(x + p.w / 2), round(p.y + p.h / 2)
    c = p.shade
    dark = tuple(int(v * 0.6) for v in c)
    light = tuple(min(255, int(v * 1.25)) for v in c)
    cv2.rectangle(img, (x1 + 2, y1 + 3), (x2 + 2, y2 + 3), (30, 30, 32), -1)  # shadow on the belt
    cv2.rectangle(img, (x1, y1), (x2, y2), c, -1)
    cv2.rectangle(img, (x1, y1), (x2, y1 + 3), light, -1)
    cv2.rectangle(img, (x1, y1), (x2, y2), dark, 1)
    for sx, sy, ln, ang in p.scratches:
        a = (int(x + sx), int(p.y + sy))
        b = (int(x + sx + ln * math.cos(ang)), int(p.y + sy + ln * math.sin(ang)))
        cv2.line(img, a, b, light, 1, cv2.LINE_AA)
    for k, fx in enumerate((-0.25, 0.25)):
        if p.defect == "hole" and k == p.hole:
            continue
        cv2.circle(img, (round(x + fx * p.w), round(p.y)), 4, (25, 25, 28), -1, cv2.LINE_AA)
    if p.defect == "crack":
        pts = np.array([(x + cx, p.y + cy) for cx, cy in p.crack]).round().astype(np.int32)
        cv2.polylines(img, [pts], False, (22, 22, 26), 2, cv2.LINE_AA)
    _blur_region(img, (x1, y1, x2, y2), 3)


def _draw_worker(img: npt.NDArray[np.uint8], wk: _Worker, g: dict[str, Any]) -> None:
    fx, fy = g["foot"]
    hpx = g["hpx"]
    sw = g["swing"]
    th = max(2, int(0.085 * hpx))
    # shadow
    ov = img.copy()
    cv2.ellipse(ov, (int(fx), int(fy)), (int(0.2 * hpx), int(0.05 * hpx) + 1), 0, 0, 360, (0, 0, 0), -1)
    x1, y1, x2, y2 = (
        int(fx - 0.25 * hpx),
        int(fy - 0.08 * hpx),
        int(fx + 0.25 * hpx) + 1,
        int(fy + 0.08 * hpx) + 1,
    )
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, WIDTH), min(y2, HEIGHT)
    if x2 > x1 and y2 > y1:
        img[y1:y2, x1:x2] = cv2.addWeighted(img[y1:y2, x1:x2], 0.6, ov[y1:y2, x1:x2], 0.4, 0)
    hip_y = fy - 0.47 * hpx
    legs_dark = tuple(int(v * 0.75) for v in wk.legs)
    for side, s in ((-1, sw), (1, -sw)):
        cv2.line(
            img,
            (int(fx + side * 0.04 * hpx), int(hip_y)),
            (int(fx + s), int(fy - 2)),
            legs_dark if side < 0 else wk.legs,
            th,
            cv2.LINE_AA,
        )
        cv2.line(
            img,
            (int(fx + s - 1), int(fy - 1)),
            (int(fx + s + 0.05 * hpx), int(fy - 1)),
            (25, 25, 25),
            max(2, th // 2),
            cv2.LINE_AA,
        )
    sh_y = fy - 0.78 * hpx
    # arms swing opposite to the legs
    for side, s in ((-1, -sw), (1, sw)):
        sx = fx + side * 0.11 * hpx
        cv2.line(
            img,
            (int(sx), int(sh_y + 2)),
            (int(sx + 0.8 * s), int(fy - 0.48 * hpx)),
            wk.top,
            max(2, int(th * 0.8)),
            cv2.LINE_AA,
        )
        cv2.circle(img, (int(sx + 0.8 * s), int(fy - 0.47 * hpx)), max(1, th // 2), wk.skin, -1, cv2.LINE_AA)
    torso = (
        np.array(
            [
                (fx - 0.12 * hpx, sh_y),
                (fx + 0.12 * hpx, sh_y),
                (fx + 0.10 * hpx, hip_y + 0.02 * hpx),
                (fx - 0.10 * hpx, hip_y + 0.02 * hpx),
            ]
        )
        .round()
        .astype(np.int32)
    )
    cv2.fillPoly(img, [torso], wk.top, cv2.LINE_AA)
    if wk.vest:
        yb = int(sh_y + 0.17 * hpx)
        cv2.line(
            img, (int(fx - 0.11 * hpx), yb), (int(fx + 0.11 * hpx), yb), (200, 200, 205), max(1, th // 3)
        )
    hx, hy = g["head_c"]
    r = g["head_r"]
    cv2.line(img, (int(hx), int(sh_y)), (int(hx), int(hy + r)), wk.skin, max(2, int(r * 0.8)))
    cv2.circle(img, (round(hx), round(hy)), max(2, round(r)), wk.skin, -1, cv2.LINE_AA)
    if wk.hat:
        ax, ay = g["hat_axes"]
        cy = hy - 0.25 * r
        cv2.ellipse(
            img,
            (round(hx), round(cy)),
            (max(2, round(ax * 0.8)), max(2, round(ay))),
            0,
            180,
            360,
            wk.hat_colour,
            -1,
            cv2.LINE_AA,
        )
        brim = tuple(int(v * 0.8) for v in wk.hat_colour)
        cv2.line(
            img,
            (round(hx - ax), round(cy)),
            (round(hx + ax), round(cy)),
            brim,
            max(1, int(r * 0.35)),
            cv2.LINE_AA,
        )
        hl = tuple(min(255, int(v * 1.15) + 20) for v in wk.hat_colour)
        cv2.circle(img, (round(hx - 0.3 * ax), round(cy - 0.6 * ay)), max(1, int(r * 0.2)), hl, -1)
    else:
        cv2.ellipse(
            img,
            (round(hx), round(hy - 0.15 * r)),
            (max(2, round(r * 1.02)), max(2, round(r * 0.9))),
            0,
            180,
            360,
            wk.hair,
            -1,
            cv2.LINE_AA,
        )
    _blur_region(img, g["box"], round(g["speed_px"] * 0.5))


def _draw_forklift(
    img: npt.NDArray[np.uint8], fk: _Forklift, box: tuple[float, float, float, float], t: float
) -> None:
    x1, _y1, x2, y2 = box
    L = x2 - x1
    s = L / 3.4
    d = fk.direction
    body_col = fk.colour
    dark = tuple(int(v * 0.55) for v in body_col)

    # x positions measured from the rear, flipped for direction
    def X(m: float) -> int:
        return round(x1 + m * s) if d > 0 else round(x2 - m * s)

    def Y(m: float) -> int:
        return round(y2 - m * s)

    # shadow under it
    cv2.rectangle(img, (int(x1) + 2, Y(0.12)), (int(x2) - 2, Y(-0.05)), (35, 35, 38), -1)
    # counterweight + body
    cv2.rectangle(img, (min(X(0), X(0.5)), Y(1.25)), (max(X(0), X(0.5)), Y(0.3)), dark, -1)
    cv2.rectangle(img, (min(X(0.45), X(2.3)), Y(1.15)), (max(X(0.45), X(2.3)), Y(0.3)), body_col, -1)
    cv2.line(img, (X(0.45), Y(0.8)), (X(2.3), Y(0.8)), dark, 1)
    # overhead guard (cab cage)
    for m in (0.7, 1.9):
        cv2.line(img, (X(m), Y(1.15)), (X(m), Y(2.15)), (35, 35, 35), max(2, int(0.06 * s)))
    cv2.line(img, (X(0.6), Y(2.15)), (X(2.0), Y(2.15)), (35, 35, 35), max(2, int(0.08 * s)))
    cv2.rectangle(
        img, (min(X(1.0), X(1.5)), Y(1.45)), (max(X(1.0), X(1.5)), Y(1.15)), (40, 40, 45), -1
    )  # seat
    # mast and forks
    cv2.rectangle(img, (min(X(2.3), X(2.42)), Y(2.25)), (max(X(2.3), X(2.42)), Y(0.1)), (60, 62, 66), -1)
    lift = 0.15 + 0.05 * math.sin(t * 3.0)
    cv2.rectangle(
        img, (min(X(2.4), X(3.4)), Y(lift + 0.07)), (max(X(2.4), X(3.4)), Y(lift)), (50, 52, 55), -1
    )
    # wheels
    for m, rr in ((0.55, 0.3), (1.95, 0.3)):
        c = (X(m), Y(rr))
        cv2.circle(img, c, max(3, int(rr * s)), (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, c, max(1, int(rr * s * 0.45)), (120, 120, 125), -1, cv2.LINE_AA)
    # beacon
    cv2.circle(img, (X(1.3), Y(2.25)), max(2, int(0.07 * s)), (0, 90, 255), -1, cv2.LINE_AA)
    _blur_region(img, box, round(_FORKLIFT_SPEED * s / FPS * 0.45))


# ----------------------------------------------------------------------------- files + cache
def frames_digest(scene: Scene, stop: int | None = None) -> str:
    """sha256 over the raw frames [0, stop): the determinism fingerprint."""
    h = hashlib.sha256()
    for _, _, img in scene.frames(0, stop):
        h.update(img.tobytes())
    return h.hexdigest()


def write_video(scene: Scene, path: Path, progress: Any = None) -> None:
    """Encode all frames to ``path`` (.avi = MJPG, .mp4 = mp4v)."""
    fourcc = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    wr = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*fourcc), FPS, (WIDTH, HEIGHT))
    if not wr.isOpened():
        raise SourceError(f"demo scene: OpenCV cannot write {fourcc} video to {tmp}")
    try:
        for i, _, img in scene.frames():
            wr.write(img)
            if progress is not None:
                progress(i + 1, scene.n_frames)
    finally:
        wr.release()
    os.replace(tmp, path)


def ensure_scene(
    seed: int = 0, duration: float = DEFAULT_DURATION, cache_dir: Path | None = None, progress: Any = None
) -> tuple[Path, Path]:
    """Write (or reuse from the cache) the scene video and its ground-truth JSON.

    Args:
        seed: scene seed.
        duration: stream seconds.
        cache_dir: folder for ``scene-<seed>-<duration>-v<version>.avi`` and ``.json``;
            default ``$EDGESIGHT_CACHE`` or ``~/.cache/edgesight/demo``.
        progress: optional callback ``(done, total)`` while frames are encoded.

    Returns:
        (video path, ground-truth JSON path). A cached pair is reused when both exist and the JSON's
        meta matches (same seed, duration and generator version).
    """
    if cache_dir is None:
        cache_dir = Path(os.environ.get("EDGESIGHT_CACHE", Path.home() / ".cache" / "edgesight")) / "demo"
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"scene-{seed}-{duration:g}s-v{GENERATOR_VERSION}"
    video, gt_path = cache_dir / f"{stem}.avi", cache_dir / f"{stem}.json"
    scene = Scene(seed, duration)
    if video.is_file() and gt_path.is_file():
        try:
            meta = json.loads(gt_path.read_text())["meta"]
            if meta == json.loads(json.dumps(scene.meta())):
                return video, gt_path
        except (OSError, ValueError, KeyError):
            pass
    write_video(scene, video, progress)
    tmp = gt_path.with_suffix(".partial.json")
    tmp.write_text(json.dumps(scene.ground_truth().to_json()))
    os.replace(tmp, gt_path)
    return video, gt_path


def load_ground_truth(path: Path) -> GroundTruth:
    """Read a ground-truth JSON written by :func:`ensure_scene`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SourceError(f"ground truth {path}: cannot read JSON ({exc})") from None
    return GroundTruth.from_json(data)

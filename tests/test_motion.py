"""Motion gate: still scenes skip the detector, motion runs it, max_skip_seconds forces it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesight.config import FileSourceConfig, MotionConfig
from edgesight.motion import MotionGate, motion_gate_enabled
from edgesight.sources import open_source
from edgesight.types import Frame


def mcfg(**kw: object) -> MotionConfig:
    return MotionConfig.model_validate(kw)


def background(seed: int = 0, h: int = 360, w: int = 480) -> np.ndarray:
    """A textured still scene (smooth random blobs), BGR uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (h // 20, w // 20, 3), dtype=np.uint8)
    return np.kron(small, np.ones((20, 20, 1), np.uint8))


def frame(image: np.ndarray, i: int, fps: float = 10.0) -> Frame:
    return Frame(image=image, source_id="cam", index=i, pts=i / fps)


def with_noise(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def with_square(image: np.ndarray, x: int, y: int = 150, size: int = 40) -> np.ndarray:
    out = image.copy()
    out[y : y + size, x : x + size] = 255
    return out


def test_still_frames_are_skipped_even_with_sensor_noise() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=100))
    rng = np.random.default_rng(1)
    bg = background()
    decisions = [gate.check(frame(with_noise(bg, rng), i)) for i in range(50)]
    assert decisions[0] is True  # first frame: nothing to compare with
    assert not any(decisions[1:])
    assert gate.stats()["checked"] == 50 and gate.stats()["skipped"] == 49 and gate.stats()["ran"] == 1
    assert gate.stats()["forced"] == 1


def test_moving_object_runs_the_detector() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=100))
    bg = background()
    decisions = [gate.check(frame(with_square(bg, 20 + 12 * i), i)) for i in range(30)]
    assert all(decisions)
    assert gate.stats()["skipped"] == 0 and gate.stats()["forced"] == 1


def test_object_that_stops_is_skipped_after_the_next_run() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=100))
    bg = background()
    xs = [20, 40, 60, 80, 80, 80, 80, 80]
    decisions = [gate.check(frame(with_square(bg, x), i)) for i, x in enumerate(xs)]
    assert decisions == [True, True, True, True, False, False, False, False]


def test_slow_motion_accumulates_against_the_last_run() -> None:
    """1 px per frame is under the threshold frame-to-frame, but not against the last analysed run."""
    gate = MotionGate(mcfg(max_skip_seconds=100, threshold=0.005))
    bg = background()
    decisions = [gate.check(frame(with_square(bg, 100 + i), i, fps=30)) for i in range(90)]
    runs = sum(decisions)
    assert 2 < runs < 60  # it runs now and then, well below every frame


def test_forced_run_after_max_skip_seconds() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=2.0))
    bg = background()
    decisions = [gate.check(frame(bg, i)) for i in range(51)]  # 5 s at 10 fps
    ran_at = [i / 10 for i, d in enumerate(decisions) if d]
    assert ran_at == [0.0, 2.0, 4.0]
    assert gate.stats()["forced"] == 3 and gate.stats()["skipped"] == 48


def test_max_skip_zero_runs_every_frame() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=0))
    bg = background()
    assert all(gate.check(frame(bg, i)) for i in range(10))


@pytest.mark.parametrize(
    ("square", "threshold", "runs"),
    [
        (8, 0.01, False),  # 8x8 px of 480x360 = 0.04 % of the frame < 1 %
        (80, 0.01, True),  # 80x80 = 3.7 % > 1 %
        (8, 0.0001, True),
    ],
)
def test_threshold_is_a_fraction_of_changed_pixels(square: int, threshold: float, runs: bool) -> None:
    gate = MotionGate(mcfg(threshold=threshold, max_skip_seconds=100))
    bg = background()
    gate.check(frame(bg, 0))
    assert gate.check(frame(with_square(bg, 200, size=square), 1)) is runs


def test_size_change_and_time_going_back_force_a_run() -> None:
    gate = MotionGate(mcfg(max_skip_seconds=100))
    bg = background()
    assert gate.check(frame(bg, 0))
    assert not gate.check(frame(bg, 1))
    assert gate.check(frame(background(h=240, w=320), 2))  # new resolution
    assert not gate.check(frame(background(h=240, w=320), 3))
    assert gate.check(Frame(image=background(h=240, w=320), source_id="cam", index=4, pts=0.0))  # restarted


def test_gate_does_not_touch_the_frame() -> None:
    gate = MotionGate(mcfg())
    img = background()
    before = img.copy()
    gate.check(frame(img, 0))
    gate.check(frame(with_square(img, 10), 1))
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("shape", [(100, 200), (100, 200, 1), (100, 200, 3), (100, 200, 4)])
def test_grey_bgr_and_bgra_images_are_accepted(shape: tuple[int, ...]) -> None:
    gate = MotionGate(mcfg())
    assert gate.analysis_image(np.zeros(shape, np.uint8)).shape == (80, 160)


@pytest.mark.parametrize("shape", [(100,), (100, 200, 2), (0, 0, 3)])
def test_bad_image_shape_is_a_clear_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expects an"):
        MotionGate(mcfg()).analysis_image(np.zeros(shape, np.uint8))


@pytest.mark.parametrize(
    ("enabled", "is_live", "on"),
    [("auto", True, True), ("auto", False, False), (True, False, True), (False, True, False)],
)
def test_auto_means_live_sources_only(enabled: object, is_live: bool, on: bool) -> None:
    assert motion_gate_enabled(mcfg(enabled=enabled), is_live) is on


@pytest.mark.assets
def test_real_street_video_runs_on_motion_and_skips_a_frozen_picture(assets: Path) -> None:
    src = open_source(FileSourceConfig(name="street", path=assets / "videos/pedestrians_480x360.avi"))
    frames = [f for f, _ in zip(src.frames(), range(60), strict=False)]
    src.close()
    gate = MotionGate(mcfg(max_skip_seconds=100))
    live = sum(gate.check(f) for f in frames)
    assert live > 30  # people walk through the street all the time
    frozen = MotionGate(mcfg(max_skip_seconds=100))
    still = frames[0].image
    assert sum(frozen.check(Frame(still, "street", i, i / 10)) for i in range(60)) == 1

"""Motion gate: a cheap low-resolution frame difference decides whether the detector must run.

Public API (what the runner uses)::

    from edgesight.motion import MotionGate, motion_gate_enabled

    if motion_gate_enabled(cfg.motion, source.is_live):
        gate = MotionGate(cfg.motion)          # one per source
    ...
    if gate.check(frame):                      # True: run the detector on this frame
        tracked = tracker.update(detector(frame), frame.pts)
    else:                                      # still scene: let the tracker coast
        tracked = tracker.coast(frame.pts)
    gate.stats()                               # {"checked", "ran", "skipped", "forced", "motion_fraction"}

How: the frame is resized to ``downscale_width`` (aspect kept), turned grey and blurred (5x5 Gaussian,
which hides sensor noise and compression blocks); the fraction of pixels whose grey level differs by
more than ``pixel_delta`` from the *reference* is compared with ``threshold``. The reference is the
analysis image of the last frame the detector ran on, not simply the previous frame: a slow change
(a person walking slowly at 30 fps, light creeping) accumulates until it counts, instead of hiding
below the threshold one small step at a time. The detector is forced to run at least every
``max_skip_seconds`` of stream time, and on the first frame and whenever the frame size changes.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.config import MotionConfig
from edgesight.types import Frame

__all__ = ["MotionGate", "motion_gate_enabled"]


def motion_gate_enabled(cfg: MotionConfig, is_live: bool) -> bool:
    """Resolve ``enabled: auto``: on for live sources, off for files (offline analysis sees every frame)."""
    return is_live if cfg.enabled == "auto" else bool(cfg.enabled)


class MotionGate:
    """Decides per frame whether the detector must run. One instance per source (it keeps a reference).

    Counters: ``checked`` frames seen, ``ran`` (detector runs it asked for), ``skipped`` (the rest),
    ``forced`` (runs caused by ``max_skip_seconds``, the first frame or a size change, not by motion).
    """

    def __init__(self, cfg: MotionConfig | None = None) -> None:
        self.cfg = cfg or MotionConfig.model_validate({})
        self._reference: npt.NDArray[np.uint8] | None = None
        self._reference_shape: tuple[int, ...] | None = None
        self._last_run_pts: float | None = None
        self.checked = 0
        self.ran = 0
        self.skipped = 0
        self.forced = 0
        self.motion_fraction = 0.0  # fraction of changed pixels in the last checked frame, 0..1

    def analysis_image(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """(H, W, 3) BGR, (H, W, 4) BGRA or (H, W) grey uint8 -> (h, downscale_width) blurred grey uint8."""
        if (
            image.ndim not in (2, 3)
            or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))
            or image.size == 0
        ):
            raise ValueError(f"motion gate expects an (H, W, 3) BGR image, got shape {image.shape}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        h, w = image.shape[:2]
        width = min(self.cfg.downscale_width, w)
        height = max(1, round(h * width / w))
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if small.ndim == 3 and small.shape[2] in (3, 4):
            grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY if small.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        else:
            grey = small.reshape(small.shape[0], small.shape[1])
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.uint8)

    def check(self, frame: Frame) -> bool:
        """True when the detector should run on ``frame`` (motion, or forced); counts the decision."""
        self.checked += 1
        small = self.analysis_image(frame.image)
        forced = (
            self._reference is None
            or self._reference_shape != frame.image.shape
            or self._last_run_pts is None
            or frame.pts < self._last_run_pts  # stream restarted
            or frame.pts - self._last_run_pts >= self.cfg.max_skip_seconds
        )
        if self._reference is not None and self._reference.shape == small.shape:
            diff = cv2.absdiff(small, self._reference)
            self.motion_fraction = float(np.count_nonzero(diff > self.cfg.pixel_delta)) / diff.size
        else:
            self.motion_fraction = 0.0  # nothing to compare with: the run below counts as forced
        moving = self.motion_fraction > self.cfg.threshold
        if not (moving or forced):
            self.skipped += 1
            return False
        if forced and not moving:
            self.forced += 1
        self.ran += 1
        self._reference = small
        self._reference_shape = frame.image.shape
        self._last_run_pts = frame.pts
        return True

    def reset(self) -> None:
        """Forget the reference: the next frame runs the detector."""
        self._reference = None
        self._reference_shape = None
        self._last_run_pts = None

    def stats(self) -> dict[str, int | float]:
        return {
            "checked": self.checked,
            "ran": self.ran,
            "skipped": self.skipped,
            "forced": self.forced,
            "motion_fraction": round(self.motion_fraction, 5),
        }

"""Constant-velocity Kalman filter on boxes in xyah space, with a time step in seconds.

State (8,): ``[cx, cy, a, h, vcx, vcy, va, vh]`` — box centre (frame pixels), aspect ratio w/h, height
(pixels), and their velocities. Measurement (4,): ``[cx, cy, a, h]``.

This is the filter of SORT/DeepSORT/ByteTrack with one change: the reference advances one *frame* per
predict, so its behaviour depends on fps. Here a predict covers ``dt`` seconds, expressed in steps of
``1 / reference_fps`` (30 fps, where the reference noise weights were tuned): the transition uses that
many steps and process noise grows linearly with it (a random walk), so 5 fps and 30 fps streams of the
same motion give the same predictions. Velocities are in units per reference step (1/30 s).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["REFERENCE_FPS", "KalmanXYAH", "xyah_to_xyxy", "xyxy_to_xyah"]

REFERENCE_FPS = 30.0

F64 = npt.NDArray[np.float64]


def xyxy_to_xyah(xyxy: npt.ArrayLike) -> F64:
    """(N, 4) x1, y1, x2, y2 -> (N, 4) cx, cy, w/h, h (pixels); zero heights are clamped to 1e-6."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    w = b[:, 2] - b[:, 0]
    h = np.maximum(b[:, 3] - b[:, 1], 1e-6)
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: npt.ArrayLike) -> F64:
    """(N, 4) cx, cy, w/h, h -> (N, 4) x1, y1, x2, y2 (pixels)."""
    s = np.asarray(xyah, dtype=np.float64).reshape(-1, 4)
    w = s[:, 2] * s[:, 3]
    return np.stack([s[:, 0] - w / 2, s[:, 1] - s[:, 3] / 2, s[:, 0] + w / 2, s[:, 1] + s[:, 3] / 2], axis=1)


class KalmanXYAH:
    """Kalman filter math (stateless: means/covariances are passed in and new ones returned)."""

    def __init__(self, reference_fps: float = REFERENCE_FPS) -> None:
        self.reference_fps = reference_fps
        # Noise relative to box height, as in the reference implementation.
        self.std_position = 1.0 / 20
        self.std_velocity = 1.0 / 160
        self._update = np.eye(4, 8)

    def initiate(self, measurement: F64) -> tuple[F64, F64]:
        """New track from one (4,) xyah measurement: zero velocity, wide velocity uncertainty."""
        mean = np.r_[measurement, np.zeros(4)]
        h = measurement[3]
        std = np.array(
            [
                2 * self.std_position * h,
                2 * self.std_position * h,
                1e-2,
                2 * self.std_position * h,
                10 * self.std_velocity * h,
                10 * self.std_velocity * h,
                1e-5,
                10 * self.std_velocity * h,
            ]
        )
        return mean, np.diag(std**2)

    def predict(self, mean: F64, cov: F64, dt: float) -> tuple[F64, F64]:
        """Advance (8,) mean and (8, 8) covariance by ``dt`` seconds (dt <= 0 returns them unchanged)."""
        steps = dt * self.reference_fps
        if steps <= 0:
            return mean.copy(), cov.copy()
        motion = np.eye(8)
        motion[:4, 4:] = np.eye(4) * steps
        h = mean[3]
        std = np.array(
            [
                self.std_position * h,
                self.std_position * h,
                1e-2,
                self.std_position * h,
                self.std_velocity * h,
                self.std_velocity * h,
                1e-5,
                self.std_velocity * h,
            ]
        )
        q = np.diag(std**2) * steps
        return motion @ mean, motion @ cov @ motion.T + q

    def update(self, mean: F64, cov: F64, measurement: F64) -> tuple[F64, F64]:
        """Correct with one (4,) xyah measurement."""
        h = mean[3]
        r = np.diag(
            np.array([self.std_position * h, self.std_position * h, 1e-1, self.std_position * h]) ** 2
        )
        proj_mean = self._update @ mean
        proj_cov = self._update @ cov @ self._update.T + r
        # gain = P H^T S^-1, via a solve (S is symmetric positive definite).
        gain = np.linalg.solve(proj_cov, (cov @ self._update.T).T).T
        innovation = measurement - proj_mean
        new_mean = mean + gain @ innovation
        new_cov = cov - gain @ proj_cov @ gain.T
        return new_mean, new_cov

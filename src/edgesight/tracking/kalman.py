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

    def predict(self, mean: F64, cov: F64, dt: float | F64) -> tuple[F64, F64]:
        """Advance means and covariances by ``dt`` seconds (entries with dt <= 0 are left unchanged).

        Args:
            mean: (8,) or (N, 8) states.
            cov: (8, 8) or (N, 8, 8) covariances.
            dt: seconds, a scalar or (N,).

        Returns:
            New arrays with the shapes of the inputs (the inputs are not modified).
        """
        single = mean.ndim == 1
        means = np.atleast_2d(mean)
        covs = cov.reshape(-1, 8, 8)
        steps = np.clip(
            np.broadcast_to(np.asarray(dt, dtype=np.float64), (len(means),)) * self.reference_fps, 0, None
        )
        new_mean = means.copy()
        new_mean[:, :4] += means[:, 4:] * steps[:, None]
        motion = np.broadcast_to(np.eye(8), (len(means), 8, 8)).copy()
        idx = np.arange(4)
        motion[:, idx, idx + 4] = steps[:, None]
        new_cov = motion @ covs @ motion.transpose(0, 2, 1)
        h = means[:, 3:4]
        weights = np.array(
            [self.std_position] * 2
            + [0.0, self.std_position]
            + [self.std_velocity] * 2
            + [0.0, self.std_velocity]
        )
        std = weights * h
        std[:, 2], std[:, 6] = 1e-2, 1e-5
        diag = np.arange(8)
        new_cov[:, diag, diag] += std**2 * steps[:, None]
        if single:
            return new_mean[0], new_cov[0]
        return new_mean, new_cov

    def update(self, mean: F64, cov: F64, measurement: F64) -> tuple[F64, F64]:
        """Correct states with xyah measurements.

        Args:
            mean: (8,) or (N, 8) predicted states.
            cov: (8, 8) or (N, 8, 8) predicted covariances.
            measurement: (4,) or (N, 4) measured cx, cy, a, h.

        Returns:
            New arrays with the shapes of the inputs.
        """
        single = mean.ndim == 1
        means = np.atleast_2d(mean)
        covs = cov.reshape(-1, 8, 8)
        meas = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
        h = means[:, 3]
        std = np.stack(
            [self.std_position * h, self.std_position * h, np.full_like(h, 1e-1), self.std_position * h], 1
        )
        proj_cov = covs[:, :4, :4].copy()  # H P H^T with H = [I 0]
        diag = np.arange(4)
        proj_cov[:, diag, diag] += std**2
        # gain = P H^T S^-1, via a solve (S is symmetric positive definite).
        gain = np.linalg.solve(proj_cov, covs[:, :4, :]).transpose(0, 2, 1)  # (N, 8, 4)
        innovation = meas - means[:, :4]
        new_mean = means + (gain @ innovation[:, :, None])[:, :, 0]
        new_cov = covs - gain @ proj_cov @ gain.transpose(0, 2, 1)
        if single:
            return new_mean[0], new_cov[0]
        return new_mean, new_cov

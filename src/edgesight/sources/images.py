"""``images`` source: a folder of still images played as a stream.

Files are read in natural name order (``img2.png`` before ``img10.png``); image ``i`` in that order gets
``index = i`` and ``pts = i / fps`` seconds. Files that are not decodable images (a README, a damaged
JPEG) are skipped, counted in ``corrupt`` and logged; they never stop the stream.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgesight.config import ImagesSourceConfig
from edgesight.errors import SourceError
from edgesight.sources._common import SourceState, SubSampler
from edgesight.types import Frame

__all__ = ["ImagesSource", "natural_key"]

log = logging.getLogger(__name__)


def natural_key(name: str) -> tuple[str, str]:
    """Sort key that orders embedded numbers by value: a2 < a10 (case-insensitive).

    Digit runs are zero-padded, so the rest stays in plain character order (``a.png`` < ``a1.png``);
    the name itself breaks ties (``A1`` vs ``a1``).
    """
    return re.sub(r"\d+", lambda m: m.group().zfill(20), name.lower()), name


class ImagesSource:
    """A folder of images as a (non-live) frame source, decoded in the caller's thread.

    Raises:
        SourceError: the folder does not exist or holds no files.
    """

    is_live = False

    def __init__(self, cfg: ImagesSourceConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        folder = cfg.path
        if not folder.is_dir():
            raise SourceError(f"source {cfg.name!r}: image folder not found: {folder}")
        self.files = sorted(
            (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise SourceError(
                f"source {cfg.name!r}: expected image files (.jpg/.png/.bmp) in {folder}, found none"
            )
        self._state: SourceState = "idle"
        self._closed = False
        self._started_wall: float | None = None
        self.decoded = 0
        self.delivered = 0
        self.corrupt = 0
        self.subsampled = 0
        self.skipped_files: list[str] = []

    def frames(self) -> Iterator[Frame]:
        """Yield one frame per readable image, in natural name order."""
        self._started_wall = time.monotonic()
        self._state = "streaming"
        sampler = SubSampler(self.cfg.max_fps)
        for i, path in enumerate(self.files):
            if self._closed:
                break
            pts = i / self.cfg.fps
            if not sampler.keep(pts):
                self.subsampled += 1
                continue
            image = self._read(path)
            if image is None:
                self.corrupt += 1
                self.skipped_files.append(path.name)
                log.warning("source %s: skipped %s (not a readable image)", self.name, path)
                continue
            self.decoded += 1
            self.delivered += 1
            yield Frame(image=image, source_id=self.name, index=i, pts=pts)
        if self._state != "closed":
            self._state = "ended"

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        # imdecode on bytes: handles non-ASCII paths and does not print OpenCV warnings for non-images.
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError:
            return None
        if data.size == 0:
            return None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return image if image is not None and image.ndim == 3 and image.shape[2] == 3 else None

    def close(self) -> None:
        self._closed = True
        self._state = "closed"

    @property
    def state(self) -> SourceState:
        return self._state

    def stats(self) -> dict[str, int | float | str]:
        elapsed = time.monotonic() - self._started_wall if self._started_wall is not None else 0.0
        return {
            "state": self._state,
            "decoded": self.decoded,
            "delivered": self.delivered,
            "dropped": 0,
            "subsampled": self.subsampled,
            "corrupt": self.corrupt,
            "reconnects": 0,
            "fps": round(self.delivered / elapsed, 2) if elapsed > 0 else 0.0,
        }

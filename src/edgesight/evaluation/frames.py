"""Sample frames from a video file or an image folder, for calibration, fidelity and benchmarks.

Frames are (H, W, 3) uint8 BGR as OpenCV decodes them. A *range* is a pair of fractions of the
source (``(0.0, 0.5)`` = its first half), so calibration and evaluation can take disjoint parts of
one video: calibration frames and evaluation frames never overlap when their ranges do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.errors import ConfigError, SourceError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "SampledFrames",
    "list_images",
    "parse_range",
    "sample_frames",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".wmv")


@dataclass(frozen=True)
class SampledFrames:
    """Frames taken from one source.

    Attributes:
        source: the video file or image folder.
        indices: frame index in the video (or position in the sorted image list) of each frame.
        names: a label per frame (``frame 12`` or the image file name).
        images: (H, W, 3) uint8 BGR frames, one per index.
        total: frames (or images) the whole source holds.
    """

    source: Path
    indices: list[int]
    names: list[str]
    images: list[npt.NDArray[np.uint8]]
    total: int

    def __len__(self) -> int:
        return len(self.images)


def parse_range(text: str, what: str = "--range") -> tuple[float, float]:
    """Parse ``"START:END"`` fractions of a source (``"0:0.5"``, ``"0.5:1"``).

    Raises:
        ConfigError: not two numbers with 0 <= START < END <= 1.
    """
    try:
        a, b = (float(x) if x.strip() else d for x, d in zip(text.split(":"), (0.0, 1.0), strict=True))
    except ValueError:
        raise ConfigError(f"{what}: expected START:END fractions such as 0:0.5, got {text!r}") from None
    if not 0.0 <= a < b <= 1.0:
        raise ConfigError(f"{what}: expected 0 <= START < END <= 1, got {text!r}")
    return a, b


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (sorted by name, not recursive).

    Raises:
        SourceError: the folder holds no image file (the message lists what it does hold).
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        others = ", ".join(p.name for p in files[:5]) + (" ..." if len(files) > 5 else "")
        found = f"found only non-image files: {others}" if files else "it is empty"
        raise SourceError(f"{folder}: expected image files ({', '.join(IMAGE_SUFFIXES)}), {found}")
    return images


def _pick(lo: int, hi: int, count: int, exclude: set[int]) -> list[int]:
    """Up to ``count`` indices spread evenly over [lo, hi), skipping ``exclude``.

    Range ends are ``int(fraction * total)`` on both sides, so ranges that touch (0:0.5 and 0.5:1)
    never share a frame.
    """
    pool = [i for i in range(lo, hi) if i not in exclude]
    if count <= 0 or count >= len(pool):
        return pool
    pos = np.linspace(0, len(pool) - 1, count).round().astype(int)
    return [pool[i] for i in sorted(set(pos.tolist()))]


def sample_frames(
    source: Path,
    count: int,
    frame_range: tuple[float, float] = (0.0, 1.0),
    exclude: set[int] | None = None,
) -> SampledFrames:
    """Take ``count`` frames spread evenly over ``frame_range`` of a video file or an image folder.

    Args:
        source: a video file (any format OpenCV decodes) or a folder of images.
        count: frames wanted (0 = every frame in the range).
        frame_range: (start, end) fractions of the source.
        exclude: frame indices never to take (e.g. the frames a model was calibrated on).

    Raises:
        SourceError: missing source, not a video/folder, unreadable video, empty folder, an image that
            does not decode, or no frame left in the range.
    """
    source = Path(source)
    exclude = exclude or set()
    if not source.exists():
        raise SourceError(f"frames source not found: {source} (expected a video file or an image folder)")
    if source.is_dir():
        files = list_images(source)
        total = len(files)
        lo, hi = (
            int(frame_range[0] * total),
            max(int(frame_range[0] * total) + 1, int(frame_range[1] * total)),
        )
        picked = _pick(lo, min(hi, total), count, exclude)
        if not picked:
            raise SourceError(
                f"{source}: no image left in range {frame_range} after excluding {len(exclude)}"
            )
        images: list[npt.NDArray[np.uint8]] = []
        for i in picked:
            img = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if img is None:
                raise SourceError(f"{files[i]}: not a readable image (OpenCV cannot decode it)")
            images.append(np.asarray(img, dtype=np.uint8))
        return SampledFrames(source, picked, [files[i].name for i in picked], images, total)
    if source.suffix.lower() not in VIDEO_SUFFIXES:
        raise SourceError(
            f"{source}: expected a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder of images, "
            f"got a {source.suffix or 'suffix-less'} file"
        )
    return _sample_video(source, count, frame_range, exclude)


def _sample_video(
    source: Path, count: int, frame_range: tuple[float, float], exclude: set[int]
) -> SampledFrames:
    cap = cv2.VideoCapture(str(source))
    try:
        if not cap.isOpened():
            raise SourceError(f"{source}: OpenCV cannot open this video")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0:  # containers without a frame count: decode once to count
            total = 0
            while cap.grab():
                total += 1
            cap.release()
            cap = cv2.VideoCapture(str(source))
        lo = int(frame_range[0] * total)
        hi = min(total, max(lo + 1, int(frame_range[1] * total)))
        wanted = _pick(lo, hi, count, exclude)
        want = set(wanted)
        got: dict[int, npt.NDArray[np.uint8]] = {}
        # Sequential decode: seeking is not frame-exact in every container.
        for i in range(max(want, default=-1) + 1):
            if i in want:
                ok, frame = cap.read()
                if not ok:
                    break
                got[i] = np.asarray(frame, dtype=np.uint8)
            elif not cap.grab():
                break
    finally:
        cap.release()
    if not got:
        raise SourceError(f"{source}: no decodable frame in range {frame_range} (video has {total} frames)")
    idx = sorted(got)
    return SampledFrames(source, idx, [f"frame {i}" for i in idx], [got[i] for i in idx], total)

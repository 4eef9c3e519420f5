"""File and image-folder sources, the registry, and the shared queue/sub-sampling/backoff pieces."""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import FileSourceConfig, ImagesSourceConfig, ModelConfig, StreamSourceConfig
from edgesight.errors import SourceError
from edgesight.protocols import Source
from edgesight.sources import FileSource, ImagesSource, StreamSource, open_source
from edgesight.sources._common import Backoff, FrameQueue, SubSampler
from edgesight.sources.images import natural_key
from edgesight.sources.stream import redact_url
from edgesight.types import Frame

VIDEO = "videos/pedestrians_480x360.avi"
VIDEO_FRAMES = 795  # MANIFEST: 10 fps, 795 frames


def _frame(i: int) -> Frame:
    return Frame(image=np.zeros((2, 2, 3), np.uint8), source_id="s", index=i, pts=i / 10)


def write_video(path: Path, n: int, fps: float, size: tuple[int, int] = (64, 48)) -> Path:
    """A small MJPG .avi whose frame i shows the number i as a grey level ramp (decodable anywhere)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    for i in range(n):
        img = np.full((size[1], size[0], 3), (i * 7) % 256, np.uint8)
        writer.write(img)
    writer.release()
    return path


# ----------------------------------------------------------------------------- file source, real video
@pytest.mark.assets
def test_file_source_decodes_every_frame_with_increasing_pts(assets: Path) -> None:
    src = open_source(FileSourceConfig(name="cam", path=assets / VIDEO))
    assert isinstance(src, FileSource) and isinstance(src, Source)
    assert src.is_live is False
    frames = list(src.frames())
    assert len(frames) == VIDEO_FRAMES
    assert [f.index for f in frames] == list(range(VIDEO_FRAMES))
    pts = np.array([f.pts for f in frames])
    assert pts[0] == 0.0
    assert np.all(np.diff(pts) > 0)
    # 10 fps: every step is 0.1 s (container time, or index/fps where the AVI reports none).
    np.testing.assert_allclose(np.diff(pts), 0.1, atol=1e-6)
    assert frames[0].image.shape == (360, 480, 3) and frames[0].image.dtype == np.uint8
    assert {f.source_id for f in frames} == {"cam"}
    stats = src.stats()
    assert stats["decoded"] == VIDEO_FRAMES and stats["delivered"] == VIDEO_FRAMES
    assert stats["dropped"] == 0 and stats["corrupt"] == 0 and stats["state"] == "ended"


@pytest.mark.assets
def test_file_source_max_fps_subsamples_by_stream_time(assets: Path) -> None:
    src = open_source(FileSourceConfig(name="cam", path=assets / VIDEO, max_fps=2.5))
    frames = list(src.frames())
    # 10 fps -> 2.5 fps keeps one frame in four.
    assert len(frames) == VIDEO_FRAMES // 4 + (VIDEO_FRAMES % 4 > 0)
    assert [f.index for f in frames[:4]] == [0, 4, 8, 12]
    assert np.all(np.diff([f.pts for f in frames]) >= 0.4 - 1e-6)
    st = src.stats()
    assert st["subsampled"] == VIDEO_FRAMES - len(frames)
    assert st["decoded"] == VIDEO_FRAMES


@pytest.mark.assets
def test_truncated_video_yields_what_it_holds_and_ends_cleanly(assets: Path, tmp_path: Path) -> None:
    data = (assets / VIDEO).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = open_source(FileSourceConfig(name="cut", path=cut))
    frames = list(src.frames())
    st = src.stats()
    assert 0 < len(frames) < VIDEO_FRAMES
    assert st["corrupt"] > 0  # the failed reads past the cut are counted, not raised
    assert st["state"] == "ended"
    assert np.all(np.diff([f.pts for f in frames]) > 0)


@pytest.mark.assets
def test_video_with_damaged_middle_does_not_crash(assets: Path, tmp_path: Path) -> None:
    data = bytearray((assets / VIDEO).read_bytes())
    rng = np.random.default_rng(0)
    start = len(data) // 3
    data[start : start + 50_000] = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    bad = tmp_path / "damaged.avi"
    bad.write_bytes(bytes(data))
    src = open_source(FileSourceConfig(name="bad", path=bad))
    n = sum(1 for _ in src.frames())
    assert n > VIDEO_FRAMES // 3  # everything before the damage at least
    assert src.stats()["state"] == "ended"


def test_garbage_file_raises_cannot_open(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="cannot open"):
        open_source(FileSourceConfig(name="junk", path=junk))


def test_missing_file_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        open_source(FileSourceConfig(name="nope", path=tmp_path / "nope.mp4"))


def test_frames_can_be_iterated_once(tmp_path: Path) -> None:
    src = open_source(FileSourceConfig(name="v", path=write_video(tmp_path / "v.avi", 3, 10)))
    assert len(list(src.frames())) == 3
    with pytest.raises(SourceError, match="only once"):
        next(iter(src.frames()))


def test_loop_restarts_with_increasing_pts(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.avi", 10, 20)
    src = FileSource(FileSourceConfig(name="v", path=path, loop=True))
    frames = list(itertools.islice(src.frames(), 25))
    src.close()
    assert [f.index for f in frames] == list(range(25))
    assert np.all(np.diff([f.pts for f in frames]) > 0)
    np.testing.assert_allclose(np.diff([f.pts for f in frames]), 0.05, atol=1e-6)
    assert src.stats()["loops"] == 2


def test_realtime_file_is_paced_and_drops_oldest_for_a_slow_consumer(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.avi", 30, 60)  # 0.5 s of video
    fast = FileSource(FileSourceConfig(name="fast", path=path, realtime=True))
    assert fast.is_live is True
    t0 = time.monotonic()
    n_fast = sum(1 for _ in fast.frames())
    elapsed = time.monotonic() - t0
    # Paced at the file's fps: it cannot finish much before the video's own duration (a lower bound,
    # so a slow machine cannot make this fail).
    assert elapsed >= 0.4
    assert n_fast + fast.stats()["dropped"] == 30

    slow = FileSource(FileSourceConfig(name="slow", path=path, realtime=True))
    got = []
    for f in slow.frames():
        got.append(f.index)
        time.sleep(0.1)  # 6x slower than the video
    st = slow.stats()
    assert st["dropped"] > 0
    assert len(got) + st["dropped"] == 30
    assert got == sorted(got)
    assert got[-1] == 29  # the freshest frame is never the one dropped


# ----------------------------------------------------------------------------- images
def _write_images(folder: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        img = np.full((20, 30, 3), i * 10, np.uint8)
        assert cv2.imwrite(str(folder / name), img)


def test_images_natural_order_pts_and_skipped_files(tmp_path: Path) -> None:
    _write_images(tmp_path, ["img10.png", "img2.png", "img1.jpg", "IMG3.bmp"])
    (tmp_path / "README.txt").write_text("not an image")
    (tmp_path / "img4.jpg").write_bytes(b"\xff\xd8\xff garbage")  # a JPEG header and nothing else
    (tmp_path / ".hidden.png").write_bytes(b"")
    src = open_source(ImagesSourceConfig(name="folder", path=tmp_path, fps=4))
    assert isinstance(src, ImagesSource) and isinstance(src, Source) and not src.is_live
    frames = list(src.frames())
    # natural order: img1, img2, IMG3, img4 (bad), img10, README.txt (bad)
    assert [f.index for f in frames] == [0, 1, 2, 4]
    assert [f.pts for f in frames] == [0.0, 0.25, 0.5, 1.0]
    assert all(f.image.shape == (20, 30, 3) for f in frames)
    st = src.stats()
    assert st["corrupt"] == 2 and st["decoded"] == 4
    assert sorted(src.skipped_files) == ["README.txt", "img4.jpg"]


def test_images_grey_png_becomes_bgr(tmp_path: Path) -> None:
    assert cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 7), 100, np.uint8))
    (frame,) = list(open_source(ImagesSourceConfig(name="g", path=tmp_path)).frames())
    assert frame.image.shape == (5, 7, 3)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_images_bad_folder_raises(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "imgs"
    if make == "empty":
        folder.mkdir()
    with pytest.raises(SourceError, match="not found" if make == "missing" else "found none"):
        open_source(ImagesSourceConfig(name="x", path=folder))


@pytest.mark.assets
def test_images_from_assets(assets: Path) -> None:
    src = open_source(ImagesSourceConfig(name="a", path=assets / "images", max_fps=100))
    frames = list(src.frames())
    assert len(frames) >= 2  # bus.jpg, zidane.jpg, person.bmp, no_person.bmp
    assert src.stats()["corrupt"] == 0


def test_natural_key() -> None:
    names = ["a10.png", "a2.png", "A1.png", "b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "A1.png", "a2.png", "a10.png", "b.png"]


# ----------------------------------------------------------------------------- registry
def test_open_source_rejects_non_source_config(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="expected a source config"):
        open_source(ModelConfig(path=tmp_path / "m.onnx"))  # type: ignore[arg-type]


def test_open_source_builds_stream_without_connecting_synchronously() -> None:
    # Port 9 (discard) on localhost is closed: the source must come up anyway, in state connecting.
    src = open_source(
        StreamSourceConfig(name="dead", url="http://127.0.0.1:9/x.mjpg", open_timeout_seconds=0.5)
    )
    try:
        assert isinstance(src, StreamSource) and src.is_live
        assert src.stats()["state"] in {"connecting", "reconnecting"}
    finally:
        src.close()
    assert src.stats()["state"] == "closed"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5/stream1", "rtsp://***@10.0.0.5/stream1"),
        ("http://cam.local/mjpg", "http://cam.local/mjpg"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# ----------------------------------------------------------------------------- shared pieces
def test_frame_queue_drops_oldest_and_never_blocks() -> None:
    q = FrameQueue(3)
    for i in range(10):
        q.put(_frame(i))
    assert q.dropped == 7 and len(q) == 3
    got = [q.get(0.01) for _ in range(3)]
    assert [f.index for f in got if f is not None] == [7, 8, 9]
    assert q.get(0.01) is None
    q.close()
    assert q.closed and q.get(5.0) is None  # closed: returns at once


@pytest.mark.parametrize(
    ("max_fps", "fps", "n", "kept"),
    [
        (None, 30, 30, 30),
        (10, 30, 30, 10),
        (10, 10, 30, 30),
        (5, 30, 30, 5),
        (2.5, 10, 20, 5),
        (7, 30, 30, 7),
    ],
)
def test_subsampler_keeps_max_fps_of_stream_time(
    max_fps: float | None, fps: float, n: int, kept: int
) -> None:
    s = SubSampler(max_fps)
    assert sum(s.keep(i / fps) for i in range(n)) == kept


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    b = Backoff(0.5, 4.0, jitter=0.25, rng=random.Random(0))
    delays = [b.next_delay() for _ in range(7)]
    bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.75 <= d <= base
    b.reset()
    assert b.next_delay() <= 0.5


@pytest.mark.parametrize("realtime", [False, True])
def test_close_from_another_thread_ends_frames(tmp_path: Path, realtime: bool) -> None:
    path = write_video(tmp_path / "v.avi", 200, 100)
    src = FileSource(FileSourceConfig(name="v", path=path, realtime=realtime))
    got: list[int] = []

    def consume() -> None:
        for f in src.frames():
            got.append(f.index)
            time.sleep(0.005)

    th = threading.Thread(target=consume)
    th.start()
    deadline = time.monotonic() + 30
    while len(got) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    src.close()
    th.join(timeout=30)
    assert not th.is_alive()
    assert 5 <= len(got) < 200
    assert src.stats()["state"] == "closed" and src.stats()["corrupt"] == 0


REQUIRED_STATS = {"state", "decoded", "delivered", "dropped", "subsampled", "corrupt", "reconnects", "fps"}


@pytest.mark.parametrize("kind", ["file", "file_realtime", "images", "stream"])
def test_every_source_reports_the_same_counters(tmp_path: Path, kind: str) -> None:
    video = write_video(tmp_path / "v.avi", 3, 30)
    folder = tmp_path / "imgs"
    folder.mkdir()
    _write_images(folder, ["a.png", "b.png"])
    cfg = {
        "file": FileSourceConfig(name="f", path=video),
        "file_realtime": FileSourceConfig(name="f", path=video, realtime=True),
        "images": ImagesSourceConfig(name="i", path=folder),
        "stream": StreamSourceConfig(name="s", url="http://127.0.0.1:9/x.mjpg", open_timeout_seconds=0.5),
    }[kind]
    src = open_source(cfg)
    try:
        assert set(src.stats()) >= REQUIRED_STATS
        if not src.is_live or kind == "file_realtime":
            list(src.frames())
            st = src.stats()
            assert set(st) >= REQUIRED_STATS
            assert st["decoded"] >= 2 and st["state"] in {"ended", "closed"}
    finally:
        src.close()
    assert src.stats()["state"] == "closed"

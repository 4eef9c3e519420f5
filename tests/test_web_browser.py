"""The live page in a real headless browser (Debian ``chromium``); skipped where chromium is absent.

Two checks:
- ``/?mode=poll`` under ``--virtual-time-budget``: the page's script must have rendered the events
  table, the counts by kind and the header stats into the DOM (the server sends an empty table).
  Poll mode because Chrome's virtual time stands still while a request is pending, and the default
  page holds two requests open for ever (MJPEG and SSE).
- the default page (MJPEG + SSE) screenshot: the browser decoded and painted our multipart stream
  (the frame's colour is on screen).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.types import Event
from edgesight.web import LiveView

pytestmark = pytest.mark.slow

WINDOW = (1280, 800)
MARK_BGR = (255, 0, 255)  # magenta block in every frame: easy to find in a screenshot


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian chromium not installed (apt-get install chromium): browser check skipped")
    return exe


def run_chromium(exe: str, tmp: Path, url: str, *extra: str, timeout: float = 120) -> str:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *extra,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc.stdout


def make_frame(i: int, h: int = 360, w: int = 480) -> np.ndarray:
    img = np.full((h, w, 3), 45, np.uint8)
    cv2.rectangle(img, (40, 60), (200, 260), MARK_BGR, -1)
    x = 220 + (i * 7) % 200
    cv2.rectangle(img, (x, 100), (x + 50, 220), (0, 200, 255), 3)
    cv2.putText(img, f"frame {i}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return img


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveView]:
    """A view with two sources, a few events (one with a snapshot) and stats, fed from a thread."""
    store = tmp_path / "store"
    snap = store / "snapshots" / "2026-01-02" / "ev1.jpg"
    snap.parent.mkdir(parents=True)
    snap.write_bytes(cv2.imencode(".jpg", make_frame(0)[50:270, 30:210])[1].tobytes())
    view = LiveView(store_root=store, title="browser check", max_fps=20)
    view.start()
    for src in ("cam_a", "cam_b"):
        view.publish_frame(src, make_frame(0))
    view.publish_event(
        Event(
            source_id="cam_a",
            kind="ppe",
            rule="hardhat_check",
            zone="loading_bay",
            start_pts=1.5,
            track_id=7,
            class_name="person",
            confidence=0.91,
        )
    )
    view.publish_event(
        Event(
            source_id="cam_b",
            kind="defect",
            rule="part_qc",
            start_pts=2.0,
            track_id=3,
            class_name="part",
            confidence=0.8,
            snapshot="snapshots/2026-01-02/ev1.jpg",
        )
    )
    view.publish_stats(
        {"frames": 4321, "fps": 12.5, "elapsed_s": 345.6, "detector_runs": 4000, "motion_skipped": 321}
    )
    stop = threading.Event()

    def feed() -> None:
        i = 1
        while not stop.wait(0.05):
            for src in ("cam_a", "cam_b"):
                view.publish_frame(src, make_frame(i))
            if i % 10 == 0:
                view.publish_event(
                    Event(
                        source_id="cam_a",
                        kind="line_cross",
                        rule="gate",
                        zone="gate",
                        start_pts=i / 20,
                        track_id=100 + i,
                        class_name="person",
                        attributes={"direction": "in"},
                    )
                )
            i += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield view
    finally:
        stop.set()
        feeder.join(5)
        view.stop()


def test_page_script_renders_events_counts_and_stats(chromium: str, live: LiveView, tmp_path: Path) -> None:
    dom = run_chromium(
        chromium, tmp_path, live.url + "?mode=poll", "--virtual-time-budget=3000", "--dump-dom"
    )
    # Rendered by the page's script from /api/events and /api/state (the served table is empty).
    ppe = re.search(r'<tr class="s-start[^"]*" data-kind="ppe">(.*?)</tr>', dom)
    assert ppe, dom[-3000:]
    row = ppe.group(1)
    for cls, text in (("kind", "ppe"), ("rule", "hardhat_check"), ("zone", "loading_bay"), ("track", "7")):
        assert f'<td class="{cls}">{text}</td>' in row, row
    assert '<td class="conf">0.91</td>' in row
    assert re.search(r'<img class="thumb"[^>]*src="snapshots/snapshots/2026-01-02/ev1.jpg"', dom)
    assert '<span class="chip" data-kind="defect">defect<b>1</b></span>' in dom
    assert '<b id="frames">4321</b>' in dom and '<b id="fps">12.5</b>' in dom
    assert '<span id="conn" class="live">live</span>' in dom
    for src in ("cam_a", "cam_b"):
        assert re.search(rf'<img[^>]*data-source="{src}"', dom), src


def test_default_page_paints_the_mjpeg_stream(chromium: str, live: LiveView, tmp_path: Path) -> None:
    shot = tmp_path / "live.png"
    run_chromium(chromium, tmp_path, live.url, f"--screenshot={shot}", timeout=120)
    img = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert img is not None, "no screenshot written"
    assert img.shape[:2] == (WINDOW[1], WINDOW[0])
    assert img.std() > 20, "blank screenshot"
    magenta = np.all(np.abs(img.astype(int) - MARK_BGR) < 40, axis=2)
    # Two tiles, each showing a 160x200 px block (scaled with the tile): the stream was painted.
    assert magenta.sum() > 2 * 160 * 200 * 0.5, f"frame not painted ({int(magenta.sum())} magenta px)"
    # The header text is drawn in the page's own (orange) accent colour.
    accent = np.all(np.abs(img.astype(int) - (0, 140, 255)) < 40, axis=2)
    assert accent[:60].sum() > 20

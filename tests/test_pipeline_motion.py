"""The motion gate in the runner: far fewer detector runs on still footage, the same line crossings.

No shared assets: a generated clip (a block walks right, then back left, with long freezes and
sensor noise) and a colour-blob detector standing in for a neural network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import parse_config
from edgesight.pipeline.runner import Runner
from edgesight.types import Detections


class BlobDetector:
    """Finds green blocks (a real, if simple, detector: implements edgesight.protocols.Detector)."""

    max_batch = 1

    def __init__(self) -> None:
        self.names = {0: "person"}
        self.calls = 0

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            self.calls += 1
            mask = cv2.inRange(img, (0, 150, 0), (90, 255, 90))
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n] if area > 30]
            out.append(
                Detections(
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.full(len(boxes), 0.9),
                    np.zeros(len(boxes)),
                    names=self.names,
                )
            )
        return out


def _clip(path: Path) -> int:
    rng = np.random.default_rng(0)
    xs = [*range(10, 140, 5), *range(140, 10, -5)]  # right, then back left: two crossings of x=80
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    n = 0
    for k, x in enumerate(xs):
        img = np.full((120, 160, 3), 70, np.uint8)
        cv2.rectangle(img, (x, 40), (x + 12, 90), (40, 200, 40), -1)
        repeats = 40 if k % 6 == 5 else 1  # a long still period every 6 steps
        for _ in range(repeats):
            noisy = np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8)
            wr.write(noisy)
            n += 1
    wr.release()
    return n


@pytest.mark.parametrize("max_skip", [1.0, 3.0])
def test_gate_cuts_detector_runs_and_keeps_line_events(tmp_path: Path, max_skip: float) -> None:
    video = tmp_path / "still.avi"
    frames = _clip(video)

    def run(gate: bool) -> tuple[int, list[tuple[str, float]]]:
        cfg = parse_config(
            {
                "sources": [{"type": "file", "name": "cam", "path": str(video)}],
                "model": {"path": str(video)},  # unused: the detector is passed in
                "tracker": {"new_track_confidence": 0.5},
                "motion": {"enabled": gate, "max_skip_seconds": max_skip},
                "rules": [
                    {"type": "line", "name": "door", "start": [80, 0], "end": [80, 120], "min_distance": 3}
                ],
                "store": {"path": str(tmp_path / f"store-{gate}")},
            }
        )
        det = BlobDetector()
        res = Runner(cfg, detector=det).run()
        assert res.summary["frames"] == frames
        assert res.summary["detector_runs"] == det.calls
        crossings = [
            (str(e.attributes["direction"]), round(e.start_pts, 1))
            for e in res.events
            if e.kind == "line_cross"
        ]
        return det.calls, crossings

    every_calls, every_events = run(False)
    gated_calls, gated_events = run(True)
    assert every_calls == frames
    assert len(every_events) == 2 and {d for d, _ in every_events} == {"in", "out"}
    assert gated_events == every_events
    assert gated_calls * 3 <= every_calls, (gated_calls, every_calls)

"""Where a run's output goes besides the event store: a JSON-lines stream, an annotated video."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any, Protocol

import cv2
import numpy as np

from edgesight.config import PipelineConfig
from edgesight.errors import EdgesightError
from edgesight.pipeline.annotate import FrameAnnotator
from edgesight.types import Detections, Event, Frame

__all__ = ["EventSink", "JsonlSink", "VideoSink", "build_sinks"]


class EventSink(Protocol):
    """Receives every event message (as stored: snapshot path set) and every processed frame, from one thread."""

    def write(self, event: Event, frame: Frame | None) -> None: ...

    def frame(self, source_id: str, frame: Frame, detections: Detections) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """One JSON object per event message, to stdout ('-') or a file (appended)."""

    def __init__(self, target: str) -> None:
        self._own = target != "-"
        self._fh: IO[str] = open(target, "a", encoding="utf-8") if self._own else sys.stdout  # noqa: SIM115

    def write(self, event: Event, frame: Frame | None) -> None:
        self._fh.write(event.model_dump_json() + "\n")
        self._fh.flush()

    def frame(self, source_id: str, frame: Frame, detections: Detections) -> None:
        pass

    def close(self) -> None:
        if self._own:
            self._fh.close()


class VideoSink:
    """Annotated video: boxes, track ids, zones and line counts. One file per source.

    With one source the file is ``path``; with several, ``<stem>_<source><suffix>``.
    """

    def __init__(self, path: Path, cfg: PipelineConfig, fps: float = 10.0) -> None:
        self.path = path
        self.multi = len(cfg.sources) > 1
        self.fps = fps
        self.annotator = FrameAnnotator(cfg)
        self._writers: dict[str, cv2.VideoWriter] = {}
        self.paths: list[Path] = []

    def _writer(self, source_id: str, shape: tuple[int, ...]) -> cv2.VideoWriter:
        w = self._writers.get(source_id)
        if w is None:
            p = (
                self.path
                if not self.multi
                else self.path.with_name(f"{self.path.stem}_{source_id}{self.path.suffix}")
            )
            p.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(
                *("mp4v" if p.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG")
            )
            w = cv2.VideoWriter(str(p), fourcc, self.fps, (shape[1], shape[0]))
            if not w.isOpened():
                raise EdgesightError(
                    f"cannot write video {p}: no encoder for {p.suffix!r} (use .mp4 or .avi)"
                )
            self._writers[source_id] = w
            self.paths.append(p)
        return w

    def write(self, event: Event, frame: Frame | None) -> None:
        self.annotator.observe(event)

    def frame(self, source_id: str, frame: Frame, detections: Detections) -> None:
        img = self.annotator.annotate(frame, detections)
        self._writer(source_id, img.shape).write(img)

    def close(self) -> None:
        for w in self._writers.values():
            w.release()


def build_sinks(cfg: PipelineConfig, names: dict[int, str] | Any) -> list[EventSink]:
    sinks: list[EventSink] = []
    if cfg.outputs.events_jsonl:
        sinks.append(JsonlSink(cfg.outputs.events_jsonl))
    if cfg.outputs.video:
        sinks.append(VideoSink(cfg.outputs.video, cfg, fps=_guess_fps(cfg)))
    return sinks


def _guess_fps(cfg: PipelineConfig) -> float:
    for s in cfg.sources:
        if isinstance(getattr(s, "path", None), Path) and s.path.is_file():  # type: ignore[union-attr]
            cap = cv2.VideoCapture(str(s.path))  # type: ignore[union-attr]
            fps = cap.get(cv2.CAP_PROP_FPS)
            cap.release()
            if fps and np.isfinite(fps) and fps > 0:
                return float(min(fps, 60.0))
    return 10.0

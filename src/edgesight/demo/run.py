"""Run the bundled demo end to end: generate (or reuse) the scene, run the real pipeline, score it.

This is what ``edgesight demo`` does, minus the printing::

    from edgesight.demo.run import run_demo
    result = run_demo(seed=0, duration=180.0, out_dir=Path("edgesight-demo"))
    for kind, s in result.scores.items():
        print(kind, s.precision, s.recall)

Nothing is downloaded: the scene is rendered here and the model ships in this package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesight.config import FileSourceConfig, PipelineConfig, load_config
from edgesight.demo import asset_path
from edgesight.demo.scene import DEFAULT_DURATION, GroundTruth, ensure_scene, load_ground_truth
from edgesight.demo.score import DEMO_KINDS, KindScore, score_events
from edgesight.errors import ConfigError
from edgesight.types import Event

__all__ = ["DemoResult", "demo_config", "run_demo"]


def demo_config(
    video: Path, out_dir: Path, *, annotated: bool = True, snapshots: bool = True
) -> PipelineConfig:
    """The bundled pipeline (``pipeline.yaml``) pointed at ``video``, storing into ``out_dir``.

    Args:
        video: the scene video (``ensure_scene``'s first result).
        out_dir: the event store goes to ``out_dir/store``, the annotated video to
            ``out_dir/demo-annotated.mp4`` (when ``annotated``).
        annotated: write the annotated video.
        snapshots: save a JPEG per event.
    """
    base = load_config(asset_path("pipeline.yaml"))
    if len(base.sources) != 1 or not isinstance(base.sources[0], FileSourceConfig):
        raise ConfigError(f"{asset_path('pipeline.yaml')}: expected exactly one file source")
    src = base.sources[0].model_copy(update={"path": Path(video)})
    store = base.store.model_copy(
        update={
            "path": Path(out_dir) / "store",
            "snapshots": base.store.snapshots.model_copy(update={"enabled": snapshots}),
        }
    )
    outputs = base.outputs.model_copy(
        update={"video": (Path(out_dir) / "demo-annotated.mp4") if annotated else None}
    )
    return base.model_copy(update={"sources": [src], "store": store, "outputs": outputs})


@dataclass
class DemoResult:
    """What a demo run produced.

    Attributes:
        scores: per event kind, counts against the ground truth (precision/recall properties).
        summary: the runner's summary dict (fps, frames, detector runs, motion skips, events...).
        video: the scene video that was analysed. ground_truth: its ground-truth JSON path.
        annotated: the annotated output video (None when disabled). store: the event store folder.
        config: the pipeline config that ran.
        events: every event message the run emitted (start/update/end), in order.
    """

    scores: dict[str, KindScore]
    summary: dict[str, Any]
    video: Path
    ground_truth: Path
    annotated: Path | None
    store: Path
    config: PipelineConfig
    events: list[Event] = field(default_factory=list, repr=False)
    gt: GroundTruth | None = field(default=None, repr=False)

    def worst(self) -> float:
        """The lowest precision or recall over all scored kinds."""
        return min(min(s.precision, s.recall) for s in self.scores.values())


def run_demo(
    seed: int = 0,
    duration: float = DEFAULT_DURATION,
    out_dir: Path = Path("edgesight-demo"),
    *,
    cache_dir: Path | None = None,
    annotated: bool = True,
    snapshots: bool = True,
    on_scene_progress: Callable[[int, int], None] | None = None,
    on_frame: Callable[..., None] | None = None,
) -> DemoResult:
    """Generate/reuse the scene, run the bundled pipeline on it and score events against ground truth.

    Args:
        seed, duration: the scene (see :class:`edgesight.demo.scene.Scene`).
        out_dir: where the store and the annotated video go.
        cache_dir: scene cache folder (default ``$EDGESIGHT_CACHE/demo`` or ``~/.cache/edgesight/demo``).
        on_scene_progress: ``(done, total)`` while the scene video is written (first run only).
        on_frame: the runner's per-frame callback ``(frame, detections, events)`` (progress bars, web view).
    """
    from edgesight.pipeline.runner import Runner

    video, gt_path = ensure_scene(seed, duration, cache_dir=cache_dir, progress=on_scene_progress)
    cfg = demo_config(video, out_dir, annotated=annotated, snapshots=snapshots)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    result = Runner(cfg, on_frame=on_frame, keep_events=True).run()
    gt = load_ground_truth(gt_path)
    scores = score_events(result.events, gt, DEMO_KINDS)
    return DemoResult(
        scores=scores,
        summary=result.summary,
        video=video,
        ground_truth=gt_path,
        annotated=cfg.outputs.video,
        store=cfg.store.path,
        config=cfg,
        events=result.events,
        gt=gt,
    )

"""Run a detection model over frames for evaluation (low threshold, as the COCO protocol wants)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.types import Detections

__all__ = ["EVAL_CONFIDENCE", "EVAL_IOU", "backend_config", "open_detector", "predict"]

EVAL_CONFIDENCE = 0.001  # mAP integrates over all thresholds: keep the low-confidence tail
EVAL_IOU = 0.7  # NMS IoU Ultralytics uses for validation


def backend_config(kind: str | None, threads: int = 0) -> Any:
    """A backend config for ``kind`` ("onnxruntime", "openvino", "litert"), or None for the default."""
    from edgesight.config import LiteRtBackendConfig, OnnxRuntimeBackendConfig, OpenVinoBackendConfig
    from edgesight.errors import ConfigError

    if kind is None:
        return None
    if kind == "onnxruntime":
        return OnnxRuntimeBackendConfig(threads=threads)
    if kind == "openvino":
        return OpenVinoBackendConfig(threads=threads)
    if kind == "litert":
        return LiteRtBackendConfig(threads=threads)
    raise ConfigError(f"backend: expected onnxruntime, openvino or litert, got {kind!r}")


def open_detector(
    path: Path,
    backend: str | None = None,
    threads: int = 0,
    confidence: float = EVAL_CONFIDENCE,
    iou: float = EVAL_IOU,
) -> Any:
    """A :class:`edgesight.inference.ModelDetector` set up for evaluation (batch 1)."""
    from edgesight.config import ModelConfig
    from edgesight.inference import load_detector

    cfg = ModelConfig(
        path=Path(path),
        backend=backend_config(backend, threads),
        confidence=confidence,
        iou=iou,
        max_detections=300,
        max_batch=1,
    )
    return load_detector(cfg)


def predict(detector: Any, images: Sequence[np.ndarray]) -> list[Detections]:
    """One Detections per image (frame pixels), one frame per call (batch 1, as on a camera)."""
    return [detector.detect([img])[0] for img in images]

"""Benchmark several models (and backends) side by side on the same frames, in one run.

Each row: format, backend, precision, size, fidelity against the reference (the first row) on
held-apart frames, inference latency p50/p90 (``backend.run`` only, ms) and end-to-end fps
(preprocess + inference + decode + NMS). Timings are interleaved round-robin across rows so that a
noisy, shared machine slows every row alike; compare ratios, not absolute times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.benchmark.model_info import ModelInfo, describe_model
from edgesight.errors import ConfigError
from edgesight.evaluation.fidelity import FidelityResult, fidelity
from edgesight.evaluation.predict import open_detector, predict
from edgesight.types import Detections

__all__ = ["BenchRow", "BenchSettings", "compatible", "run_benchmark"]

_BACKENDS_FOR = {".onnx": ("onnxruntime", "openvino"), ".xml": ("openvino",), ".tflite": ("litert",)}


@dataclass(frozen=True)
class BenchSettings:
    """Attributes: warmup/iterations per row, threads (0 = runtime default), reference_confidence."""

    warmup: int = 5
    iterations: int = 30
    threads: int = 0
    reference_confidence: float = 0.25


@dataclass
class BenchRow:
    """One model on one backend. Times in milliseconds."""

    info: ModelInfo
    backend: str
    infer_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    fidelity: FidelityResult | None = None
    is_reference: bool = False
    error: str = ""

    def p(self, q: float) -> float:
        return float(np.percentile(self.infer_ms, q)) if self.infer_ms else float("nan")

    @property
    def fps(self) -> float:
        return 1000.0 / float(np.mean(self.total_ms)) if self.total_ms else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.info.path),
            "format": self.info.format,
            "backend": self.backend,
            "precision": self.info.precision,
            "size_mb": round(self.info.size_mb, 2),
            "fidelity": None if self.fidelity is None else self.fidelity.as_dict(),
            "reference": self.is_reference,
            "infer_ms_p50": round(self.p(50), 2),
            "infer_ms_p90": round(self.p(90), 2),
            "fps": round(self.fps, 2),
            "iterations": len(self.infer_ms),
            "note": self.info.note,
            "error": self.error,
        }


def compatible(path: Path, backend: str) -> bool:
    """True when ``backend`` can open ``path`` (OpenVINO reads .onnx and .xml; ORT .onnx; LiteRT .tflite)."""
    return backend in _BACKENDS_FOR.get(Path(path).suffix.lower(), ())


def run_benchmark(
    models: Sequence[Path],
    backends: Sequence[str],
    images: Sequence[np.ndarray],
    settings: BenchSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Benchmark every (model, backend) pair that fits, side by side.

    Args:
        models: model files; the first model on the first backend that can run it is the fidelity
            reference (its boxes >= ``reference_confidence`` are the ground truth).
        backends: backend names to try for each model.
        images: (H, W, 3) uint8 BGR frames; used for fidelity and cycled through for timing.
        settings: warm-up, iterations, threads.
        progress: called with a short message as work advances.

    Raises:
        ConfigError: no frames, or no model/backend pair that can run.
    """
    settings = settings or BenchSettings()
    say = progress or (lambda _m: None)
    if not images:
        raise ConfigError("bench needs frames: --frames VIDEO_OR_IMAGE_FOLDER gave none")
    rows: list[BenchRow] = []
    detectors: list[Any] = []
    for path in models:
        info = describe_model(Path(path))
        for backend in backends:
            if not compatible(path, backend):
                continue
            say(f"loading {Path(path).name} on {backend}")
            rows.append(BenchRow(info, backend))
            detectors.append(open_detector(Path(path), backend, settings.threads))
    if not rows:
        raise ConfigError(f"no model can run on the backends {', '.join(backends)}")
    rows[0].is_reference = True
    sizes = [(int(i.shape[0]), int(i.shape[1])) for i in images]
    outputs: list[list[Detections]] = []
    for row, det in zip(rows, detectors, strict=True):
        say(f"fidelity: {row.info.path.name} on {row.backend} ({len(images)} frames)")
        outputs.append(predict(det, images))
    names = dict(detectors[0].names)
    for row, out in zip(rows, outputs, strict=True):
        row.fidelity = fidelity(out, outputs[0], sizes, names, settings.reference_confidence)
    for det in detectors:
        for i in range(settings.warmup):
            det.detect([images[i % len(images)]])
    say(f"timing: {settings.iterations} rounds x {len(rows)} rows, interleaved")
    for it in range(settings.iterations):
        img = images[it % len(images)]
        for row, det in zip(rows, detectors, strict=True):
            t0 = time.perf_counter()
            det.detect([img])
            row.total_ms.append((time.perf_counter() - t0) * 1000)
            row.infer_ms.append(det.last_timings["infer"] * 1000)
    return rows

"""Per-stage latency and counters for a pipeline run: the end-of-run summary and Prometheus.

Latencies are kept in a bounded reservoir per stage (last ``window`` samples) so a week-long run
does not grow memory; the summary reports p50/p95 over that window and exact totals.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PipelineMetrics", "PrometheusExporter", "StageStats"]

STAGES = ("decode", "motion", "preprocess", "infer", "postprocess", "track", "rules", "store", "video")


@dataclass
class StageStats:
    count: int = 0
    total_s: float = 0.0
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total_s += seconds
        self.samples.append(seconds)

    def percentile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        return float(np.percentile(np.fromiter(self.samples, float), q) * 1e3)


class PipelineMetrics:
    """Thread-safe counters and stage timers shared by the runner's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stages: dict[str, StageStats] = {s: StageStats() for s in STAGES}
        self.frames: Counter[str] = Counter()  # per source: frames processed
        self.detector_runs: Counter[str] = Counter()  # per source: frames the detector saw
        self.motion_skipped: Counter[str] = Counter()
        self.events: Counter[str] = Counter()  # by kind (start messages = distinct events)
        self.event_messages = 0
        self.batches = 0
        self.batch_frames = 0
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        """A listener gets ``on_stage(name, seconds)`` / ``on_count(name, source, n)`` calls (Prometheus)."""
        self._listeners.append(listener)

    def observe(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.stages.setdefault(stage, StageStats()).add(seconds)
        for lst in self._listeners:
            lst.on_stage(stage, seconds)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.observe(stage, time.perf_counter() - t0)

    def count(self, what: str, source: str, n: int = 1) -> None:
        with self._lock:
            getattr(self, what)[source] += n
        for lst in self._listeners:
            lst.on_count(what, source, n)

    def count_event(self, kind: str, seq: int) -> None:
        """Count one event message; the first message of an event (seq 0) counts the event."""
        first = seq == 0
        with self._lock:
            self.event_messages += 1
            if first:
                self.events[kind] += 1
        for lst in self._listeners:
            lst.on_count("events", kind, int(first))

    def count_batch(self, size: int) -> None:
        with self._lock:
            self.batches += 1
            self.batch_frames += size

    def finish(self) -> None:
        self.finished = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def summary(self, source_stats: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """A JSON-able summary: frames, fps, per-stage p50/p95 ms, drops/skips, events by kind."""
        total = sum(self.frames.values())
        elapsed = max(self.elapsed_s, 1e-9)
        return {
            "frames": total,
            "elapsed_s": round(elapsed, 3),
            "fps": round(total / elapsed, 2),
            "detector_runs": sum(self.detector_runs.values()),
            "motion_skipped": sum(self.motion_skipped.values()),
            "mean_batch": round(self.batch_frames / self.batches, 2) if self.batches else 0.0,
            "stages": {
                name: {
                    "count": st.count,
                    "p50_ms": round(st.percentile_ms(50), 3),
                    "p95_ms": round(st.percentile_ms(95), 3),
                    "total_s": round(st.total_s, 3),
                }
                for name, st in self.stages.items()
                if st.count
            },
            "sources": {
                src: {
                    "frames": self.frames[src],
                    "detector_runs": self.detector_runs[src],
                    "motion_skipped": self.motion_skipped[src],
                    **(source_stats or {}).get(src, {}),
                }
                for src in sorted(set(self.frames) | set(source_stats or {}))
            },
            "events": dict(sorted(self.events.items())),
            "event_messages": self.event_messages,
        }


class PrometheusExporter:
    """Serves the run's metrics on ``/metrics`` (prometheus_client) while the pipeline runs."""

    def __init__(self, port: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

        self.registry = CollectorRegistry()
        buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
        self.stage = Histogram(
            "edgesight_stage_seconds",
            "Time per pipeline stage",
            ["stage"],
            registry=self.registry,
            buckets=buckets,
        )
        self.counters = {
            name: Counter(f"edgesight_{name}", help_, ["source"], registry=self.registry)
            for name, help_ in (
                ("frames", "Frames processed"),
                ("detector_runs", "Frames sent to the detector"),
                ("motion_skipped", "Frames skipped by the motion gate"),
                ("dropped", "Frames dropped (queue full)"),
                ("corrupt", "Corrupt frames skipped"),
            )
        }
        self.events = Counter("edgesight_events", "Events started, by kind", ["kind"], registry=self.registry)
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        self.port = self.server.server_port

    def on_stage(self, stage: str, seconds: float) -> None:
        self.stage.labels(stage).observe(seconds)

    def on_count(self, what: str, key: str, n: int) -> None:
        if what == "events":
            if n:
                self.events.labels(key).inc(n)
        elif what in self.counters:
            self.counters[what].labels(key).inc(n)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""The runner: sources -> (motion gate) -> batched inference -> tracking -> rules -> sinks.

Threads (ONNX Runtime, OpenCV and SQLite release the GIL, so threads overlap real work):

- one reader thread per source: decodes, applies the motion gate, and hands frames to a shared
  bounded queue. File sources block on a full queue (never drop); live sources decode in their own
  thread and drop their *oldest* frame when the runner falls behind (counted by the source).
- the calling thread: takes up to ``detector.max_batch`` frames (across sources) and runs the detector.
- one post-processing thread: per-source tracker, rules, event sinks and the annotated video, in
  frame order per source.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from edgesight.config import PipelineConfig
from edgesight.pipeline.metrics import PipelineMetrics, PrometheusExporter
from edgesight.pipeline.sinks import EventSink, build_sinks
from edgesight.protocols import Detector, Source
from edgesight.rules import SnapshotRule
from edgesight.store import EventStore
from edgesight.types import Detections, Event, Frame

__all__ = ["RunResult", "Runner"]

log = logging.getLogger(__name__)

_END = object()  # end-of-source marker in the queues


@dataclass
class _SourceCtx:
    name: str
    source: Source
    tracker: Any | None
    gate: Any | None
    rules: list[SnapshotRule]
    last_frame: Frame | None = None
    still_seconds: float = 0.0  # stream time the motion gate declared still (tracker clock excludes it)
    last_dets: Detections | None = None
    reader: threading.Thread | None = None
    error: str | None = None


@dataclass
class RunResult:
    """What a run produced: the summary dict (also printed) and every event message emitted."""

    summary: dict[str, Any]
    events: list[Event] = field(default_factory=list)


class Runner:
    """Runs one pipeline config to completion (files) or until ``stop()`` (live sources).

    Args:
        cfg: validated pipeline config.
        max_frames: stop each source after this many frames (None: until the source ends).
        on_frame: called from the post-processing thread with (frame, tracked detections, events),
            e.g. to drive a progress bar or a live web view. Must be quick.
        keep_events: keep every emitted event message in ``RunResult.events`` (tests, demo scoring).
        detector: an already-loaded detector (bench reuse); default loads ``cfg.model``.
    """

    def __init__(
        self,
        cfg: PipelineConfig,
        *,
        max_frames: int | None = None,
        on_frame: Callable[[Frame, Detections, list[Event]], None] | None = None,
        keep_events: bool = True,
        detector: Detector | None = None,
        sinks: list[EventSink] | None = None,
    ) -> None:
        from edgesight.inference import load_detector

        self.cfg = cfg
        self.max_frames = max_frames
        self.on_frame = on_frame
        self.keep_events = keep_events
        self.metrics = PipelineMetrics()
        self._stop = threading.Event()
        self.detector: Detector = detector if detector is not None else load_detector(cfg.model)
        self.sinks: list[EventSink] = sinks if sinks is not None else build_sinks(cfg, self.detector.names)
        self.store: EventStore | None = None
        self.uplink: Any | None = None
        self.exporter: PrometheusExporter | None = None  # set while running with outputs.metrics_port
        self._next_telemetry = 0.0
        self._ctxs: list[_SourceCtx] = []
        self._events: list[Event] = []

    # ------------------------------------------------------------------ setup
    def _build_sources(self) -> None:
        from edgesight.motion import MotionGate, motion_gate_enabled
        from edgesight.rules import build_rules
        from edgesight.sources import open_source
        from edgesight.tracking import ByteTrack

        opened: list[Source] = []
        try:
            for scfg in self.cfg.sources:
                src = open_source(scfg)
                opened.append(src)
                gate_on = motion_gate_enabled(self.cfg.motion, bool(src.is_live))
                rule_cfgs = [r for r in self.cfg.rules if _rule_applies(r, scfg.name)]
                self._ctxs.append(
                    _SourceCtx(
                        name=scfg.name,
                        source=src,
                        tracker=ByteTrack(self.cfg.tracker) if self.cfg.tracker.enabled else None,
                        gate=MotionGate(self.cfg.motion) if gate_on else None,
                        rules=build_rules(
                            rule_cfgs,
                            device_id=self.cfg.device_id,
                            snapshots=self.cfg.store.snapshots if self.cfg.store.snapshots.enabled else None,
                            names=self.detector.names,
                        ),
                    )
                )
        except BaseException:
            for s in opened:
                s.close()
            raise

    # ------------------------------------------------------------------ threads
    def _read(self, ctx: _SourceCtx, out: queue.Queue[Any]) -> None:
        n = 0
        it = iter(ctx.source.frames())
        # Letterbox in this thread, beside inference (the detector's own buffers are not shared).
        new_pre = getattr(self.detector, "new_preprocessor", None)
        pre = new_pre() if new_pre is not None else None
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = next(it, None)
                if frame is None:
                    break
                self.metrics.observe("decode", time.perf_counter() - t0)
                run_detector = True
                if ctx.gate is not None:
                    t1 = time.perf_counter()
                    run_detector = bool(ctx.gate.check(frame))
                    self.metrics.observe("motion", time.perf_counter() - t1)
                prepared = None
                if run_detector and pre is not None:
                    t2 = time.perf_counter()
                    tensor, transforms = pre([frame.image])
                    prepared = (tensor.copy(), transforms[0])
                    self.metrics.observe("preprocess", time.perf_counter() - t2)
                out.put((ctx, frame, run_detector, prepared))
                n += 1
                if self.max_frames is not None and n >= self.max_frames:
                    break
        except Exception as exc:  # a dead source must not stop the others
            ctx.error = f"{type(exc).__name__}: {exc}"
            log.error("source %s failed: %s", ctx.name, ctx.error)
        finally:
            out.put((ctx, _END, False, None))

    def _post(self, inbox: queue.Queue[Any]) -> None:
        while True:
            item = inbox.get()
            if item is None:
                return
            ctx, frame, dets = item
            if frame is _END:
                self._finish_source(ctx)
                continue
            try:
                self._post_one(ctx, frame, dets)
            except Exception:
                log.exception("post-processing failed on %s frame %d", ctx.name, frame.index)
                self._stop.set()
                raise

    def _post_one(self, ctx: _SourceCtx, frame: Frame, dets: Detections | None) -> None:
        m = self.metrics
        t0 = time.perf_counter()
        if dets is None and ctx.last_frame is not None:
            # The gate saw no motion: the scene is still, so the tracker's clock stands still too
            # (a Kalman filter would otherwise drift objects along their last velocity for the whole
            # still period, and lose them). Rules keep stream time: dwell goes on counting.
            ctx.still_seconds += frame.pts - ctx.last_frame.pts
        t_track = frame.pts - ctx.still_seconds
        if ctx.tracker is not None:
            tracked = ctx.tracker.update(dets, t_track) if dets is not None else ctx.tracker.coast(t_track)
        elif dets is not None:
            tracked = dets
        else:  # no tracker: hold the last detections over still frames
            tracked = ctx.last_dets if ctx.last_dets is not None else Detections.empty(self.detector.names)
        t1 = time.perf_counter()
        out: list[tuple[Event, bytes | None]] = []
        for rule in ctx.rules:
            out.extend((ev, rule.take_snapshot(ev)) for ev in rule.step(tracked, frame))
        t2 = time.perf_counter()
        events = self._emit(out, frame)
        t3 = time.perf_counter()
        for sink in self.sinks:
            sink.frame(ctx.name, frame, tracked)
        t4 = time.perf_counter()
        m.observe("track", t1 - t0)
        m.observe("rules", t2 - t1)
        m.observe("store", t3 - t2)
        m.observe("video", t4 - t3)
        m.count("frames", ctx.name)
        ctx.last_frame, ctx.last_dets = frame, tracked
        if self.uplink is not None:
            self._telemetry()
        if self.on_frame is not None:
            self.on_frame(frame, tracked, events)

    def _finish_source(self, ctx: _SourceCtx) -> None:
        out: list[tuple[Event, bytes | None]] = []
        for rule in ctx.rules:
            out.extend((ev, rule.take_snapshot(ev)) for ev in rule.flush(ctx.last_frame))
        self._emit(out, ctx.last_frame)

    def _emit(self, events: list[tuple[Event, bytes | None]], frame: Frame | None) -> list[Event]:
        """Store each message (with its snapshot), hand it to the sinks; returns them as stored."""
        stored: list[Event] = []
        for ev, jpeg in events:
            if self.store is not None:
                if self.uplink is not None:
                    # The queued message names the snapshot the store is about to write.
                    queued = (
                        ev.model_copy(update={"snapshot": self.store.snapshot_relpath(ev)}) if jpeg else ev
                    )
                    ev = self.store.save(ev, jpeg, also=partial(self.uplink.enqueue_event, event=queued))
                    if jpeg is not None:
                        self.uplink.offer_snapshot(ev, jpeg)
                else:
                    ev = self.store.save(ev, jpeg)
            for sink in self.sinks:
                sink.write(ev, frame)
            self.metrics.count_event(ev.kind, ev.seq)
            if self.keep_events:
                self._events.append(ev)
            stored.append(ev)
        return stored

    def _telemetry(self, force: bool = False) -> None:
        """Queue a small telemetry message (fps, counters) at most every telemetry interval."""
        assert self.uplink is not None
        now = time.monotonic()
        if not force and now < self._next_telemetry:
            return
        self._next_telemetry = now + self.cfg.uplink.telemetry_seconds if self.cfg.uplink else 60.0
        s = self.metrics.summary()
        self.uplink.enqueue_telemetry(
            {k: s[k] for k in ("frames", "fps", "detector_runs", "motion_skipped", "events", "elapsed_s")}
        )

    # ------------------------------------------------------------------ main loop
    def stop(self) -> None:
        """Ask the run to end (live sources); safe from any thread or a signal handler."""
        self._stop.set()

    def run(self) -> RunResult:
        self.store = EventStore(self.cfg.store, create=True)
        try:
            if self.cfg.uplink is not None:
                from edgesight.uplink import Uplink

                # Events and their outbox rows share the store's database and commit together.
                self.uplink = Uplink.from_config(self.cfg.uplink, self.store.db_path, self.cfg.device_id)
                self.uplink.start()
            self._build_sources()
        except BaseException:
            if self.uplink is not None:
                self.uplink.stop()
            self.store.close()
            raise
        exporter = None
        if self.cfg.outputs.metrics_port is not None:
            exporter = self.exporter = PrometheusExporter(self.cfg.outputs.metrics_port)
            self.metrics.add_listener(exporter)
        max_batch = max(1, int(getattr(self.detector, "max_batch", 1)))
        inbox: queue.Queue[Any] = queue.Queue(maxsize=max(4, 2 * max_batch * len(self._ctxs)))
        post_q: queue.Queue[Any] = queue.Queue(maxsize=64)
        post = threading.Thread(target=self._post, args=(post_q,), name="edgesight-post", daemon=True)
        post.start()
        for ctx in self._ctxs:
            ctx.reader = threading.Thread(
                target=self._read, args=(ctx, inbox), name=f"src-{ctx.name}", daemon=True
            )
            ctx.reader.start()
        active = len(self._ctxs)
        self.metrics.started = time.perf_counter()
        try:
            while active:
                items = [inbox.get()]
                while len(items) < max_batch * 2:
                    try:
                        items.append(inbox.get_nowait())
                    except queue.Empty:
                        break
                active -= self._infer_and_forward(items, post_q, max_batch)
                if not post.is_alive():
                    raise RuntimeError("post-processing thread died (see log above)")
        except KeyboardInterrupt:
            self._stop.set()
            log.warning("interrupted: finishing open events")
            # Drain readers so they can exit, then flush what they had.
            while active:
                try:
                    ctx, frame, _, _ = inbox.get(timeout=5)
                except queue.Empty:
                    break
                if frame is _END:
                    active -= 1
                    post_q.put((ctx, _END, None))
        finally:
            self._stop.set()
            post_q.put(None)
            post.join()
            for ctx in self._ctxs:
                ctx.source.close()
            for sink in self.sinks:
                sink.close()
            if self.uplink is not None:
                self._telemetry(force=True)
                self.uplink.stop()
            self.store.close()
            self.metrics.finish()
            if exporter is not None:
                exporter.close()
        summary = self.metrics.summary({c.name: _source_stats(c) for c in self._ctxs})
        return RunResult(summary=summary, events=self._events)

    def _infer_and_forward(
        self, items: list[tuple[Any, ...]], post_q: queue.Queue[Any], max_batch: int
    ) -> int:
        """Detect on the frames that need it (batches of max_batch) and forward all items in order."""
        ended = 0
        todo = [i for i, (_, f, run, _) in enumerate(items) if f is not _END and run]
        results: dict[int, Detections] = {}
        for k in range(0, len(todo), max_batch):
            chunk = todo[k : k + max_batch]
            if all(items[i][3] is not None for i in chunk):
                dets = self.detector.detect_prepared(  # type: ignore[attr-defined]
                    [items[i][3][0] for i in chunk], [items[i][3][1] for i in chunk]
                )
                stages: tuple[str, ...] = ("infer", "postprocess")
            else:
                dets = self.detector.detect([items[i][1].image for i in chunk])
                stages = ("preprocess", "infer", "postprocess")
            timings = getattr(self.detector, "last_timings", None)
            if timings:
                for stage in stages:
                    if stage in timings:
                        self.metrics.observe(stage, float(timings[stage]))
            self.metrics.count_batch(len(chunk))
            results.update(zip(chunk, dets, strict=True))
        for i, (ctx, frame, _, _) in enumerate(items):
            if frame is _END:
                ended += 1
                post_q.put((ctx, _END, None))
                continue
            d = results.get(i)
            if d is not None:
                self.metrics.count("detector_runs", ctx.name)
            else:
                self.metrics.count("motion_skipped", ctx.name)
            post_q.put((ctx, frame, d))
        return ended


def _rule_applies(rule_cfg: Any, source_name: str) -> bool:
    srcs = getattr(rule_cfg, "sources", None)
    return not srcs or source_name in srcs


def _source_stats(ctx: _SourceCtx) -> dict[str, Any]:
    try:
        stats = dict(ctx.source.stats())
    except Exception as exc:  # stats are informative only
        stats = {"stats_error": str(exc)}
    if ctx.error:
        stats["error"] = ctx.error
    return stats

"""Shared event lifecycle machinery for every rule: start -> update(s) -> end, best snapshot, cooldown.

An *open* event is one ``id`` whose messages go out as ``state="start"`` (seq 0), then ``"update"``
(seq 1, 2, ...) and finally ``"end"``. A *point* event (a line crossing, a zone entry) is a single
message with ``state="end"`` and seq 0, ``start_pts == end_pts`` or close to it.

Best snapshot: while an event (or a pending candidate, see :class:`BestMoment`) is open, every
observation of its object is scored ``confidence x sharpness`` (sharpness = normalised variance of the
Laplacian of the box crop, in [0, 1)). Only the best-scoring frame is kept, as ONE private copy of the
image per open event (frames offered by several events in the same step share one copy). The JPEG is
encoded when the event ends, and once early for long events (open for ``long_event_seconds``) so an
alert does not wait for the end; the end message re-sends it only if a better moment came later.

The JPEG bytes do not ride inside :class:`~edgesight.types.Event` (the store decides where the file
goes). After ``rule.step()``/``rule.flush()`` call ``rule.take_snapshot(event)`` for each returned event:
it returns the JPEG bytes for that message (or None) and is valid until the next ``step``/``flush``.

Times: every threshold is in seconds of stream time (``Frame.pts``), so behaviour does not depend on fps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.config import SnapshotConfig
from edgesight.types import Detections, Event, Frame

__all__ = [
    "BestMoment",
    "Cooldown",
    "EventLifecycle",
    "FrameKeeper",
    "LifecycleRule",
    "encode_snapshot",
    "filter_detections",
    "sharpness",
]

# Laplacian variance (8-bit grey, crop scaled to <= _SHARP_SIDE px) that maps to sharpness 0.5.
# ~100 is the usual "blurry below" threshold for photos; the mapping v / (v + k) keeps it in [0, 1).
_SHARP_HALF = 100.0
_SHARP_SIDE = 160
_EPS = 1e-6  # tolerance on stream-time comparisons (pts are floats such as i / fps)


def sharpness(image: npt.NDArray[np.uint8], box: npt.ArrayLike | None = None) -> float:
    """Normalised sharpness of a box crop, in [0, 1): ``v / (v + 100)`` with v = var(Laplacian).

    Args:
        image: (H, W, 3) BGR or (H, W) grey uint8, frame pixels.
        box: xyxy in frame pixels; None = the whole image. Clipped to the image.

    The crop is downscaled so its longer side is at most 160 px first, so large and small
    objects are compared at a similar scale and the cost stays bounded (< 0.1 ms).
    """
    h, w = image.shape[:2]
    if box is None:
        x1, y1, x2, y2 = 0, 0, w, h
    else:
        b = np.asarray(box, np.float64).reshape(4)
        if not np.all(np.isfinite(b)):
            return 0.0
        x1, y1 = int(max(0, np.floor(b[0]))), int(max(0, np.floor(b[1])))
        x2, y2 = int(min(w, np.ceil(b[2]))), int(min(h, np.ceil(b[3])))
    if x2 - x1 < 3 or y2 - y1 < 3:
        return 0.0
    crop: np.ndarray = image[y1:y2, x1:x2]
    side = max(crop.shape[0], crop.shape[1])
    if side > _SHARP_SIDE:
        s = _SHARP_SIDE / side
        crop = cv2.resize(
            crop,
            (max(3, round(crop.shape[1] * s)), max(3, round(crop.shape[0] * s))),
            interpolation=cv2.INTER_AREA,
        )
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    v = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return v / (v + _SHARP_HALF)


class FrameKeeper:
    """Hands out private copies of frame images, one copy per frame however many events keep it.

    Rules keep the best frame of each open event; when several events pick the same frame in one
    step they share the copy (read-only by convention), so memory is bounded by distinct frames kept.
    """

    def __init__(self) -> None:
        self._key: tuple[str, int, int] | None = None
        self._copy: npt.NDArray[np.uint8] | None = None

    def copy(self, frame: Frame) -> npt.NDArray[np.uint8]:
        key = (frame.source_id, frame.index, id(frame.image))
        if self._key != key or self._copy is None:
            self._copy = frame.image.copy()
            self._key = key
        return self._copy

    def release(self) -> None:
        """Forget the cached copy (events that kept it still hold their own reference)."""
        self._key = None
        self._copy = None


@dataclass
class BestMoment:
    """The best-scoring observation of one object over a time window (at most one image copy).

    Attributes:
        score: confidence x sharpness of the kept moment, -1 before any observation.
        image: private (H, W, 3) BGR copy of the kept frame, or None.
        box: xyxy frame pixels at the kept moment.
        confidence: detector confidence at the kept moment.
        pts: stream time (s) of the kept moment.
        max_confidence: highest confidence seen in the window (not necessarily at the kept moment).
    """

    score: float = -1.0
    image: npt.NDArray[np.uint8] | None = None
    box: list[float] | None = None
    confidence: float | None = None
    pts: float | None = None
    max_confidence: float | None = None

    def offer(
        self,
        frame: Frame,
        box: npt.ArrayLike | None,
        confidence: float | None,
        keeper: FrameKeeper | None,
    ) -> bool:
        """Consider this frame; keep it (copying the image through ``keeper``) if it scores higher.

        Args:
            frame: the current frame. box: xyxy frame pixels of the object (None = whole frame).
            confidence: detector confidence 0..1 (None counts as 1). keeper: None = never keep
                an image (snapshots disabled); scores and boxes are still tracked.

        Returns:
            True when this moment became the best one.
        """
        conf = 1.0 if confidence is None else float(confidence)
        if self.max_confidence is None or conf > self.max_confidence:
            self.max_confidence = conf
        # Cheap bound first: sharpness < 1, so a lower confidence than the best score cannot win.
        if conf <= self.score:
            return False
        score = conf * sharpness(frame.image, box)
        if score <= self.score and self.box is not None:
            return False
        self.score = score
        self.box = None if box is None else [float(v) for v in np.asarray(box, np.float64).reshape(4)]
        self.confidence = conf
        self.pts = frame.pts
        self.image = keeper.copy(frame) if keeper is not None else None
        return True

    def merge(self, other: BestMoment) -> None:
        """Take ``other``'s moment if it is better (used when a pending candidate becomes an event)."""
        if other.max_confidence is not None and (
            self.max_confidence is None or other.max_confidence > self.max_confidence
        ):
            self.max_confidence = other.max_confidence
        if other.score > self.score or self.box is None:
            self.score, self.image, self.box = other.score, other.image, other.box
            self.confidence, self.pts = other.confidence, other.pts


def encode_snapshot(
    image: npt.NDArray[np.uint8],
    box: list[float] | None,
    label: str | None,
    cfg: SnapshotConfig,
) -> bytes:
    """JPEG bytes of ``image`` (BGR, frame pixels), optionally downscaled and with ``box`` drawn.

    Never modifies ``image`` (it may be shared between events).
    """
    img: np.ndarray = image
    scale = 1.0
    if cfg.max_width is not None and img.shape[1] > cfg.max_width:
        scale = cfg.max_width / img.shape[1]
        img = cv2.resize(
            img, (cfg.max_width, max(1, round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA
        )
    if cfg.draw_boxes and box is not None:
        if img is image:
            img = img.copy()
        x1, y1, x2, y2 = (round(v * scale) for v in box)
        thick = max(1, round(min(img.shape[:2]) / 300))
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), thick, cv2.LINE_AA)
        if label:
            y = y1 - 4 if y1 > 14 else y2 + 14
            cv2.putText(img, label, (x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)])
    if not ok:  # pragma: no cover - OpenCV only fails on empty images, which frames never are
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
    return bytes(buf.tobytes())


class Cooldown:
    """Suppress repeats of an event per key (e.g. (kind, track id)) for ``seconds`` of stream time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self._last: dict[Hashable, float] = {}

    def ready(self, key: Hashable, t: float) -> bool:
        """True when no event for ``key`` was marked in the last ``seconds`` before stream time ``t``."""
        last = self._last.get(key)
        return last is None or t - last >= self.seconds - _EPS

    def mark(self, key: Hashable, t: float) -> None:
        """Record an event for ``key`` at stream time ``t``."""
        if self.seconds <= 0:
            return
        self._last[key] = t
        if len(self._last) > 4096:  # forget expired keys so memory stays bounded on long runs
            self._last = {k: v for k, v in self._last.items() if t - v < self.seconds}


@dataclass
class _Open:
    event: Event  # the last message sent
    best: BestMoment
    snapshot_score: float = -1.0  # score of the moment last sent as a JPEG (-1 = none yet)


@dataclass
class _Clock:
    pts: float = 0.0
    wall: float = 0.0
    source_id: str = ""
    seen: bool = False
    ready: dict[str, bytes] = field(default_factory=dict)


class EventLifecycle:
    """Open events of one rule, keyed by anything hashable (e.g. ``("dwell", track_id)``).

    Args:
        rule: rule name stamped on events.
        device_id: device id stamped on events.
        snapshots: snapshot settings; None or ``enabled=False`` = no JPEGs (and no frame copies).
        long_event_seconds: an event open this long (stream s) sends its best snapshot early, on
            an update message, instead of waiting for its end.
    """

    def __init__(
        self,
        rule: str,
        *,
        device_id: str = "local",
        snapshots: SnapshotConfig | None = None,
        long_event_seconds: float = 10.0,
    ) -> None:
        self.rule = rule
        self.device_id = device_id
        self.snapshots = (
            snapshots if snapshots is not None else SnapshotConfig.model_validate({"enabled": False})
        )
        self.long_event_seconds = float(long_event_seconds)
        self.keeper: FrameKeeper | None = FrameKeeper() if self.snapshots.enabled else None
        self._open: dict[Hashable, _Open] = {}
        self._clock = _Clock()

    # ------------------------------------------------------------------ step bookkeeping
    def begin_step(self, frame: Frame | None) -> None:
        """Start of a ``step``/``flush``: forget last step's JPEGs, remember the stream clock."""
        self._clock.ready = {}
        if self.keeper is not None:
            self.keeper.release()
        if frame is not None:
            self._clock.pts, self._clock.wall = frame.pts, frame.wall_time
            self._clock.source_id, self._clock.seen = frame.source_id, True

    def take_snapshot(self, event: Event) -> bytes | None:
        """JPEG bytes produced for this message in the current step, or None. Pops them."""
        return self._clock.ready.pop(event.message_id, None)

    def is_open(self, key: Hashable) -> bool:
        return key in self._open

    def open_keys(self) -> list[Hashable]:
        return list(self._open)

    def get(self, key: Hashable) -> Event:
        """The last message sent for an open event."""
        return self._open[key].event

    def best(self, key: Hashable) -> BestMoment:
        return self._open[key].best

    # ------------------------------------------------------------------ messages
    def open(
        self,
        key: Hashable,
        *,
        kind: str,
        frame: Frame,
        zone: str | None = None,
        track_id: int | None = None,
        class_name: str | None = None,
        confidence: float | None = None,
        box: npt.ArrayLike | None = None,
        attributes: Mapping[str, Any] | None = None,
        start_pts: float | None = None,
        best: BestMoment | None = None,
    ) -> Event:
        """Open an event under ``key`` and return its ``start`` message (seq 0).

        ``best`` carries observations made before the event was confirmed (e.g. during a debounce
        window); the current observation (``box``/``confidence``) is offered too.
        """
        if key in self._open:
            raise KeyError(f"rule {self.rule!r}: an event is already open for {key!r}")
        moment = BestMoment()
        if best is not None:
            moment.merge(best)
        if box is not None or confidence is not None:
            moment.offer(frame, box, confidence, self.keeper)
        ev = self._message(
            kind=kind,
            frame=frame,
            state="start",
            seq=0,
            zone=zone,
            track_id=track_id,
            class_name=class_name,
            start_pts=frame.pts if start_pts is None else start_pts,
            best=moment,
            attributes=attributes,
        )
        rec = self._open[key] = _Open(ev, moment)
        if moment.image is not None and frame.pts - ev.start_pts >= self.long_event_seconds - _EPS:
            # Already long when confirmed (a dwell): the start message carries the snapshot itself.
            self._encode(ev, moment)
            rec.snapshot_score = moment.score
        return ev

    def observe(
        self, key: Hashable, frame: Frame, box: npt.ArrayLike | None, confidence: float | None
    ) -> None:
        """Offer the current frame as the open event's best moment (no message)."""
        self._open[key].best.offer(frame, box, confidence, self.keeper)

    def update(self, key: Hashable, frame: Frame, attributes: Mapping[str, Any] | None = None) -> Event:
        """Send an ``update`` message (seq + 1) with ``attributes`` merged into the event's."""
        rec = self._open[key]
        ev = self._next(rec, frame, "update", attributes)
        rec.event = ev
        return ev

    def close(
        self,
        key: Hashable,
        frame: Frame | None,
        attributes: Mapping[str, Any] | None = None,
        end_pts: float | None = None,
    ) -> Event:
        """End the event under ``key``: ``end`` message (seq + 1), with a JPEG if a better moment exists.

        ``frame`` None (end of stream without a frame) uses the last stream time seen.
        """
        rec = self._open.pop(key)
        ev = self._next(rec, frame, "end", attributes, end_pts=end_pts)
        if rec.best.score > rec.snapshot_score:
            self._encode(ev, rec.best)
        return ev

    def close_all(self, frame: Frame | None, attributes: Mapping[str, Any] | None = None) -> list[Event]:
        """End every open event (end of stream), oldest first."""
        return [self.close(k, frame, attributes) for k in list(self._open)]

    def instant(
        self,
        *,
        kind: str,
        frame: Frame,
        zone: str | None = None,
        track_id: int | None = None,
        class_name: str | None = None,
        confidence: float | None = None,
        box: npt.ArrayLike | None = None,
        attributes: Mapping[str, Any] | None = None,
        start_pts: float | None = None,
        best: BestMoment | None = None,
    ) -> Event:
        """A point event: one ``end`` message (seq 0) with its snapshot, nothing left open."""
        moment = BestMoment()
        if best is not None:
            moment.merge(best)
        if box is not None or confidence is not None:
            moment.offer(frame, box, confidence, self.keeper)
        ev = self._message(
            kind=kind,
            frame=frame,
            state="end",
            seq=0,
            zone=zone,
            track_id=track_id,
            class_name=class_name,
            start_pts=frame.pts if start_pts is None else start_pts,
            best=moment,
            attributes=attributes,
        )
        ev = ev.model_copy(update={"end_pts": frame.pts})
        self._encode(ev, moment)
        return ev

    def tick(self, frame: Frame) -> list[Event]:
        """Early snapshots: an update message for each event open >= long_event_seconds without one."""
        out: list[Event] = []
        if not self.snapshots.enabled:
            return out
        for rec in self._open.values():
            if (
                rec.snapshot_score < 0
                and rec.best.image is not None
                and frame.pts - rec.event.start_pts >= self.long_event_seconds - _EPS
            ):
                ev = self._next(rec, frame, "update", {"early_snapshot": True})
                rec.event = ev
                self._encode(ev, rec.best)
                rec.snapshot_score = rec.best.score
                out.append(ev)
        return out

    # ------------------------------------------------------------------ internals
    def _message(
        self,
        *,
        kind: str,
        frame: Frame,
        state: str,
        seq: int,
        zone: str | None,
        track_id: int | None,
        class_name: str | None,
        start_pts: float,
        best: BestMoment,
        attributes: Mapping[str, Any] | None,
    ) -> Event:
        return Event(
            schema_version=1,
            device_id=self.device_id,
            source_id=frame.source_id,
            kind=kind,
            state=state,  # type: ignore[arg-type]
            seq=seq,
            rule=self.rule,
            zone=zone,
            start_pts=float(start_pts),
            started_at=frame.wall_time - max(0.0, frame.pts - float(start_pts)),
            updated_at=frame.wall_time,
            track_id=None if track_id is None else int(track_id),
            class_name=class_name,
            confidence=best.max_confidence,
            box=best.box,
            attributes=dict(attributes or {}),
            end_pts=None,
            snapshot=None,
        )

    def _next(
        self,
        rec: _Open,
        frame: Frame | None,
        state: str,
        attributes: Mapping[str, Any] | None,
        end_pts: float | None = None,
    ) -> Event:
        prev = rec.event
        pts = frame.pts if frame is not None else self._clock.pts
        wall = (
            frame.wall_time
            if frame is not None
            else (self._clock.wall if self._clock.seen else prev.updated_at)
        )
        update: dict[str, Any] = {
            "state": state,
            "seq": prev.seq + 1,
            "updated_at": wall,
            "confidence": rec.best.max_confidence,
            "box": rec.best.box,
            "attributes": {**prev.attributes, **(attributes or {})},
        }
        if state == "end":
            update["end_pts"] = pts if end_pts is None else float(end_pts)
        return prev.model_copy(update=update, deep=True)

    def _encode(self, ev: Event, best: BestMoment) -> None:
        if not self.snapshots.enabled or best.image is None:
            return
        label = " ".join(
            p for p in (ev.class_name, f"{best.confidence:.2f}" if best.confidence else None) if p
        )
        self._clock.ready[ev.message_id] = encode_snapshot(
            best.image, best.box, label or None, self.snapshots
        )


def filter_detections(
    detections: Detections, classes: Iterable[str] | None, min_confidence: float
) -> Detections:
    """Rows whose class name is in ``classes`` (None = all) and confidence >= ``min_confidence``.

    Returns a new Detections (never a view of the caller's arrays).
    """
    keep = detections.confidence >= min_confidence
    if classes is not None:
        wanted = set(classes)
        names = np.asarray(detections.class_names, dtype=object)
        keep &= np.isin(names, list(wanted)) if len(names) else np.zeros((0,), bool)
    if bool(np.all(keep)):
        return detections
    return detections[np.flatnonzero(keep)]


class LifecycleRule(ABC):
    """Base for rules built on :class:`EventLifecycle` (zones, lines, and composite rules).

    Subclasses implement ``_step(detections, frame)`` on already filtered detections (class filter,
    ``min_confidence``) and optionally ``_flush(frame)``; open lifecycle events are ended by ``flush``.
    One instance serves ONE source (track ids are per source).

    Args:
        name: rule name. classes: class names watched (None = all). min_confidence: 0..1.
        cooldown_seconds: per-(kind, track) repeat suppression, stream seconds.
        device_id, snapshots, long_event_seconds: see :class:`EventLifecycle`.
    """

    def __init__(
        self,
        name: str,
        *,
        classes: Iterable[str] | None = None,
        min_confidence: float = 0.0,
        cooldown_seconds: float = 0.0,
        device_id: str = "local",
        snapshots: SnapshotConfig | None = None,
        long_event_seconds: float = 10.0,
    ) -> None:
        self.name = name
        self.classes = None if classes is None else list(classes)
        self.min_confidence = float(min_confidence)
        self.cooldown = Cooldown(cooldown_seconds)
        self.lifecycle = EventLifecycle(
            name, device_id=device_id, snapshots=snapshots, long_event_seconds=long_event_seconds
        )

    def step(self, detections: Detections, frame: Frame) -> list[Event]:
        """Feed one frame's (tracked) detections; returns the messages this frame produced."""
        self.lifecycle.begin_step(frame)
        events = self._step(filter_detections(detections, self.classes, self.min_confidence), frame)
        events.extend(self.lifecycle.tick(frame))
        return events

    def flush(self, frame: Frame | None) -> list[Event]:
        """End of stream: end every open event (``frame`` None = use the last stream time seen)."""
        self.lifecycle.begin_step(frame)
        events = self._flush(frame)
        events.extend(self.lifecycle.close_all(frame, {"reason": "end_of_stream"}))
        return events

    def take_snapshot(self, event: Event) -> bytes | None:
        """JPEG bytes for a message returned by the last step/flush (None if it carries none)."""
        return self.lifecycle.take_snapshot(event)

    @abstractmethod
    def _step(self, detections: Detections, frame: Frame) -> list[Event]: ...

    def _flush(self, frame: Frame | None) -> list[Event]:
        return []


class RuleSettings(Protocol):
    """What every rule config carries (``edgesight.config`` rule models)."""

    name: str
    classes: list[str] | None
    min_confidence: float
    cooldown_seconds: float


C = TypeVar("C", bound=RuleSettings)


class ConfiguredRule(LifecycleRule, Generic[C]):
    """A :class:`LifecycleRule` made from its pydantic config, kept as ``self.cfg``.

    Subclasses set up their own state in ``_setup`` (called once, ``self.cfg`` set). Composite rules
    (``role_filtered = True``) see every class, because they pair objects of different roles (a person
    and a hard hat, a part and a defect), and filter by role themselves.

    Args:
        cfg: the rule's config. device_id, snapshots, long_event_seconds: see :class:`EventLifecycle`.
    """

    role_filtered: ClassVar[bool] = False

    def __init__(
        self,
        cfg: C,
        *,
        device_id: str = "local",
        snapshots: SnapshotConfig | None = None,
        long_event_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            cfg.name,
            classes=None if self.role_filtered else cfg.classes,
            min_confidence=0.0 if self.role_filtered else cfg.min_confidence,
            cooldown_seconds=cfg.cooldown_seconds,
            device_id=device_id,
            snapshots=snapshots,
            long_event_seconds=long_event_seconds,
        )
        self.cfg: C = cfg
        self._setup()

    def _setup(self) -> None:
        """Build the rule's own state from ``self.cfg``."""

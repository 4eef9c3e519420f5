"""Core types every component speaks: Frame, Detections, Event.

Components take and return these (``tracker.update(detections) -> detections``,
``rule.step(detections, frame) -> list[Event]``) and compose without a framework.
Nothing here mutates a caller's data: indexing and ``with_*`` return new objects.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

__all__ = ["Detections", "Event", "EventState", "Frame", "new_event_id"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame.

    Attributes:
        image: (H, W, 3) uint8, BGR (as OpenCV gives it).
        source_id: name of the source that produced it.
        index: 0-based frame index within that source (decoded frames, skips included).
        pts: presentation time in seconds, in the source's own clock (stream time).
        wall_time: UNIX time (seconds) when the frame was decoded.
    """

    image: npt.NDArray[np.uint8]
    source_id: str
    index: int
    pts: float
    wall_time: float = field(default_factory=time.time)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def _f32(a: Any, shape_tail: tuple[int, ...] = ()) -> npt.NDArray[np.float32]:
    arr = np.asarray(a, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, *shape_tail), dtype=np.float32)
    return arr


@dataclass(frozen=True)
class Detections:
    """Columnar detections for one frame.

    Attributes:
        xyxy: (N, 4) float32, box corners in frame pixels (x1, y1, x2, y2).
        confidence: (N,) float32 in [0, 1].
        class_id: (N,) int32 indices into ``names``.
        tracker_id: (N,) int64 track ids, or None before tracking.
        names: class id -> class name (shared, never mutated).
        data: extra per-detection columns, each with first dimension N.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    tracker_id: npt.NDArray[np.int64] | None = None
    names: Mapping[int, str] = field(default_factory=dict)
    data: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalise dtypes/shapes once so every component can rely on them.
        object.__setattr__(self, "xyxy", _f32(self.xyxy, (4,)).reshape(-1, 4))
        object.__setattr__(self, "confidence", _f32(self.confidence).reshape(-1))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int32).reshape(-1))
        if self.tracker_id is not None:
            object.__setattr__(self, "tracker_id", np.asarray(self.tracker_id, dtype=np.int64).reshape(-1))
        n = len(self.xyxy)
        lengths = {"confidence": len(self.confidence), "class_id": len(self.class_id)}
        if self.tracker_id is not None:
            lengths["tracker_id"] = len(self.tracker_id)
        lengths.update({f"data[{k}]": len(v) for k, v in self.data.items()})
        bad = {k: v for k, v in lengths.items() if v != n}
        if bad:
            raise ValueError(f"Detections columns must all have length {n} (xyxy), got {bad}")

    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            class_id=np.zeros((0,), np.int32),
            names=names or {},
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate detections (same frame); tracker ids kept only if all parts have them."""
        if not parts:
            return cls.empty()
        names = dict(parts[0].names)
        has_tid = all(p.tracker_id is not None for p in parts)
        keys = set.intersection(*(set(p.data) for p in parts)) if parts else set()
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts if p.tracker_id is not None])
            if has_tid
            else None,
            names=names,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Select rows; returns a new object (copies), never a view into this one."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        sel = np.asarray(np.arange(len(self))[index])
        return Detections(
            xyxy=self.xyxy[sel].copy(),
            confidence=self.confidence[sel].copy(),
            class_id=self.class_id[sel].copy(),
            tracker_id=None if self.tracker_id is None else self.tracker_id[sel].copy(),
            names=self.names,
            data={k: np.asarray(v)[sel].copy() for k, v in self.data.items()},
        )

    def with_tracker_id(self, tracker_id: npt.ArrayLike) -> Detections:
        return Detections(
            self.xyxy, self.confidence, self.class_id, np.asarray(tracker_id), self.names, self.data
        )

    def with_data(self, **columns: np.ndarray) -> Detections:
        return Detections(
            self.xyxy, self.confidence, self.class_id, self.tracker_id, self.names, {**self.data, **columns}
        )

    @property
    def class_names(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    @property
    def area(self) -> npt.NDArray[np.float32]:
        """(N,) box areas in square pixels."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def anchor(self, where: Literal["center", "bottom_center"] = "bottom_center") -> npt.NDArray[np.float32]:
        """(N, 2) reference points in frame pixels; bottom-center is where a person/vehicle touches the ground."""
        cx = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        y = self.xyxy[:, 3] if where == "bottom_center" else (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        return np.stack([cx, y], axis=1).astype(np.float32)


EventState = Literal["start", "update", "end"]


def new_event_id() -> str:
    """A globally unique, lexicographically time-sortable id (ULID)."""
    return str(ULID())


class Event(BaseModel):
    """A rule's output: the product's unit of information.

    One event has one ``id`` across its lifecycle; each state change is a new message with a
    higher ``seq`` so receivers can de-duplicate on (id, seq).
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(1, title="Schema version", description="Version of this message layout.")
    id: str = Field(
        default_factory=new_event_id, title="Event id", description="ULID, shared by all states of one event."
    )
    seq: int = Field(0, title="Sequence", description="0 for start, incremented on every update/end message.")
    device_id: str = Field("local", title="Device id", description="Device that produced the event.")
    source_id: str = Field(title="Source id", description="Camera/source name.")
    kind: str = Field(
        title="Kind", description="e.g. zone_enter, zone_exit, dwell, line_cross, ppe, near_miss, defect."
    )
    state: EventState = Field("start", title="State", description="Lifecycle state: start, update or end.")
    rule: str = Field(title="Rule", description="Name of the rule that produced it.")
    zone: str | None = Field(None, title="Zone/line", description="Zone or line name, if any.")
    start_pts: float = Field(title="Start (stream s)", description="Stream time of the start, seconds.")
    end_pts: float | None = Field(
        None, title="End (stream s)", description="Stream time of the end, seconds."
    )
    started_at: float = Field(
        default_factory=time.time, title="Started at", description="UNIX time of the start."
    )
    updated_at: float = Field(
        default_factory=time.time, title="Updated at", description="UNIX time of this message."
    )
    track_id: int | None = Field(None, title="Track id", description="Tracker id of the main object.")
    class_name: str | None = Field(None, title="Class", description="Class of the main object.")
    confidence: float | None = Field(
        None, title="Confidence", description="Best detector confidence seen, 0..1."
    )
    box: list[float] | None = Field(None, title="Box", description="xyxy in frame pixels at the best moment.")
    snapshot: str | None = Field(
        None, title="Snapshot", description="Snapshot path relative to the store root."
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, title="Attributes", description="Rule-specific values."
    )

    @property
    def message_id(self) -> str:
        """Idempotency key of this message (event id + sequence)."""
        return f"{self.id}:{self.seq}"

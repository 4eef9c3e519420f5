"""Decoders: raw model outputs -> boxes in model-input pixels, confidences and class ids.

A decoder knows one output layout. It applies the per-class confidence thresholds (and the class
filter, as thresholds of +inf) and NMS where the model does not do it itself. Mapping boxes back to
frame pixels is the detector's job (:mod:`edgesight.inference.preprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["ClassThresholds", "Decoded", "Decoder"]


@dataclass(frozen=True)
class Decoded:
    """One image's detections in model-input pixels.

    Attributes:
        xyxy: (K, 4) float32 box corners in model-input pixels.
        confidence: (K,) float32, sorted high to low.
        class_id: (K,) int32.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> Decoded:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32))


@dataclass(frozen=True)
class ClassThresholds:
    """Minimum confidence per class id; +inf drops the class (class filter).

    Attributes:
        table: (C,) float32 thresholds indexed by class id.
        other: threshold for ids beyond the table (+inf when the model's classes are all known).
    """

    table: npt.NDArray[np.float32]
    other: float

    @classmethod
    def uniform(cls, n: int, confidence: float) -> ClassThresholds:
        return cls(np.full((n,), confidence, np.float32), float(confidence))

    @property
    def lowest(self) -> float:
        """The smallest threshold of any class (for cheap pre-filtering)."""
        finite = self.table[np.isfinite(self.table)]
        lo = float(finite.min()) if finite.size else float("inf")
        return min(lo, self.other)

    def lookup(self, class_id: npt.NDArray[np.integer]) -> npt.NDArray[np.float32]:
        """(K,) thresholds for (K,) class ids (negative or out-of-table ids get ``other``)."""
        ids = np.asarray(class_id, dtype=np.int64)
        out = np.full(ids.shape, self.other, dtype=np.float32)
        ok = (ids >= 0) & (ids < len(self.table))
        out[ok] = self.table[ids[ok]]
        return out


class Decoder(Protocol):
    """Turns the outputs of one batched inference into per-image Decoded results."""

    kind: str
    num_classes: int | None

    def decode(self, outputs: list[np.ndarray], index: int, thresholds: ClassThresholds) -> Decoded:
        """Decode image ``index`` of the batch (outputs already dequantized to float)."""
        ...

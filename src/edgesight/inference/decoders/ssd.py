"""TFLite SSD models ending in ``TFLite_Detection_PostProcess`` (NMS done inside the model).

The op has four outputs, found here by shape and dtype (their order differs between TF1 and TF2
exports): boxes ``[1, N, 4]`` (ymin, xmin, ymax, xmax, normalised 0..1 of the input), classes
``[1, N]`` (0-based class ids as floats), scores ``[1, N]`` and count ``[1]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgesight.errors import ModelError
from edgesight.inference.backends.base import TensorInfo
from edgesight.inference.decoders import ClassThresholds, Decoded

__all__ = ["SsdDecoder", "SsdOutputs", "find_ssd_outputs"]

_POSTPROCESS_NAME = re.compile(r"TFLite_Detection_PostProcess(?::(\d+))?$")


@dataclass(frozen=True)
class SsdOutputs:
    """Output indices of the four post-process tensors.

    ``classes`` and ``scores`` may be None when their names do not tell them apart; the decoder then
    picks them from the values (class ids are whole numbers, scores are not).
    """

    boxes: int
    count: int
    pair: tuple[int, int]
    classes: int | None = None
    scores: int | None = None


def find_ssd_outputs(outputs: list[TensorInfo]) -> SsdOutputs | None:
    """Recognise the post-process outputs by shape/dtype; None when the model is not such an SSD."""
    if len(outputs) != 4:
        return None
    boxes = [i for i, o in enumerate(outputs) if len(o.shape) == 3 and o.shape[2] == 4]
    count = [i for i, o in enumerate(outputs) if len(o.shape) in (1, 2) and all(d == 1 for d in o.shape)]
    pair = [i for i, o in enumerate(outputs) if len(o.shape) == 2 and o.shape[1] != 1 and i not in count]
    floats = all(np.issubdtype(o.dtype, np.floating) for o in outputs)
    if len(boxes) != 1 or len(count) != 1 or len(pair) != 2 or not floats:
        return None
    n = outputs[boxes[0]].shape[1]
    if any(outputs[i].shape[1] != n for i in pair):
        return None
    roles: dict[int, int] = {}
    for i in pair:
        m = _POSTPROCESS_NAME.search(outputs[i].name)
        if m and m.group(1) in ("1", "2"):
            roles[int(m.group(1))] = i  # op output 1 = classes, 2 = scores
    if set(roles) == {1, 2}:
        return SsdOutputs(boxes[0], count[0], (pair[0], pair[1]), classes=roles[1], scores=roles[2])
    return SsdOutputs(boxes[0], count[0], (pair[0], pair[1]))


class SsdDecoder:
    """Decodes post-processed SSD outputs: thresholds and top ``max_detections`` (NMS already done)."""

    kind = "ssd"
    num_classes: int | None = None

    def __init__(self, roles: SsdOutputs, input_hw: tuple[int, int], max_detections: int = 300) -> None:
        self.roles = roles
        self.max_detections = max_detections
        h, w = input_hw
        self._scale = np.array([w, h, w, h], dtype=np.float32)

    def _classes_scores(self, outputs: list[np.ndarray], index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.roles
        if r.classes is not None and r.scores is not None:
            return outputs[r.classes][index][:n], outputs[r.scores][index][:n]
        a, b = (np.asarray(outputs[i][index][:n], dtype=np.float32) for i in r.pair)
        a_whole = bool(np.all(a == np.round(a)))
        b_whole = bool(np.all(b == np.round(b)))
        if b_whole and not a_whole:
            return b, a
        return a, b  # TF1 order (classes before scores) when the values cannot tell

    def decode(self, outputs: list[np.ndarray], index: int, thresholds: ClassThresholds) -> Decoded:
        """Decode image ``index``: boxes in model-input pixels (xyxy), highest confidence first."""
        r = self.roles
        boxes = np.asarray(outputs[r.boxes][index], dtype=np.float32)
        total = len(boxes)
        counts = np.asarray(outputs[r.count]).reshape(-1)  # (B,) one count per image
        count = int(counts[min(index, counts.size - 1)])
        if not 0 <= count <= total:
            raise ModelError(f"SSD post-process reported {count} detections but has room for {total}")
        cls_f, scores = self._classes_scores(outputs, index, count)
        cls = np.round(np.asarray(cls_f, dtype=np.float32)).astype(np.int32)
        scores = np.asarray(scores, dtype=np.float32)
        ok = scores >= thresholds.lookup(cls)
        yxyx = boxes[:count][ok]
        xyxy = np.clip(yxyx[:, [1, 0, 3, 2]], 0.0, 1.0) * self._scale
        conf, cls = scores[ok], cls[ok]
        order = np.argsort(-conf, kind="stable")[: self.max_detections]
        return Decoded(
            xyxy[order].astype(np.float32), conf[order].astype(np.float32), cls[order].astype(np.int32)
        )

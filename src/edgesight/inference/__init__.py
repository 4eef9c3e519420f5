"""Inference: run a detection model on frames.

Public API (small on purpose)::

    from edgesight.config import ModelConfig
    from edgesight.inference import load_detector

    detector = load_detector(ModelConfig(path="yolov8n.onnx"))    # backend/decoder from the file
    [dets] = detector.detect([frame_bgr])                           # Detections in frame pixels
    detector.last_timings   # {"preprocess": s, "infer": s, "postprocess": s} of the last call

* :func:`load_detector` -> :class:`ModelDetector` (implements ``edgesight.protocols.Detector``:
  ``names``, ``max_batch``, ``detect(images) -> list[Detections]``).
* :func:`open_backend` -> :class:`InferenceBackend` (raw tensors in/out, with ``inputs``/``outputs``
  :class:`TensorInfo` and ``metadata``) for tools that time or compare models; ``BACKENDS`` is the registry.
* :class:`Preprocessor` / :class:`InputSpec` / :class:`LetterboxTransform`: letterbox into reused
  buffers and the exact inverse mapping of boxes back to frame pixels.
* :func:`nms`: class-aware NMS in numpy.

Everything raises :class:`edgesight.errors.ModelError` (one line) for a bad model file.
"""

from __future__ import annotations

from edgesight.inference.backends import BACKENDS, open_backend
from edgesight.inference.backends.base import InferenceBackend, TensorInfo
from edgesight.inference.detector import ModelDetector, load_detector
from edgesight.inference.metadata import ModelMetadata, load_labels, parse_metadata
from edgesight.inference.nms import box_iou, nms
from edgesight.inference.preprocess import InputSpec, LetterboxTransform, Preprocessor

__all__ = [
    "BACKENDS",
    "InferenceBackend",
    "InputSpec",
    "LetterboxTransform",
    "ModelDetector",
    "ModelMetadata",
    "Preprocessor",
    "TensorInfo",
    "box_iou",
    "load_detector",
    "load_labels",
    "nms",
    "open_backend",
    "parse_metadata",
]

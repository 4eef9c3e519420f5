"""Detector = backend + preprocessing + decoder, all chosen from the model file itself."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesight.config import ModelConfig
from edgesight.errors import ModelError
from edgesight.inference.backends import open_backend
from edgesight.inference.backends.base import InferenceBackend, TensorInfo
from edgesight.inference.decoders import ClassThresholds, Decoder
from edgesight.inference.decoders.ssd import SsdDecoder, find_ssd_outputs
from edgesight.inference.decoders.yolo import YoloDecoder, detect_yolo_layout
from edgesight.inference.metadata import ModelMetadata, load_labels, parse_metadata
from edgesight.inference.preprocess import InputSpec, LetterboxTransform, Preprocessor
from edgesight.types import Detections

__all__ = ["ModelDetector", "load_detector"]


@dataclass(frozen=True)
class _Classes:
    names: dict[int, str]
    size: int | None  # number of class ids the model/labels span, when known


def _dequantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized and np.issubdtype(x.dtype, np.integer):
        return ((x.astype(np.float32) - info.zero_point) * np.float32(info.scale)).astype(np.float32)
    return x


class ModelDetector:
    """Runs one detection model on BGR frames; implements :class:`edgesight.protocols.Detector`.

    Build it with :func:`load_detector`. Not thread-safe (one inference at a time; buffers are reused).

    Attributes:
        names: class id -> class name, as the model (or its labels file) defines them.
        max_batch: frames per inference call (1 for static-batch-1 models).
        input_spec: the input the model wants (size, layout, dtype, quantization, resize mode).
        backend: the loaded backend (``backend.kind`` says which).
        decoder: the output decoder (``decoder.kind``: "yolo" or "ssd").
        last_timings: seconds spent in the last :meth:`detect` call, per stage:
            ``preprocess``, ``infer``, ``postprocess`` (summed over its batches).
    """

    def __init__(
        self,
        backend: InferenceBackend,
        decoder: Decoder,
        spec: InputSpec,
        names: dict[int, str],
        thresholds: ClassThresholds,
        max_batch: int,
        static_batch: int | None,
    ) -> None:
        self.backend = backend
        self.decoder = decoder
        self.input_spec = spec
        self.names = names
        self.thresholds = thresholds
        self.max_batch = max_batch
        self._static_batch = static_batch
        self._pre = Preprocessor(spec, max_batch)
        self._input_name = backend.inputs[0].name
        self.last_timings: dict[str, float] = {"preprocess": 0.0, "infer": 0.0, "postprocess": 0.0}

    def describe(self) -> str:
        """One line: model file, backend, input, decoder."""
        s = self.input_spec
        q = f" q(scale={s.scale:g}, zp={s.zero_point})" if s.scale else ""
        layout = getattr(self.decoder, "layout", None)
        dec = layout.describe() if layout is not None else self.decoder.kind.upper()
        return (
            f"{self.backend.path.name} on {self.backend.kind}: input {s.layout} {s.height}x{s.width} "
            f"{np.dtype(s.dtype).name}{q} ({s.resize}), decoder {dec}, {len(self.names)} named classes, "
            f"batch {self.max_batch}"
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in each image.

        Args:
            images: (H, W, 3) uint8 BGR frames (any sizes; never modified).

        Returns:
            One Detections per image: ``xyxy`` float32 in that image's pixels, ``confidence``
            float32, ``class_id`` int32, ``names`` = :attr:`names`; highest confidence first.
        """
        timings = {"preprocess": 0.0, "infer": 0.0, "postprocess": 0.0}
        results: list[Detections] = []
        for start in range(0, len(images), self.max_batch):
            chunk = images[start : start + self.max_batch]
            t0 = time.perf_counter()
            tensor, transforms = self._pre(chunk)
            timings["preprocess"] += time.perf_counter() - t0
            results.extend(self._infer_decode(tensor, transforms, timings))
        self.last_timings = timings
        return results

    def new_preprocessor(self) -> Preprocessor:
        """A private one-frame preprocessor for another thread (e.g. a source's reader thread).

        Use with :meth:`detect_prepared`: ``tensor, [tr] = pre([image])`` then pass ``tensor.copy()``
        (the preprocessor reuses its buffer) and ``tr``. Letterboxing then runs beside inference.
        """
        return Preprocessor(self.input_spec, 1)

    def detect_prepared(
        self, tensors: Sequence[np.ndarray], transforms: Sequence[LetterboxTransform]
    ) -> list[Detections]:
        """Detect on frames already preprocessed by :meth:`new_preprocessor` (one (1, ...) tensor each).

        Batches up to ``max_batch`` per backend call; same results as :meth:`detect` on the images.
        """
        timings = {"preprocess": 0.0, "infer": 0.0, "postprocess": 0.0}
        results: list[Detections] = []
        for start in range(0, len(tensors), self.max_batch):
            chunk = tensors[start : start + self.max_batch]
            t0 = time.perf_counter()
            batch = chunk[0] if len(chunk) == 1 else np.concatenate(chunk, axis=0)
            timings["preprocess"] += time.perf_counter() - t0
            results.extend(self._infer_decode(batch, transforms[start : start + self.max_batch], timings))
        self.last_timings = timings
        return results

    def _infer_decode(
        self, tensor: np.ndarray, transforms: Sequence[LetterboxTransform], timings: dict[str, float]
    ) -> list[Detections]:
        n = len(transforms)
        if self._static_batch is not None and n < self._static_batch:
            full = np.zeros((self._static_batch, *tensor.shape[1:]), tensor.dtype)
            full[:n] = tensor
            tensor = full
        t1 = time.perf_counter()
        raw = self.backend.run({self._input_name: tensor})
        t2 = time.perf_counter()
        outputs = [_dequantize(x, info) for x, info in zip(raw, self.backend.outputs, strict=False)]
        results = []
        for i, tr in enumerate(transforms):
            d = self.decoder.decode(outputs, i, self.thresholds)
            results.append(
                Detections(
                    xyxy=tr.to_frame(d.xyxy),
                    confidence=d.confidence,
                    class_id=d.class_id,
                    names=self.names,
                )
            )
        timings["infer"] += t2 - t1
        timings["postprocess"] += time.perf_counter() - t2
        return results

    def __call__(self, image: np.ndarray) -> Detections:
        """Detect in one image (shortcut for ``detect([image])[0]``)."""
        return self.detect([image])[0]


def _resolve_classes(cfg: ModelConfig, meta: ModelMetadata, where: str) -> _Classes:
    if cfg.labels is not None:
        names, size = load_labels(cfg.labels)
        return _Classes(names, size)
    if meta.names:
        return _Classes(dict(meta.names), max(meta.names) + 1)
    return _Classes({}, None)


def _thresholds(cfg: ModelConfig, names: dict[int, str], size: int, names_known: bool) -> ClassThresholds:
    by_name = {v: k for k, v in names.items()}
    available = ", ".join(names[k] for k in sorted(names)) or "(the model names no classes)"
    for key in list(cfg.class_confidence) + list(cfg.classes or []):
        if key not in by_name:
            raise ModelError(f"class {key!r} is not one of the model's classes: {available}")
    table = np.full((size,), cfg.confidence, dtype=np.float32)
    if names_known:
        # ids the model does not name (e.g. '???' in COCO labels files) are never reported
        unnamed = np.ones((size,), dtype=bool)
        unnamed[[k for k in names if k < size]] = False
        table[unnamed] = np.inf
    for name, c in cfg.class_confidence.items():
        table[by_name[name]] = c
    if cfg.classes is not None:
        keep = np.zeros((size,), dtype=bool)
        keep[[by_name[n] for n in cfg.classes]] = True
        table[~keep] = np.inf
    other = float("inf") if names_known or cfg.classes is not None else float(cfg.confidence)
    return ClassThresholds(table, other)


def _batching(info: TensorInfo, cfg: ModelConfig, backend: InferenceBackend) -> tuple[int, int | None]:
    """(max_batch, static batch size or None) from the input's batch dimension."""
    b = info.shape[0]
    if b is not None:
        return b, b
    if backend.kind == "litert":
        return 1, None  # LiteRT tensors are allocated once, at batch 1
    return cfg.max_batch, None


def load_detector(cfg: ModelConfig) -> ModelDetector:
    """Open ``cfg.path`` and build a detector from what the model file says about itself.

    The backend comes from ``cfg.backend`` or the file suffix (.onnx -> onnxruntime, .xml -> openvino,
    .tflite -> litert); preprocessing from the input tensor (size, layout, dtype, quantization);
    the decoder from the outputs (TFLite SSD post-process, else YOLO v5/v8/11/end-to-end) and the
    Ultralytics metadata (names, imgsz, task). Class names come from ``cfg.labels`` when given.

    Raises:
        ModelError: missing/corrupt file, runtime not installed, a non-detection task, outputs of an
            unknown layout, a labels file that does not fit the model, or a class filter naming a
            class the model does not have.
    """
    path = Path(cfg.path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    backend = open_backend(path, cfg.backend)
    where = str(path)
    meta = parse_metadata(backend.metadata, where)
    if meta.task is not None and meta.task != "detect":
        raise ModelError(
            f"{where}: this is a {meta.task!r} model (Ultralytics task metadata); edgesight runs detection models "
            "(task 'detect')"
        )
    if len(backend.inputs) != 1:
        raise ModelError(
            f"{where}: expected one image input, found {len(backend.inputs)}: "
            + ", ".join(i.describe() for i in backend.inputs)
        )
    info = backend.inputs[0]
    classes = _resolve_classes(cfg, meta, where)
    ssd = find_ssd_outputs(backend.outputs)
    decoder: Decoder
    if ssd is not None:
        spec = InputSpec.from_tensor(info, "stretch", meta.imgsz)
        decoder = SsdDecoder(ssd, (spec.height, spec.width), cfg.max_detections)
        size = classes.size if classes.size is not None else 0
    else:
        # The model's own names tell the class count best; a labels file is only a hint for the layout.
        nc_hint = max(meta.names) + 1 if meta.names else classes.size
        try:
            layout = detect_yolo_layout(backend.outputs, nc_hint, meta.end2end, where)
        except ModelError:
            if cfg.labels is None:
                raise
            layout = detect_yolo_layout(backend.outputs, None, meta.end2end, where)
        if cfg.labels is not None and layout.kind != "end2end" and classes.size != layout.num_classes:
            raise ModelError(
                f"labels file {cfg.labels} has {classes.size} labels but the model {path.name} outputs "
                f"{layout.num_classes} classes"
            )
        spec = InputSpec.from_tensor(info, "letterbox", meta.imgsz)
        decoder = YoloDecoder(
            layout,
            (spec.height, spec.width),
            iou=cfg.iou,
            max_detections=cfg.max_detections,
            normalized=backend.kind == "litert",
            multi_label=cfg.multi_label,
        )
        size = layout.num_classes or (classes.size or 0)
    names_known = bool(classes.names)
    names = classes.names if names_known else {i: str(i) for i in range(size)}
    thresholds = _thresholds(cfg, names, max(size, max(names, default=-1) + 1), names_known)
    max_batch, static = _batching(info, cfg, backend)
    return ModelDetector(backend, decoder, spec, names, thresholds, max_batch, static)

"""Frame -> model input tensor, into pre-allocated buffers, and the exact inverse for boxes.

Everything here is derived from the model's input tensor (shape, layout, dtype, quantization),
never typed by the user. Frames are (H, W, 3) uint8 BGR as OpenCV gives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.errors import ModelError, SourceError
from edgesight.inference.backends.base import TensorInfo

__all__ = ["InputSpec", "LetterboxTransform", "Preprocessor", "letterbox_transform"]

Resize = Literal["letterbox", "stretch"]
Layout = Literal["NCHW", "NHWC"]


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its input.

    Attributes:
        name: input tensor name.
        height, width: model input size in pixels.
        channels: 3 (RGB) or 1 (grey).
        layout: "NCHW" (ONNX/OpenVINO) or "NHWC" (TFLite).
        dtype: tensor element type (float32/float16, or uint8/int8 for quantized models).
        value_range: real values the model expects for pixels 0..255 ((0, 1) for YOLO, (-1, 1) for SSD).
        scale, zero_point: input quantization (q = x / scale + zero_point); scale 0 when not quantized.
        resize: "letterbox" (keep aspect ratio, pad) or "stretch" (plain resize, as SSD was trained).
        pad_value: grey level of the letterbox padding (114, as Ultralytics).
    """

    name: str
    height: int
    width: int
    channels: int = 3
    layout: Layout = "NCHW"
    dtype: np.dtype[Any] = field(default_factory=lambda: np.dtype(np.float32))
    value_range: tuple[float, float] = (0.0, 1.0)
    scale: float = 0.0
    zero_point: int = 0
    resize: Resize = "letterbox"
    pad_value: int = 114

    @classmethod
    def from_tensor(
        cls, info: TensorInfo, resize: Resize = "letterbox", default_size: tuple[int, int] | None = None
    ) -> InputSpec:
        """Derive the spec from a 4-D image input.

        Layout comes from where the 1- or 3-channel axis sits; dynamic height/width take
        ``default_size`` (h, w), e.g. from the model's ``imgsz`` metadata.

        Raises:
            ModelError: the input is not a 4-D image tensor with 1 or 3 channels.
        """
        shape = info.shape
        if len(shape) != 4:
            raise ModelError(f"model input {info.describe()}: expected a 4-D image tensor (NCHW or NHWC)")
        if shape[1] in (1, 3) and shape[3] not in (1, 3):
            layout: Layout = "NCHW"
            c, h, w = shape[1], shape[2], shape[3]
        elif shape[3] in (1, 3):
            layout = "NHWC"
            h, w, c = shape[1], shape[2], shape[3]
        else:
            raise ModelError(
                f"model input {info.describe()}: expected 1 or 3 channels in NCHW or NHWC layout"
            )
        if h is None or w is None:
            if default_size is None:
                raise ModelError(
                    f"model input {info.describe()} has a dynamic size and the model names no imgsz"
                )
            h, w = default_size
        dtype = np.dtype(info.dtype)
        if not (np.issubdtype(dtype, np.floating) or dtype in (np.dtype(np.uint8), np.dtype(np.int8))):
            raise ModelError(f"model input {info.describe()}: expected float, uint8 or int8 pixels")
        value_range = (0.0, 1.0)
        if info.quantized:
            # The quantization tells the real range the model was trained on: [-1, 1] (SSD) or [0, 1] (YOLO).
            qmin = float(np.iinfo(dtype).min)
            lo = (qmin - info.zero_point) * info.scale
            value_range = (-1.0, 1.0) if lo < -0.5 else (0.0, 1.0)
        return cls(
            name=info.name,
            height=int(h),
            width=int(w),
            channels=int(c or 3),
            layout=layout,
            dtype=dtype,
            value_range=value_range,
            scale=info.scale if info.quantized else 0.0,
            zero_point=info.zero_point if info.quantized else 0,
            resize=resize,
        )

    def tensor_shape(self, batch: int) -> tuple[int, int, int, int]:
        if self.layout == "NCHW":
            return (batch, self.channels, self.height, self.width)
        return (batch, self.height, self.width, self.channels)


@dataclass(frozen=True)
class LetterboxTransform:
    """Maps boxes between frame pixels and model-input pixels for one frame.

    ``input = frame * scale + pad`` on each axis; the inverse is exact (no rounding).

    Attributes:
        scale_x, scale_y: model-input pixels per frame pixel.
        pad_x, pad_y: left/top padding in model-input pixels.
        frame_width, frame_height: the original frame size in pixels.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    frame_width: int
    frame_height: int

    def to_frame(self, xyxy: npt.ArrayLike, clip: bool = True) -> npt.NDArray[np.float32]:
        """(N, 4) xyxy in model-input pixels -> new (N, 4) float32 array in frame pixels (clipped to the frame)."""
        b = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
        b[:, [0, 2]] = (b[:, [0, 2]] - self.pad_x) / self.scale_x
        b[:, [1, 3]] = (b[:, [1, 3]] - self.pad_y) / self.scale_y
        if clip:
            b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, self.frame_width)
            b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, self.frame_height)
        return b

    def to_input(self, xyxy: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(N, 4) xyxy in frame pixels -> new (N, 4) float32 array in model-input pixels."""
        b = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
        b[:, [0, 2]] = b[:, [0, 2]] * self.scale_x + self.pad_x
        b[:, [1, 3]] = b[:, [1, 3]] * self.scale_y + self.pad_y
        return b


def letterbox_transform(
    frame_hw: tuple[int, int], input_hw: tuple[int, int], resize: Resize = "letterbox"
) -> tuple[LetterboxTransform, tuple[int, int, int, int]]:
    """Geometry of one resize: the transform and the (left, top, new_width, new_height) paste rectangle.

    Letterbox padding is split as Ultralytics does (``round(d / 2 - 0.1)`` on the left/top), so the
    tensors match Ultralytics' own preprocessing.
    """
    fh, fw = frame_hw
    ih, iw = input_hw
    if resize == "stretch":
        return LetterboxTransform(iw / fw, ih / fh, 0.0, 0.0, fw, fh), (0, 0, iw, ih)
    r = min(ih / fh, iw / fw)
    nw, nh = round(fw * r), round(fh * r)
    nw, nh = max(1, min(iw, nw)), max(1, min(ih, nh))
    left = round((iw - nw) / 2 - 0.1)
    top = round((ih - nh) / 2 - 0.1)
    # Scales from the integer pasted size: that is the mapping cv2.resize actually applies.
    return LetterboxTransform(nw / fw, nh / fh, float(left), float(top), fw, fh), (left, top, nw, nh)


class Preprocessor:
    """Turns BGR frames into one batched input tensor, reusing its buffers between calls.

    Not thread-safe: the returned tensor is a view of an internal buffer, overwritten by the
    next call (backends copy it in ``run``). The caller's frames are never modified.
    """

    def __init__(self, spec: InputSpec, max_batch: int = 1) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.spec = spec
        self.max_batch = max_batch
        self._buffer = np.zeros(spec.tensor_shape(max_batch), dtype=spec.dtype)
        self._canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
        self._canvas_rect: tuple[int, int, int, int] | None = None
        lo, hi = spec.value_range
        # real value = pixel * a + b
        self._a = (hi - lo) / 255.0
        self._b = lo
        self._lut: npt.NDArray[np.uint8] | None = None
        if np.issubdtype(spec.dtype, np.integer):
            real = np.arange(256, dtype=np.float64) * self._a + self._b
            if spec.scale > 0:
                q = np.round(real / spec.scale + spec.zero_point)
            else:  # integer input without quantization parameters: raw pixels
                q = np.arange(256, dtype=np.float64)
            info = np.iinfo(spec.dtype)
            q = np.clip(q, info.min, info.max).astype(spec.dtype)
            self._lut = q.view(np.uint8) if q.dtype == np.int8 else q.astype(np.uint8)

    def __call__(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[LetterboxTransform]]:
        """Preprocess ``images`` ((H, W, 3) uint8 BGR each, at most ``max_batch``).

        Raises:
            SourceError: an image is not a non-empty (H, W, 3) uint8 array (grey and BGRA are converted).

        Returns:
            tensor: (n, ...) view of the internal buffer in the model's layout and dtype.
            transforms: one LetterboxTransform per image, to map boxes back to frame pixels.
        """
        n = len(images)
        if n == 0 or n > self.max_batch:
            raise ValueError(f"expected 1..{self.max_batch} images, got {n}")
        transforms = [self._one(i, img) for i, img in enumerate(images)]
        return self._buffer[:n], transforms

    def full_batch(self, n: int) -> np.ndarray:
        """The whole buffer (for static-batch models run with fewer than ``max_batch`` images)."""
        self._buffer[n:] = 0
        return self._buffer

    def _one(self, i: int, image: np.ndarray) -> LetterboxTransform:
        spec = self.spec
        img = np.asarray(image)
        if (
            img.dtype != np.uint8
            or img.ndim not in (2, 3)
            or (img.ndim == 3 and img.shape[2] not in (1, 3, 4))
            or min(img.shape[:2]) == 0
        ):
            raise SourceError(
                f"image {i}: expected an (H, W, 3) uint8 BGR image, got shape {img.shape} dtype {img.dtype}"
            )
        if img.ndim == 2 or img.shape[2] == 1:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        t, rect = letterbox_transform(img.shape[:2], (spec.height, spec.width), spec.resize)
        left, top, nw, nh = rect
        if rect != self._canvas_rect:
            self._canvas[:] = spec.pad_value
            self._canvas_rect = rect
        if (nw, nh) == (img.shape[1], img.shape[0]):
            self._canvas[top : top + nh, left : left + nw] = img
        else:
            self._canvas[top : top + nh, left : left + nw] = cv2.resize(
                img, (nw, nh), interpolation=cv2.INTER_LINEAR
            )

        if spec.channels == 1:
            pix = cv2.cvtColor(self._canvas, cv2.COLOR_BGR2GRAY)[:, :, None]
        else:
            pix = cv2.cvtColor(self._canvas, cv2.COLOR_BGR2RGB)
        dst = self._buffer[i]
        src = pix.transpose(2, 0, 1) if spec.layout == "NCHW" else pix
        if self._lut is None:
            np.multiply(src, np.float32(self._a), out=dst, casting="unsafe")
            if self._b:
                dst += np.asarray(self._b, dtype=dst.dtype)
        else:
            q = cv2.LUT(np.ascontiguousarray(pix), self._lut)
            q = q.reshape(pix.shape)
            qq = q.transpose(2, 0, 1) if spec.layout == "NCHW" else q
            dst[...] = qq.view(spec.dtype)
        return t

"""Letterbox/stretch preprocessing into reused buffers, and the exact inverse mapping of boxes."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.errors import ModelError, SourceError
from edgesight.inference.backends.base import TensorInfo
from edgesight.inference.preprocess import InputSpec, Preprocessor, letterbox_transform

FRAME_SIZES = [(1080, 810), (720, 1280), (300, 300), (17, 999), (640, 640), (481, 333)]
INPUTS = [
    ((640, 640), "letterbox"),
    ((256, 320), "letterbox"),
    ((300, 300), "stretch"),
    ((96, 160), "stretch"),
]


@pytest.mark.parametrize("frame_hw", FRAME_SIZES)
@pytest.mark.parametrize(("input_hw", "resize"), INPUTS)
def test_box_round_trip(frame_hw, input_hw, resize) -> None:
    t, (left, top, nw, nh) = letterbox_transform(frame_hw, input_hw, resize)
    h, w = frame_hw
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, size=(50, 2, 2)) * np.array([w, h])
    boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1).astype(np.float32)
    back = t.to_frame(t.to_input(boxes))
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-3)
    # the frame's corners land on the pasted rectangle's corners
    corners = t.to_input([[0, 0, w, h]])[0]
    np.testing.assert_allclose(corners, [left, top, left + nw, top + nh], atol=1e-3)
    assert left >= 0 and left + nw <= input_hw[1] and top >= 0 and top + nh <= input_hw[0]
    if resize == "letterbox":  # aspect ratio kept (up to rounding to whole pixels)
        assert abs(t.scale_x - t.scale_y) <= 1.0 / min(h, w) + 1e-6


def test_to_frame_clips_to_frame_and_does_not_mutate() -> None:
    t, _ = letterbox_transform((720, 1280), (640, 640))
    boxes = np.array([[-50, 0, 700, 700]], np.float32)
    before = boxes.copy()
    out = t.to_frame(boxes)
    np.testing.assert_array_equal(boxes, before)
    assert out[0, 0] == 0 and out[0, 2] == 1280 and out[0, 1] == 0 and out[0, 3] == 720


def _info(shape, dtype=np.float32, scale=0.0, zp=0):
    return TensorInfo("images", shape, np.dtype(dtype), scale, zp)


@pytest.mark.parametrize(
    ("frame_hw", "rect"),
    [
        ((720, 1280), (300, 200, 700, 500)),
        ((1080, 810), (100, 600, 400, 1000)),
        ((400, 400), (10, 10, 390, 200)),
    ],
)
@pytest.mark.parametrize(
    "info",
    [_info((1, 3, 640, 640)), _info((1, 320, 320, 3)), _info((1, 300, 300, 3), np.uint8, 1 / 128, 128)],
    ids=["nchw-f32", "nhwc-f32", "nhwc-u8q"],
)
def test_rectangle_found_where_it_was_drawn(frame_hw, rect, info) -> None:
    """Draw a white box in a black frame, find it in the tensor, map it back: within a pixel or two."""
    h, w = frame_hw
    frame = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = rect
    frame[y1:y2, x1:x2] = 255
    spec = InputSpec.from_tensor(info, "stretch" if info.dtype == np.uint8 else "letterbox")
    pre = Preprocessor(spec)
    tensor, [t] = pre([frame])
    img = tensor[0].transpose(1, 2, 0) if spec.layout == "NCHW" else tensor[0]
    bright = img[..., 0].astype(np.float32)
    level = 0.75 if spec.dtype == np.float32 else 200
    ys, xs = np.nonzero(bright > level)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = t.to_frame(found)[0]
    tol = 1.5 / min(t.scale_x, t.scale_y) + 1
    np.testing.assert_allclose(back, rect, atol=tol)


def test_nchw_float_values_colour_order_and_padding() -> None:
    spec = InputSpec.from_tensor(_info((1, 3, 64, 64)))
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:] = (255, 0, 10)  # BGR: blue with a bit of red
    tensor, [t] = Preprocessor(spec)([frame])
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert (t.pad_x, t.pad_y) == (0, 16)
    inside = tensor[0, :, 16:48, :]
    np.testing.assert_allclose(inside[0], 10 / 255, atol=1e-6)  # R
    np.testing.assert_allclose(inside[1], 0.0, atol=1e-6)  # G
    np.testing.assert_allclose(inside[2], 1.0, atol=1e-6)  # B
    np.testing.assert_allclose(tensor[0, :, :16, :], 114 / 255, atol=1e-6)
    np.testing.assert_allclose(tensor[0, :, 48:, :], 114 / 255, atol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "scale", "zp", "expected_range", "pixel_to_q"),
    [
        (np.uint8, 1 / 128, 128, (-1.0, 1.0), {0: 0, 255: 255, 64: 64}),  # TF SSD: q == pixel
        (np.int8, 1 / 255, -128, (0.0, 1.0), {0: -128, 255: 127, 100: -28}),  # Ultralytics int8 tflite
        (np.uint8, 1 / 255, 0, (0.0, 1.0), {0: 0, 255: 255, 77: 77}),
    ],
)
def test_quantized_inputs(dtype, scale, zp, expected_range, pixel_to_q) -> None:
    spec = InputSpec.from_tensor(_info((1, 8, 8, 3), dtype, scale, zp), "stretch")
    assert spec.value_range == expected_range and spec.layout == "NHWC"
    pre = Preprocessor(spec)
    for pixel, q in pixel_to_q.items():
        frame = np.full((8, 8, 3), pixel, np.uint8)
        tensor, _ = pre([frame])
        assert tensor.dtype == np.dtype(dtype)
        assert abs(int(tensor[0, 3, 3, 0]) - q) <= 1, (pixel, int(tensor[0, 3, 3, 0]), q)


def test_buffers_are_reused_and_frames_untouched() -> None:
    spec = InputSpec.from_tensor(_info((None, 3, 64, 64)), default_size=None)
    pre = Preprocessor(spec, max_batch=3)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, size=s, dtype=np.uint8) for s in [(50, 100, 3), (100, 50, 3), (64, 64, 3)]]
    copies = [f.copy() for f in frames]
    a, ts = pre(frames)
    assert a.shape == (3, 3, 64, 64) and len(ts) == 3
    first = a.copy()
    b, _ = pre(frames[:2])
    assert np.shares_memory(a, b)  # one buffer, pre-allocated
    np.testing.assert_array_equal(b, first[:2])  # padding reset when the geometry changes between images
    for f, c in zip(frames, copies, strict=True):
        np.testing.assert_array_equal(f, c)
    with pytest.raises(ValueError):
        pre(frames * 2)


def test_portrait_then_landscape_resets_padding() -> None:
    spec = InputSpec.from_tensor(_info((1, 3, 32, 32)))
    pre = Preprocessor(spec)
    white = np.full((32, 16, 3), 255, np.uint8)
    pre([white])
    tensor, [t] = pre([np.full((16, 32, 3), 255, np.uint8)])
    assert t.pad_y == 8 and t.pad_x == 0
    np.testing.assert_allclose(tensor[0, :, :8, :], 114 / 255, atol=1e-6)


@pytest.mark.parametrize(
    "shape", [(1, 1000), (1, 3, 4, 4, 4), (1, 5, 64, 64)], ids=["classifier-2d", "5d", "5-channels"]
)
def test_non_image_inputs_refused(shape) -> None:
    with pytest.raises(ModelError, match="expected"):
        InputSpec.from_tensor(_info(shape))


def test_dynamic_size_needs_imgsz() -> None:
    with pytest.raises(ModelError, match="imgsz"):
        InputSpec.from_tensor(_info((1, 3, None, None)))
    spec = InputSpec.from_tensor(_info((1, 3, None, None)), default_size=(480, 640))
    assert (spec.height, spec.width) == (480, 640)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10, 5), np.uint8)],
    ids=["float", "empty", "5-channels"],
)
def test_bad_frames_are_source_errors(bad) -> None:
    pre = Preprocessor(InputSpec.from_tensor(_info((1, 3, 32, 32))))
    with pytest.raises(SourceError, match=r"image 0: expected an \(H, W, 3\) uint8 BGR image"):
        pre([bad])


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 1), (20, 30, 4)], ids=["grey-2d", "grey-3d", "bgra"])
def test_grey_and_bgra_frames_are_converted(shape) -> None:
    pre = Preprocessor(InputSpec.from_tensor(_info((1, 3, 32, 32))))
    tensor, _ = pre([np.full(shape, 200, np.uint8)])
    np.testing.assert_allclose(tensor[0, :, 16, 16], 200 / 255, atol=1e-6)

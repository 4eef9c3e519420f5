"""YOLO (v8/11, v5, end-to-end) and SSD decoding, metadata, class options, model errors, backends.

The YOLO cases run real ONNX Runtime and OpenVINO on tiny ONNX models built here with
onnx.helper: each emits a known prediction tensor (broadcast over the batch), so the expected
detections can be computed by hand.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgesight.inference as inference
from edgesight.config import ModelConfig, OnnxRuntimeBackendConfig
from edgesight.errors import ModelError
from edgesight.inference import BACKENDS, load_detector, open_backend
from edgesight.inference.backends.base import TensorInfo
from edgesight.inference.decoders import ClassThresholds
from edgesight.inference.decoders.ssd import SsdDecoder, find_ssd_outputs
from edgesight.inference.decoders.yolo import detect_yolo_layout
from edgesight.inference.metadata import load_labels, parse_metadata
from edgesight.protocols import Detector

NAMES = {0: "person", 1: "car", 2: "dog"}
META = {"names": repr(NAMES), "imgsz": "[320, 320]", "task": "detect", "stride": "32"}
SIZE = 320
N_ANCHORS = 64

# (cx, cy, w, h) in input pixels, objectness (v5 only), class scores
ANCHORS = [
    ((100, 100, 40, 80), 1.0, (0.90, 0.10, 0.00)),  # person 0.90
    ((102, 101, 40, 80), 1.0, (0.80, 0.00, 0.00)),  # same person, lower: suppressed by NMS
    ((100, 100, 40, 80), 1.0, (0.00, 0.70, 0.00)),  # car on the same box: kept (class-aware NMS)
    ((200, 200, 50, 50), 1.0, (0.00, 0.00, 0.30)),  # dog 0.30
    ((250, 60, 20, 20), 1.0, (0.10, 0.00, 0.00)),  # below 0.25: dropped
    ((150, 250, 60, 40), 0.5, (0.95, 0.00, 0.00)),  # v8: person 0.95; v5: 0.5 x 0.95 = 0.475
]


def _v8(channels_first: bool = True) -> np.ndarray:
    rows = np.zeros((N_ANCHORS, 4 + 3), np.float32)
    for i, (box, _obj, cls) in enumerate(ANCHORS):  # v8 has no objectness
        rows[i, :4] = box
        rows[i, 4:] = cls
    return rows.T[None] if channels_first else rows[None]


def _v5() -> np.ndarray:
    rows = np.zeros((N_ANCHORS, 5 + 3), np.float32)
    for i, (box, obj, cls) in enumerate(ANCHORS):
        rows[i, :4] = box
        rows[i, 4] = obj
        rows[i, 5:] = cls
    return rows[None]


def _end2end() -> np.ndarray:
    out = np.zeros((1, 10, 6), np.float32)
    out[0, 0] = (80, 60, 120, 140, 0.9, 0)
    out[0, 1] = (175, 175, 225, 225, 0.3, 2)
    out[0, 2] = (10, 10, 20, 20, 0.1, 1)
    return out


def make_onnx(
    path: Path,
    outputs: list[np.ndarray],
    metadata: dict[str, str] | None = None,
    batch: int | str = "batch",
    input_shape: tuple[int, ...] | None = None,
) -> Path:
    """A model whose outputs are the given tensors (batch dim broadcast) and that reads its input."""
    in_shape = input_shape or (batch, 3, SIZE, SIZE)
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, list(in_shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=list(range(1, len(in_shape))), keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for k, arr in enumerate(outputs):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), f"pred{k}"))
        inits.append(numpy_helper.from_array(np.array([-1] + [1] * (arr.ndim - 1), np.int64), f"shape{k}"))
        nodes.append(helper.make_node("Reshape", ["z", f"shape{k}"], [f"z{k}"]))
        nodes.append(helper.make_node("Add", [f"z{k}", f"pred{k}"], [f"output{k}"]))
        outs.append(
            helper.make_tensor_value_info(f"output{k}", TensorProto.FLOAT, [in_shape[0], *arr.shape[1:]])
        )
    graph = helper.make_graph(nodes, "tiny", [inp], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _frame(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 90, np.uint8)


def _expected_frame_boxes(boxes_xywh, frame_hw):
    """Independent letterbox inverse for the test: SIZE x SIZE input, frame (h, w)."""
    h, w = frame_hw
    r = min(SIZE / h, SIZE / w)
    nw, nh = round(w * r), round(h * r)
    left, top = round((SIZE - nw) / 2 - 0.1), round((SIZE - nh) / 2 - 0.1)
    out = []
    for cx, cy, bw, bh in boxes_xywh:
        x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        out.append(
            [
                min(max((x1 - left) * w / nw, 0), w),
                min(max((y1 - top) * h / nh, 0), h),
                min(max((x2 - left) * w / nw, 0), w),
                min(max((y2 - top) * h / nh, 0), h),
            ]
        )
    return np.array(out, np.float32)


RUNTIMES = [None, {"type": "openvino"}]
BACKEND_IDS = ["onnxruntime", "openvino"]


@pytest.mark.parametrize("backend", RUNTIMES, ids=BACKEND_IDS)
@pytest.mark.parametrize(
    ("layout", "with_meta"),
    [("v8", True), ("v8", False), ("v8-rows", True), ("v5", True), ("v5", False)],
)
@pytest.mark.parametrize("frame_hw", [(640, 480), (360, 640)])
def test_yolo_layouts_decode_known_tensor(tmp_path, backend, layout, with_meta, frame_hw) -> None:
    arr = {"v8": _v8(True), "v8-rows": _v8(False), "v5": _v5()}[layout]
    path = make_onnx(tmp_path / "m.onnx", [arr], META if with_meta else None)
    det = load_detector(ModelConfig.model_validate({"path": path, "backend": backend}))
    assert det.backend.kind == (backend or {"type": "onnxruntime"})["type"]
    assert det.decoder.layout.kind == layout.split("-")[0]  # type: ignore[attr-defined]
    assert det.decoder.layout.num_classes == 3  # type: ignore[attr-defined]
    assert det.names == (NAMES if with_meta else {0: "0", 1: "1", 2: "2"})
    [d] = det.detect([_frame(*frame_hw)])
    idx = [5, 0, 2, 3]  # expected anchors, by confidence
    conf = [0.475 if layout == "v5" else 0.95, 0.90, 0.70, 0.30]
    order = np.argsort(-np.array(conf), kind="stable")
    idx = [idx[i] for i in order]
    np.testing.assert_allclose(d.confidence, sorted(conf, reverse=True), atol=1e-5)
    assert d.class_id.tolist() == [[0, 0, 1, 2][i] for i in order]
    expected = _expected_frame_boxes([ANCHORS[i][0] for i in idx], frame_hw)
    np.testing.assert_allclose(d.xyxy, expected, atol=0.05)


@pytest.mark.parametrize("backend", RUNTIMES, ids=BACKEND_IDS)
def test_end2end_layout(tmp_path, backend) -> None:
    meta = {**META, "end2end": "True"}
    path = make_onnx(tmp_path / "e2e.onnx", [_end2end()], meta)
    det = load_detector(ModelConfig.model_validate({"path": path, "backend": backend}))
    assert det.decoder.layout.kind == "end2end"  # type: ignore[attr-defined]
    [d] = det.detect([_frame(SIZE, SIZE)])
    assert d.class_names == ["person", "dog"]
    np.testing.assert_allclose(d.xyxy, [[80, 60, 120, 140], [175, 175, 225, 225]], atol=1e-4)


def test_thresholds_class_filter_and_max_detections(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META)

    def run(**kw) -> list[str]:
        det = load_detector(ModelConfig.model_validate({"path": path, **kw}))
        return det.detect([_frame(SIZE, SIZE)])[0].class_names

    assert run() == ["person", "person", "car", "dog"]
    assert run(confidence=0.5) == ["person", "person", "car"]
    assert run(class_confidence={"dog": 0.2, "person": 0.92}) == ["person", "car", "dog"]
    assert run(classes=["dog", "car"]) == ["car", "dog"]
    assert run(classes=["car"], class_confidence={"car": 0.75}) == []
    assert run(max_detections=2) == ["person", "person"]
    assert run(iou=0.99) == ["person", "person", "person", "car", "dog"]  # near-duplicate survives
    assert run(confidence=1.0) == []
    with pytest.raises(ModelError, match=r"'cat' is not one of the model's classes: person, car, dog"):
        run(classes=["cat"])
    with pytest.raises(ModelError, match="not one of the model's classes"):
        run(class_confidence={"truck": 0.5})


@pytest.mark.parametrize("layout", ["v8", "v8-rows", "v5"])
def test_multi_label_keeps_every_class_of_a_shared_box(tmp_path, layout) -> None:
    """One box scoring person 0.9 / car 0.6 / dog 0.2 (a part that is also a defect, in the demo)."""
    shared = ((160, 160, 60, 60), 1.0, (0.90, 0.60, 0.20))
    lone = ((60, 60, 20, 20), 0.5, (0.00, 0.00, 0.80))  # v5: dog 0.5 x 0.8 = 0.4
    n, nc = 8, 3
    if layout == "v5":
        arr = np.zeros((1, n, 5 + nc), np.float32)
        for i, (box, obj, cls) in enumerate([shared, lone]):
            arr[0, i] = (*box, obj, *cls)
    else:
        rows = np.zeros((n, 4 + nc), np.float32)
        for i, (box, _obj, cls) in enumerate([shared, lone]):
            rows[i] = (*box, *cls)
        arr = rows.T[None] if layout == "v8" else rows[None]
    path = make_onnx(tmp_path / "m.onnx", [arr], META)
    lone_conf = 0.4 if layout == "v5" else 0.8

    def run(**kw):
        det = load_detector(ModelConfig.model_validate({"path": path, **kw}))
        [d] = det.detect([_frame(SIZE, SIZE)])
        return d.class_names, d.confidence.round(4).tolist(), d.xyxy

    names, conf, _ = run()  # best class per box only: the car is lost under the person
    assert names == ["person", "dog"] and conf == pytest.approx([0.9, lone_conf])
    names, conf, xyxy = run(multi_label=True)
    got = {n: c for c, n in zip(conf, names, strict=True)}
    assert got == pytest.approx({"person": 0.9, "dog": lone_conf, "car": 0.6}) and len(names) == 3
    assert conf == sorted(conf, reverse=True)
    car = names.index("car")
    np.testing.assert_allclose(xyxy[car], xyxy[names.index("person")])  # same box, both kept
    names, _, _ = run(multi_label=True, class_confidence={"dog": 0.15})  # per-class thresholds apply
    assert sorted(names) == ["car", "dog", "dog", "person"]
    assert run(multi_label=True, classes=["car"])[0] == ["car"]
    assert run(classes=["car"])[0] == []  # without it the box's best class (person) is filtered out
    assert run(multi_label=True, confidence=0.95)[0] == []


@pytest.mark.parametrize("backend", RUNTIMES, ids=BACKEND_IDS)
def test_dynamic_batch_matches_single_images(tmp_path, backend) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META, batch="batch")
    det = load_detector(ModelConfig.model_validate({"path": path, "max_batch": 2, "backend": backend}))
    assert det.max_batch == 2
    frames = [_frame(480, 640), _frame(640, 480), _frame(320, 320)]
    shapes: list[tuple[int, ...]] = []
    run = det.backend.run

    def recording_run(inputs):
        shapes.append(inputs["images"].shape)
        return run(inputs)

    det.backend.run = recording_run  # type: ignore[method-assign]
    batched = det.detect(frames)
    assert shapes == [(2, 3, SIZE, SIZE), (1, 3, SIZE, SIZE)]  # one call per batch of max_batch frames
    assert set(det.last_timings) == {"preprocess", "infer", "postprocess"}
    assert all(v >= 0 for v in det.last_timings.values())
    single = [det.detect([f])[0] for f in frames]
    assert len(batched) == 3
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_allclose(b.xyxy, s.xyxy, atol=1e-4)
        np.testing.assert_array_equal(b.class_id, s.class_id)
    assert det.detect([]) == []


def test_static_batch_of_two_runs_three_frames(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META, batch=2)
    det = load_detector(ModelConfig.model_validate({"path": path}))
    assert det.max_batch == 2
    out = det.detect([_frame(320, 320)] * 3)
    assert [len(d) for d in out] == [4, 4, 4]


def test_static_batch_one_loops(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META, batch=1)
    det = load_detector(ModelConfig.model_validate({"path": path, "max_batch": 8}))
    assert det.max_batch == 1
    assert [len(d) for d in det.detect([_frame(320, 320)] * 2)] == [4, 4]


def test_labels_file_names_and_mismatch(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], None)
    good = tmp_path / "labels.txt"
    good.write_text("helmet\nvest\nhead\n")
    det = load_detector(ModelConfig.model_validate({"path": path, "labels": good}))
    assert det.names == {0: "helmet", 1: "vest", 2: "head"}
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nb\nc\nd\ne\n")
    with pytest.raises(
        ModelError, match=r"labels file .*bad.txt has 5 labels but the model m.onnx outputs 3 classes"
    ):
        load_detector(ModelConfig.model_validate({"path": path, "labels": bad}))
    with_meta = make_onnx(
        tmp_path / "meta.onnx", [_v8()], META
    )  # metadata names + wrong labels: same refusal
    with pytest.raises(ModelError, match=r"has 5 labels but the model meta.onnx outputs 3 classes"):
        load_detector(ModelConfig.model_validate({"path": with_meta, "labels": bad}))


@pytest.mark.parametrize("task", ["segment", "pose", "classify", "obb"])
def test_non_detect_task_refused(tmp_path, task) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], {**META, "task": task})
    with pytest.raises(ModelError, match=f"'{task}' model"):
        load_detector(ModelConfig.model_validate({"path": path}))


@pytest.mark.parametrize("backend", RUNTIMES, ids=BACKEND_IDS)
def test_classifier_refused(tmp_path, backend) -> None:
    path = make_onnx(tmp_path / "cls.onnx", [np.zeros((1, 1000), np.float32)])
    with pytest.raises(ModelError, match=r"outputs \[\?, 1000\] match no detection layout"):
        load_detector(ModelConfig.model_validate({"path": path, "backend": backend}))


def test_names_do_not_fit_output(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], {**META, "names": repr({i: f"c{i}" for i in range(80)})})
    with pytest.raises(ModelError, match=r"does not fit 80 classes: expected \[1, 84, N\]"):
        load_detector(ModelConfig.model_validate({"path": path}))


@pytest.mark.parametrize(
    "backend", [None, {"type": "openvino"}, {"type": "litert"}], ids=[*BACKEND_IDS, "litert"]
)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_model_files(tmp_path, backend, damage) -> None:
    good = make_onnx(tmp_path / "good.onnx", [_v8()], META).read_bytes()
    suffix = ".tflite" if backend == {"type": "litert"} else ".onnx"
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(
        {"truncated": good[: len(good) // 2], "garbage": b"\x08\x07not a model" * 50, "empty": b""}[damage]
    )
    with pytest.raises(ModelError) as info:
        load_detector(ModelConfig.model_validate({"path": path, "backend": backend}))
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_file_and_unknown_suffix(tmp_path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        load_detector(ModelConfig.model_validate({"path": tmp_path / "nope.onnx"}))
    weights = tmp_path / "yolov8n.pt"
    weights.write_bytes(b"x" * 10)
    with pytest.raises(ModelError, match=r"expected \.onnx, \.tflite or OpenVINO \.xml"):
        load_detector(ModelConfig.model_validate({"path": weights}))
    with pytest.raises(ModelError, match=r"ending in \.onnx"):
        load_detector(ModelConfig.model_validate({"path": weights, "backend": {"type": "onnxruntime"}}))


# ----------------------------------------------------------------------------- layout detection on shapes
def _out(*shape):
    return [TensorInfo("output0", tuple(shape), np.dtype(np.float32))]


@pytest.mark.parametrize(
    ("shape", "nc", "end2end", "expected"),
    [
        ((1, 84, 8400), 80, False, ("v8", 80, True)),
        ((1, 84, 8400), None, False, ("v8", 80, True)),
        ((None, 84, None), None, False, ("v8", 80, True)),
        ((1, 8400, 84), 80, False, ("v8", 80, False)),
        ((1, 25200, 85), 80, False, ("v5", 80, False)),
        ((1, 25200, 85), None, False, ("v5", 80, False)),
        ((1, 6, 2100), 2, False, ("v8", 2, True)),
        ((1, 300, 6), 80, True, ("end2end", 80, False)),
    ],
)
def test_detect_yolo_layout(shape, nc, end2end, expected) -> None:
    layout = detect_yolo_layout(_out(*shape), nc, end2end)
    assert (layout.kind, layout.num_classes, layout.channels_first) == expected


def test_metadata_parsing() -> None:
    meta = parse_metadata(
        {
            "names": "{0: 'person', 1: 'bicycle'}",
            "imgsz": "[480, 640]",
            "stride": "32",
            "task": "detect",
            "args": "{'nms': True}",
        }
    )
    assert meta.names == {0: "person", 1: "bicycle"} and meta.imgsz == (480, 640) and meta.stride == 32
    assert meta.end2end and meta.task == "detect"
    assert parse_metadata({"names": "['a', 'b']", "imgsz": "320"}).names == {0: "a", 1: "b"}
    assert parse_metadata({"imgsz": "320"}).imgsz == (320, 320)
    assert parse_metadata({}).names == {}
    with pytest.raises(ModelError, match="metadata 'names'"):
        parse_metadata({"names": "__import__('os')"})


# ----------------------------------------------------------------------------- SSD
def _ssd_infos(order: str) -> list[TensorInfo]:
    f = np.dtype(np.float32)
    if order == "tf1":
        return [
            TensorInfo("TFLite_Detection_PostProcess", (1, 10, 4), f),
            TensorInfo("TFLite_Detection_PostProcess:1", (1, 10), f),
            TensorInfo("TFLite_Detection_PostProcess:2", (1, 10), f),
            TensorInfo("TFLite_Detection_PostProcess:3", (1,), f),
        ]
    # TF2 exports: scores, boxes, count, classes with names that do not tell
    return [
        TensorInfo("StatefulPartitionedCall:1", (1, 10), f),
        TensorInfo("StatefulPartitionedCall:3", (1, 10, 4), f),
        TensorInfo("StatefulPartitionedCall:0", (1,), f),
        TensorInfo("StatefulPartitionedCall:2", (1, 10), f),
    ]


def _ssd_arrays(order: str) -> list[np.ndarray]:
    boxes = np.zeros((1, 10, 4), np.float32)
    boxes[0, 0] = (0.1, 0.2, 0.5, 0.4)  # ymin, xmin, ymax, xmax
    boxes[0, 1] = (0.5, 0.5, 1.2, 0.9)  # clipped to 1.0
    boxes[0, 2] = (0.0, 0.0, 0.1, 0.1)
    boxes[0, 3] = (0.3, 0.3, 0.6, 0.6)  # beyond count: must be ignored
    classes = np.array([[0, 2, 11, 0, 0, 0, 0, 0, 0, 0]], np.float32)
    scores = np.array([[0.85, 0.6, 0.55, 0.99, 0, 0, 0, 0, 0, 0]], np.float32)
    count = np.array([3], np.float32)
    if order == "tf1":
        return [boxes, classes, scores, count]
    return [scores, boxes, count, classes]


@pytest.mark.parametrize("order", ["tf1", "tf2"])
def test_ssd_decoding(order) -> None:
    roles = find_ssd_outputs(_ssd_infos(order))
    assert roles is not None
    dec = SsdDecoder(roles, (300, 300))
    thresholds = ClassThresholds(
        np.array([0.5, 0.5, 0.5], np.float32), float("inf")
    )  # id 11 unknown: dropped
    d = dec.decode(_ssd_arrays(order), 0, thresholds)
    assert d.class_id.tolist() == [0, 2]
    np.testing.assert_allclose(d.confidence, [0.85, 0.6])
    np.testing.assert_allclose(d.xyxy, [[60, 30, 120, 150], [150, 150, 270, 300]], atol=1e-4)
    open_all = ClassThresholds(np.zeros((0,), np.float32), 0.5)
    assert dec.decode(_ssd_arrays(order), 0, open_all).class_id.tolist() == [0, 2, 11]


def test_ssd_not_recognised_for_yolo_shapes() -> None:
    assert find_ssd_outputs(_out(1, 84, 8400)) is None


def test_labels_with_background_line(tmp_path) -> None:
    p = tmp_path / "coco_labels.txt"
    p.write_text("???\nperson\nbicycle\n???\nmotorcycle\n\n")
    names, size = load_labels(p)
    assert names == {0: "person", 1: "bicycle", 3: "motorcycle"} and size == 4
    plain = tmp_path / "plain.txt"
    plain.write_text("helmet\nvest\n")
    assert load_labels(plain) == ({0: "helmet", 1: "vest"}, 2)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ModelError, match="empty"):
        load_labels(empty)
    with pytest.raises(ModelError, match="not found"):
        load_labels(tmp_path / "missing.txt")


# ----------------------------------------------------------------------------- backends
def test_registry_is_explicit() -> None:
    assert set(BACKENDS) == {"onnxruntime", "openvino", "litert"}
    for kind, (opener, config_cls) in BACKENDS.items():
        assert callable(opener)
        assert config_cls.model_validate({}).type == kind


def test_public_api() -> None:
    assert sorted(inference.__all__) == sorted(
        [
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
    )
    for name in inference.__all__:
        assert getattr(inference, name) is not None


def test_detector_satisfies_protocol(tmp_path) -> None:
    det = load_detector(ModelConfig.model_validate({"path": make_onnx(tmp_path / "m.onnx", [_v8()], META)}))
    assert isinstance(det, Detector)
    assert det(_frame(SIZE, SIZE)).class_names == ["person", "person", "car", "dog"]


def test_backend_exposes_tensors_and_metadata(tmp_path) -> None:
    backend = open_backend(make_onnx(tmp_path / "m.onnx", [_v8()], META))
    assert backend.kind == "onnxruntime"
    [inp] = backend.inputs
    assert inp.name == "images" and inp.shape == (None, 3, SIZE, SIZE) and inp.dtype == np.float32
    assert not inp.quantized
    assert backend.outputs[0].shape == (None, 7, 64)
    assert backend.metadata["task"] == "detect"
    [out] = backend.run({"images": np.zeros((2, 3, SIZE, SIZE), np.float32)})
    assert out.shape == (2, 7, 64)


def test_missing_provider_falls_back_with_a_warning(tmp_path, caplog) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META)
    cfg = OnnxRuntimeBackendConfig(providers=["NoSuchExecutionProvider", "CPUExecutionProvider"], threads=1)
    with caplog.at_level(logging.WARNING, logger="edgesight.inference.backends.onnxruntime"):
        backend = open_backend(path, cfg)
    assert backend.providers == ["CPUExecutionProvider"]  # type: ignore[attr-defined]
    assert "NoSuchExecutionProvider not available" in caplog.text


def _save_ir(onnx_path: Path, xml: Path, model_info: dict[str, object] | None = None) -> Path:
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    for key, value in (model_info or {}).items():
        model.set_rt_info(value, ["model_info", key])
    ov.save_model(model, str(xml))
    return xml


@pytest.mark.parametrize("source", ["onnx-metadata", "metadata.yaml", "model_info-labels"])
def test_openvino_ir_reads_names(tmp_path, source) -> None:
    onnx_path = make_onnx(tmp_path / "m.onnx", [_v8()], META if source == "onnx-metadata" else None)
    xml = tmp_path / "ir" / "m.xml"
    xml.parent.mkdir()
    info = (
        {"labels": ["person", "car", "hot_dog"], "model_type": "YOLO"}
        if source == "model_info-labels"
        else None
    )
    _save_ir(onnx_path, xml, info)
    if source == "metadata.yaml":
        (xml.parent / "metadata.yaml").write_text(
            "task: detect\nimgsz: [320, 320]\nnames:\n  0: person\n  1: car\n  2: dog\n"
        )
    det = load_detector(ModelConfig.model_validate({"path": xml}))  # .xml -> openvino by default
    assert det.backend.kind == "openvino"
    expected = {0: "person", 1: "car", 2: "hot dog"} if source == "model_info-labels" else NAMES
    assert det.names == expected
    assert [len(d) for d in det.detect([_frame(SIZE, SIZE), _frame(SIZE, SIZE)])] == [4, 4]


def test_openvino_ir_without_weights(tmp_path) -> None:
    xml = _save_ir(make_onnx(tmp_path / "m.onnx", [_v8()], META), tmp_path / "m.xml")
    xml.with_suffix(".bin").unlink()
    with pytest.raises(ModelError, match=r"weights not found \(expected m\.bin\)"):
        load_detector(ModelConfig.model_validate({"path": xml}))


def test_openvino_unknown_device(tmp_path) -> None:
    path = make_onnx(tmp_path / "m.onnx", [_v8()], META)
    with pytest.raises(ModelError, match="OpenVINO device 'NOSUCHDEVICE' not available"):
        load_detector(
            ModelConfig.model_validate(
                {"path": path, "backend": {"type": "openvino", "device": "NOSUCHDEVICE"}}
            )
        )


@pytest.mark.parametrize(
    ("module", "suffix", "backend", "hint"),
    [
        ("openvino", ".onnx", {"type": "openvino"}, r"pip install edgesight\[openvino\]"),
        ("ai_edge_litert", ".tflite", None, r"pip install edgesight\[litert\]"),
    ],
)
def test_missing_optional_runtime_says_how_to_install(
    tmp_path, monkeypatch, module, suffix, backend, hint
) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"\x00" * 64)
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ModelError, match=hint):
        load_detector(ModelConfig.model_validate({"path": path, "backend": backend}))


def test_tflite_metadata_appended_zip(tmp_path) -> None:
    import json
    import zipfile

    from edgesight.inference.backends.base import tflite_metadata

    path = tmp_path / "m.tflite"
    path.write_bytes(b"TFL3" + b"\x00" * 100)
    assert tflite_metadata(path) == {}
    with zipfile.ZipFile(path, "a") as zf:  # what Ultralytics' TFLite export appends
        zf.writestr("metadata.json", json.dumps({"names": {"0": "person", "1": "car"}, "imgsz": [320, 320]}))
    meta = parse_metadata(tflite_metadata(path))
    assert meta.names == {0: "person", 1: "car"} and meta.imgsz == (320, 320)


@pytest.mark.parametrize("with_imgsz", [True, False])
def test_dynamic_input_size_comes_from_imgsz(tmp_path, with_imgsz) -> None:
    meta = META if with_imgsz else {k: v for k, v in META.items() if k != "imgsz"}
    path = make_onnx(tmp_path / "dyn.onnx", [_v8()], meta, input_shape=("batch", 3, "height", "width"))
    cfg = ModelConfig.model_validate({"path": path})
    if not with_imgsz:
        with pytest.raises(ModelError, match="dynamic size and the model names no imgsz"):
            load_detector(cfg)
        return
    det = load_detector(cfg)
    assert (det.input_spec.height, det.input_spec.width) == (SIZE, SIZE)
    assert [len(d) for d in det.detect([_frame(SIZE, SIZE)])] == [4]

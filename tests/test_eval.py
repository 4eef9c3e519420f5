"""edgesight eval: COCO protocol (faster-coco-eval) == pycocotools on the same predictions; datasets; fidelity."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.errors import ConfigError, SourceError
from edgesight.evaluation.coco import detections_to_coco, evaluate_coco
from edgesight.evaluation.datasets import load_dataset
from edgesight.evaluation.fidelity import agreement, fidelity
from edgesight.types import Detections


def _pycocotools(gt: dict, dets: list[dict]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    coco.createIndex()
    ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dets)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(s) for s in ev.stats]


def _yolo_dataset(root: Path, boxes: dict[str, list[tuple[int, float, float, float, float]]]) -> Path:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for name, objs in boxes.items():
        cv2.imwrite(str(root / "images" / "val" / f"{name}.jpg"), np.full((200, 400, 3), 80, np.uint8))
        lines = [f"{c} {cx} {cy} {w} {h}" for c, cx, cy, w, h in objs]
        (root / "labels" / "val" / f"{name}.txt").write_text("\n".join(lines))
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/val\nval: images/val\nnames:\n  0: person\n  1: car\n"
    )
    return root / "data.yaml"


def test_yolo_labels_become_pixel_coco_boxes(tmp_path: Path) -> None:
    ds = load_dataset(_yolo_dataset(tmp_path, {"a": [(1, 0.5, 0.5, 0.5, 0.25)], "b": []}))
    assert ds.names == {0: "person", 1: "car"}
    assert len(ds.images) == 2
    (ann,) = ds.gt["annotations"]
    assert ann["category_id"] == 1
    assert ann["bbox"] == pytest.approx([100.0, 75.0, 200.0, 50.0])  # 400x200 image
    assert ann["area"] == pytest.approx(10000.0)


def test_perfect_predictions_score_one_and_shifted_ones_less(tmp_path: Path) -> None:
    ds = load_dataset(_yolo_dataset(tmp_path, {"a": [(0, 0.3, 0.5, 0.2, 0.6), (1, 0.7, 0.5, 0.3, 0.3)]}))
    perfect = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
        for a in ds.gt["annotations"]
    ]
    assert evaluate_coco(ds.gt, perfect).map50_95 == pytest.approx(1.0)
    shifted = [dict(d, bbox=[d["bbox"][0] + 0.2 * d["bbox"][2], *d["bbox"][1:]]) for d in perfect]
    r = evaluate_coco(ds.gt, shifted)
    assert r.map50 == pytest.approx(1.0)  # IoU 0.67 >= 0.5
    assert r.map50_95 < 0.5
    assert {c.name for c in r.per_class} == {"person", "car"}
    assert evaluate_coco(ds.gt, []).map50 == 0.0


def test_evaluate_does_not_mutate_inputs(tmp_path: Path) -> None:
    ds = load_dataset(_yolo_dataset(tmp_path, {"a": [(0, 0.3, 0.5, 0.2, 0.6)]}))
    gt = copy.deepcopy(ds.gt)
    dets = [{"image_id": 1, "category_id": 0, "bbox": [50.0, 40.0, 80.0, 120.0], "score": 0.5}]
    before = copy.deepcopy(dets)
    evaluate_coco(gt, dets)
    assert gt == ds.gt and dets == before


def test_detections_to_coco_maps_classes_and_drops_unknown() -> None:
    d = Detections(xyxy=[[10, 20, 30, 60], [0, 0, 5, 5]], confidence=[0.9, 0.4], class_id=[0, 7])
    out = detections_to_coco(3, d, {0: 1})
    assert out == [
        {"image_id": 3, "category_id": 1, "bbox": [10.0, 20.0, 20.0, 40.0], "score": pytest.approx(0.9)}
    ]


def test_fidelity_of_a_model_with_itself_is_one_and_drops_with_noise() -> None:
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(6):
        xy = rng.uniform(0, 300, (5, 2))
        wh = rng.uniform(20, 80, (5, 2))
        frames.append(Detections(np.hstack([xy, xy + wh]), rng.uniform(0.3, 1, 5), rng.integers(0, 2, 5)))
    sizes = [(400, 400)] * 6
    names = {0: "person", 1: "car"}
    assert fidelity(frames, frames, sizes, names).map50 == pytest.approx(1.0)
    shifted = [Detections(d.xyxy + 25.0, d.confidence, d.class_id) for d in frames]
    worse = fidelity(shifted, frames, sizes, names)
    assert worse.map50_95 < 0.9
    a = agreement(frames[:1], frames[:1])
    assert (a.matched, a.f1, a.mean_iou) == (5, 1.0, pytest.approx(1.0))
    dropped = agreement([frames[0][[0, 1]]], frames[:1])
    assert dropped.recall == pytest.approx(0.4) and dropped.precision == 1.0


def test_coco_json_dataset(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((10, 10, 3), np.uint8))
    gt = {
        "images": [{"id": 5, "file_name": "x.jpg", "width": 10, "height": 10}],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(gt))
    ds = load_dataset(tmp_path / "ann.json")
    assert ds.images == [(5, tmp_path / "x.jpg")] and ds.names == {1: "person"}


@pytest.mark.parametrize(
    "setup, exc, match",
    [
        (lambda p: p / "none.yaml", ConfigError, "dataset not found"),
        (lambda p: (p / "d.txt").write_text("x") and p / "d.txt", ConfigError, "unknown dataset format"),
        (lambda p: (p / "d.yaml").write_text("names: [a]\n") and p / "d.yaml", ConfigError, "no 'val' split"),
        (
            lambda p: (p / "d.yaml").write_text("names: [a]\nval: nowhere\n") and p / "d.yaml",
            SourceError,
            "not found",
        ),
        (lambda p: (p / "d.json").write_text("{}") and p / "d.json", ConfigError, "expected a COCO json"),
    ],
)
def test_bad_datasets(tmp_path: Path, setup, exc, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        load_dataset(setup(tmp_path))


def test_coco8_eval_equals_pycocotools_on_the_same_predictions(assets: Path) -> None:
    """coco8 is for plumbing: our mAP must be exactly what the reference evaluator says."""
    from edgesight.evaluation.commands import evaluate_dataset

    result, dets, ds = evaluate_dataset(
        assets / "models" / "yolov8n_coco_fp32_640.onnx", assets / "datasets" / "coco8" / "coco8.yaml"
    )
    ref = _pycocotools(ds.gt, dets)
    assert len(ds.images) == 4 and result.instances == 17
    assert result.map50_95 == pytest.approx(ref[0], abs=1e-6)
    assert result.map50 == pytest.approx(ref[1], abs=1e-6)
    assert result.stats == pytest.approx(ref, abs=1e-6)
    assert 0.3 < result.map50_95 < 0.9  # a working YOLOv8n, not a broken decoder
    assert "person" in {c.name for c in result.per_class}


def cli(argv: list[str]) -> int:
    from edgesight.cli import main

    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_eval_cli_json_and_fidelity_mode(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    assert cli(["eval", model, "--data", str(assets / "datasets" / "coco8" / "coco8.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "plumbing only" in out["note"] and out["images"] == 4
    video = str(assets / "videos" / "pedestrians_480x360.avi")
    assert cli(["eval", model, "--reference", model, "--frames", video, "--count", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["map50"] == pytest.approx(1.0) and out["frames"] == 3 and min(out["frame_indices"]) >= 397


def test_eval_cli_needs_reference_and_frames_together(
    assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["eval", str(assets / "models" / "yolov8n_coco_fp32_640.onnx"), "--reference", "x.onnx"]) == 2
    assert "needs both --reference" in capsys.readouterr().err


def test_sample_frames_from_an_image_folder(tmp_path: Path) -> None:
    from edgesight.evaluation.frames import parse_range, sample_frames

    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((8, 12, 3), i, np.uint8))
    (tmp_path / "readme.txt").write_text("not an image")  # ignored beside images
    s = sample_frames(tmp_path, 3, parse_range("0:0.5"))
    assert s.indices == [0, 2, 4] and s.names == ["00.png", "02.png", "04.png"]
    assert int(s.images[1][0, 0, 0]) == 2 and s.total == 10
    rest = sample_frames(tmp_path, 0, (0.0, 1.0), exclude=set(s.indices))
    assert not set(rest.indices) & set(s.indices) and len(rest) == 7
    with pytest.raises(ConfigError):
        parse_range("0.5:0.2")


def test_video_halves_are_disjoint(assets: Path) -> None:
    from edgesight.evaluation.frames import sample_frames

    video = assets / "videos" / "pedestrians_480x360.avi"
    a = sample_frames(video, 8, (0.0, 0.5))
    b = sample_frames(video, 8, (0.5, 1.0))
    assert a.total == 795 and max(a.indices) < min(b.indices)
    assert a.images[0].shape == (360, 480, 3) and a.images[0].dtype == np.uint8

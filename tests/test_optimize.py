"""edgesight optimize: static int8 (QDQ), decode-tail detection, accuracy control, fp16, pruning, bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgesight.errors import ConfigError, ModelError, SourceError
from edgesight.evaluation.frames import sample_frames
from edgesight.optimize import (
    QuantizeSettings,
    accuracy_controlled_int8,
    convert_fp16,
    find_decode_tail,
    prune_model,
    quantize_int8,
)
from edgesight.optimize.model_file import load_onnx
from test_optimize_models import small_convnet, yolo_like_tail


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]).run(None, {"images": x})[
        0
    ]


def _inputs(n: int, seed: int, lo: float = 0.0, hi: float = 1.0, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(lo + (hi - lo) * rng.random((1, 3, size, size))).astype(np.float32) for _ in range(n)]


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_int8_is_qdq_smaller_and_close_to_float(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    out = tmp_path / "q.onnx"
    rep = quantize_int8(src, out, "images", _inputs(8, 0), QuantizeSettings(method="minmax"))
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert rep.quantized_nodes > 0
    assert rep.size_after < rep.size_before
    x = _inputs(1, 99)[0]
    assert _rel_err(_run(out, x), _run(src, x)) < 0.05


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods_run(tmp_path: Path, method: str) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    quantize_int8(src, tmp_path / "q.onnx", "images", _inputs(4, 0), QuantizeSettings(method=method))  # type: ignore[arg-type]
    x = _inputs(1, 5)[0]
    assert _rel_err(_run(tmp_path / "q.onnx", x), _run(src, x)) < 0.2


def test_decode_tail_found_by_structure(tmp_path: Path) -> None:
    model = onnx.load(str(yolo_like_tail(tmp_path / "t.onnx")))
    tail = {t.name: t for t in find_decode_tail(model)}
    assert {"head/Concat", "head/Sigmoid", "dfl/Softmax", "dfl/Conv", "dfl/Reshape_1"} <= set(tail)
    assert "DFL" in tail["dfl/Conv"].reason
    # learned layers are not part of the tail
    assert not {"head/box/Conv", "head/cls/Conv", "body/Conv"} & set(tail)


def test_quantizing_the_tail_destroys_scores_keeping_it_float_does_not(tmp_path: Path) -> None:
    src = yolo_like_tail(tmp_path / "t.onnx")
    calib = _inputs(8, 0)
    x = _inputs(1, 42)[0]
    ref = _run(src, x)
    errs = {}
    for keep in (True, False):
        out = tmp_path / f"q_{keep}.onnx"
        rep = quantize_int8(src, out, "images", calib, QuantizeSettings(keep_head_float=keep))
        assert ("head/Concat" in {f.name for f in rep.float_nodes}) is keep
        errs[keep] = float(np.abs(_run(out, x)[:, 4:] - ref[:, 4:]).max())  # score rows
    assert errs[True] < 0.1
    assert errs[False] > 2 * errs[True]


def test_records_calibration_in_metadata(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    out = tmp_path / "q.onnx"
    quantize_int8(src, out, "images", _inputs(2, 0), calibration_info={"calibration_indices": [3, 7]})
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert '"calibration_indices": [3, 7]' in meta["edgesight.quantization"]


def test_accuracy_control_recovers_from_bad_calibration(tmp_path: Path) -> None:
    """Calibrating on near-black frames saturates activations on real ones; control must fix it."""
    src = small_convnet(tmp_path / "f.onnx")
    bad_calib = _inputs(4, 0, 0.0, 0.02)
    val = _inputs(4, 7)
    refs = [_run(src, x) for x in val]

    def score(path: Path) -> float:
        return 1.0 - float(np.mean([_rel_err(_run(path, x), r) for x, r in zip(val, refs, strict=True)]))

    res = accuracy_controlled_int8(
        src, tmp_path / "ac.onnx", "images", bad_calib, val, score, reference_score=1.0, max_drop=0.05
    )
    assert res.initial_score < 0.9  # plain int8 with this calibration falls short
    assert res.met and res.final_score >= 0.95
    assert res.kept_float and all("relative error" in n.reason for n in res.kept_float)
    assert res.ranking[0].error >= res.ranking[-1].error
    assert score(tmp_path / "ac.onnx") == pytest.approx(res.final_score, abs=1e-6)


def test_accuracy_control_is_a_no_op_when_within_bounds(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    res = accuracy_controlled_int8(
        src, tmp_path / "ac.onnx", "images", _inputs(4, 0), _inputs(2, 1), lambda _p: 0.999, 1.0, 0.01
    )
    assert res.met and not res.steps and not res.kept_float


def test_fp16_halves_the_weights(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    before, after = convert_fp16(src, tmp_path / "h.onnx")
    assert after < 0.7 * before
    x = _inputs(1, 3)[0]
    assert _rel_err(_run(tmp_path / "h.onnx", x), _run(src, x)) < 0.01


@pytest.mark.parametrize("mode", ["unstructured", "channel"])
def test_prune_reaches_sparsity_and_compresses(tmp_path: Path, mode: str) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    rep = prune_model(src, tmp_path / "p.onnx", 0.5, mode)
    assert rep.sparsity == pytest.approx(0.5, abs=0.05)
    assert rep.zip_after < rep.zip_before
    assert abs(rep.size_after - rep.size_before) < 0.05 * rep.size_before  # dense storage: same size
    w = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "p.onnx")).graph.initializer}
    if mode == "channel":
        zero_channels = [(np.abs(w["l1.w"].reshape(16, -1)).sum(axis=1) == 0).sum()]
        assert zero_channels[0] == 8


# ----------------------------------------------------------------------------- bad inputs
def test_empty_calibration_folder(tmp_path: Path) -> None:
    (tmp_path / "calib").mkdir()
    with pytest.raises(SourceError, match="it is empty"):
        sample_frames(tmp_path / "calib", 8)


def test_calibration_folder_of_non_images(tmp_path: Path) -> None:
    d = tmp_path / "calib"
    d.mkdir()
    (d / "notes.txt").write_text("hello")
    (d / "data.csv").write_text("1,2")
    with pytest.raises(SourceError, match=r"non-image files: data\.csv, notes\.txt"):
        sample_frames(d, 8)


def test_image_that_does_not_decode(tmp_path: Path) -> None:
    d = tmp_path / "calib"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (d / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match=r"b\.jpg: not a readable image"):
        sample_frames(d, 0)


def test_model_without_weights(tmp_path: Path) -> None:
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"], name="r")],
        "noweights",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    p = tmp_path / "relu.onnx"
    onnx.save(onnx.helper.make_model(g), str(p))
    with pytest.raises(ModelError, match="no weights"):
        load_onnx(p)


def test_missing_external_weights(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    model = onnx.load(str(src))
    ext = tmp_path / "ext.onnx"
    onnx.save(model, str(ext), save_as_external_data=True, location="ext.bin", size_threshold=0)
    (tmp_path / "ext.bin").unlink()
    with pytest.raises(ModelError, match="external weight file is missing"):
        load_onnx(ext)


@pytest.mark.parametrize("content, match", [(b"", "empty"), (b"garbage", "not a valid ONNX")])
def test_corrupt_model(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "m.onnx"
    p.write_bytes(content)
    with pytest.raises(ModelError, match=match):
        load_onnx(p)


def test_no_calibration_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs frames"):
        quantize_int8(small_convnet(tmp_path / "f.onnx"), tmp_path / "q.onnx", "images", [])


def test_cli_errors_are_one_line_exit_2(
    tmp_path: Path, assets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgesight.cli import main

    (tmp_path / "empty").mkdir()
    model = assets / "models" / "yolov8n_coco_fp32_640.onnx"
    cases = [
        ["optimize", str(model), "--int8", "--calib", str(tmp_path / "empty")],
        ["optimize", str(model), "--int8"],
        ["optimize", str(model), "--int8", "--fp16", "--calib", str(tmp_path / "empty")],
        [
            "optimize",
            str(assets / "models" / "ssd_mobilenet_v1_coco_quant.tflite"),
            "--int8",
            "--calib",
            str(tmp_path),
        ],
    ]
    for argv in cases:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "Traceback" not in err, err


# ----------------------------------------------------------------------------- real model
def test_yolov8n_decode_tail(assets: Path) -> None:
    model = onnx.load(str(assets / "models" / "yolov8n_coco_fp32_640.onnx"))
    tail = {t.name for t in find_decode_tail(model)}
    assert {"/model.22/Concat_3", "/model.22/Sigmoid", "/model.22/dfl/Softmax"} <= tail
    assert any(n.startswith("/model.22/dfl/conv/") for n in tail)
    assert not any("cv2.0" in n or "cv3.0" in n for n in tail)  # learned head convs stay quantizable
    assert len(tail) == 24


def test_accuracy_control_returns_a_quantized_decode_tail_to_float(tmp_path: Path) -> None:
    """With the harmful setting (tail quantized), the score rows collapse; control must find the concat."""
    src = yolo_like_tail(tmp_path / "t.onnx")
    val = _inputs(3, 11)
    refs = [_run(src, x)[:, 4:] for x in val]

    def score(path: Path) -> float:  # 1 - mean abs error of the 0..1 scores
        return 1.0 - float(
            np.mean([np.abs(_run(path, x)[:, 4:] - r).mean() for x, r in zip(val, refs, strict=True)])
        )

    res = accuracy_controlled_int8(
        src,
        tmp_path / "ac.onnx",
        "images",
        _inputs(8, 0),
        val,
        score,
        1.0,
        0.02,
        QuantizeSettings(keep_head_float=False),
    )
    assert res.initial_score < 0.9
    assert res.met
    assert "head/Concat" in {n.name for n in res.kept_float}
    assert res.ranking[0].tensor == "output0"  # the concat of pixels and scores is the worst tensor


def test_refuses_an_already_quantized_model(tmp_path: Path) -> None:
    src = small_convnet(tmp_path / "f.onnx")
    quantize_int8(src, tmp_path / "q.onnx", "images", _inputs(2, 0))
    with pytest.raises(ModelError, match="already quantized"):
        quantize_int8(tmp_path / "q.onnx", tmp_path / "qq.onnx", "images", _inputs(2, 0))

"""edgesight bench: one side-by-side table, fidelity vs the first model, model descriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgesight.benchmark import describe_model
from edgesight.benchmark.runner import compatible


def cli(argv: list[str]) -> int:
    from edgesight.cli import main

    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_model_descriptions(assets: Path) -> None:
    m = assets / "models"
    fp32 = describe_model(m / "yolov8n_coco_fp32_640.onnx")
    dyn = describe_model(m / "yolov8n_coco_int8dyn_640.onnx")
    assert (fp32.format, fp32.precision) == ("ONNX", "fp32")
    assert dyn.precision == "int8 dynamic" and "ConvInteger" in dyn.note
    assert dyn.size_mb < fp32.size_mb / 3


def test_backend_compatibility() -> None:
    assert compatible(Path("a.onnx"), "openvino") and compatible(Path("a.onnx"), "onnxruntime")
    assert not compatible(Path("a.xml"), "onnxruntime") and compatible(Path("a.tflite"), "litert")


@pytest.mark.slow
def test_bench_side_by_side_json_and_plot(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(assets / "models" / "yolov8n_coco_fp32_640.onnx")
    video = str(assets / "videos" / "pedestrians_480x360.avi")
    plot = tmp_path / "bench.png"
    argv = ["bench", model, "--frames", video, "--backends", "onnxruntime,openvino", "--count", "2"]
    assert cli([*argv, "--iterations", "2", "--warmup", "1", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert [r["backend"] for r in rows] == ["onnxruntime", "openvino"]
    assert rows[0]["reference"] and rows[0]["fidelity"]["map50"] == pytest.approx(1.0)
    assert rows[1]["fidelity"]["map50"] > 0.9  # same weights, another runtime
    assert "person" in {c["name"] for c in rows[0]["fidelity"]["per_class"]}
    assert all(r["iterations"] == 2 and r["infer_ms_p50"] > 0 for r in rows)
    assert plot.stat().st_size > 1000
    assert min(out["frames"]["indices"]) >= 397  # the held-apart half of the video


def test_bench_bad_inputs(tmp_path: Path, assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"x")
    video = str(assets / "videos" / "pedestrians_480x360.avi")
    assert cli(["bench", str(bad), "--frames", video, "--count", "1"]) == 2
    assert "unknown model format '.pt'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        cli(
            [
                "bench",
                str(assets / "models" / "yolov8n_coco_fp32_640.onnx"),
                "--frames",
                str(tmp_path / "empty"),
            ]
        )
        == 2
    )
    assert "it is empty" in capsys.readouterr().err

"""`edgesight profile` / `edgesight recommend` end to end, and clear errors for bad model files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgesight.cli import main
from edgesight.errors import ModelError
from edgesight.profile.catalog import load_catalog
from edgesight.profile.graph import load_graph


def _run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    main(argv)
    return json.loads(capsys.readouterr().out)


def test_profile_person_detect_cortex_m4_json(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "tflm" / "person_detect.tflite"
    d = _run_json(capsys, ["profile", str(model), "--target", "cortex-m4", "--json"])
    assert d["tflm_arena"]["head_bytes"] == 55296  # what TFLM's GreedyMemoryPlanner plans
    assert [t["target"] for t in d["targets"]] == ["cortex-m4"]
    m4 = d["targets"][0]
    assert m4["status"] == "fits" and m4["latency_kind"] == "estimate"
    assert m4["sources"]["sram_bytes"] and m4["assumptions"]
    assert len(d["layers"]) == d["ops"] == 31


def test_profile_validate_reports_interpreter_arena(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tflite_micro")
    model = assets / "models" / "tflm" / "person_detect.tflite"
    d = _run_json(capsys, ["profile", str(model), "-t", "cortex-m4", "--validate", "--json"])
    assert d["tflm_measured"]["head_exact"] is True
    assert abs(d["tflm_measured"]["total_error"]) <= 0.10


def test_profile_html_report(assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    model = assets / "models" / "tflm" / "person_detect.tflite"
    main(["profile", str(model), "-t", "cortex-m4,esp32-s3", "--html", str(out)])
    text = out.read_text()
    assert "data:image/png;base64," in text
    assert "peak at <b>op 2 CONV_2D" in text  # the step with the most live bytes is named
    assert "Per-layer breakdown" in text and "DEPTHWISE_CONV_2D" in text
    assert "ESTIMATES" in text


def test_recommend_yolov8n_at_10fps(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "yolov8n_coco_fp32_640.onnx"
    d = _run_json(capsys, ["recommend", str(model), "--fps", "10", "--json"])
    ranked = d["ranked"]
    assert ranked, d["rejected"]
    ids = [r["target"] for r in ranked]
    assert all(r["fps"] >= 10 for r in ranked)
    tight = [r["headroom"] < 2 for r in ranked]
    assert tight == sorted(tight)  # comfortable headroom first, as explained
    for group in (False, True):
        prices = [r["price_usd"] for r, t in zip(ranked, tight, strict=True) if t is group]
        assert prices == sorted(prices)  # then by total price
    assert "price" in d["explanation"] and "ESTIMATED" in d["explanation"] and "headroom" in d["explanation"]
    rejected = {r["target"]: r["reason"] for r in d["rejected"]}
    for mcu in ("cortex-m4", "cortex-m7", "esp32-s3"):
        assert mcu not in ids and "SRAM" in rejected[mcu]
    assert "raspberry-pi-4" in rejected  # ~0.5 s per frame on a Pi 4: too slow for 10 fps
    assert any(i.startswith("jetson-orin") for i in ids) and "hailo-8" in ids
    for r in ranked:
        assert all(src for src in r["sources"].values())


def test_recommend_person_detect_1fps_under_1w(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "tflm" / "person_detect.tflite"
    d = _run_json(capsys, ["recommend", str(model), "--fps", "1", "--max-watts", "1", "--json"])
    ids = [r["target"] for r in d["ranked"]]
    assert set(ids) == {"cortex-m4", "cortex-m7", "esp32-s3"}  # only MCUs stay under 1 W
    assert all(r["power_w"] <= 1 for r in d["ranked"])
    rejected = {r["target"]: r["reason"] for r in d["rejected"]}
    assert "W >" in rejected["raspberry-pi-5"]


def test_recommend_impossible_says_what_to_change(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "yolov8n_coco_fp32_640.onnx"
    d = _run_json(capsys, ["recommend", str(model), "--fps", "30", "--max-watts", "1", "--json"])
    assert d["ranked"] == []
    text = " ".join(d["suggestions"])
    assert "quantize to int8" in text and "MCU" in text


def test_every_catalog_figure_has_a_source() -> None:
    catalog = load_catalog()
    ids = {t.id for t in catalog}
    assert ids >= {
        "cortex-m4", "cortex-m7", "esp32-s3", "raspberry-pi-4", "raspberry-pi-5", "jetson-nano",
        "jetson-xavier-nx", "jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "coral-usb",
        "hailo-8", "rk3588-npu", "intel-ncs2", "this-machine",
    }  # fmt: skip
    for t in catalog:
        assert t.peak_gops, t.id
        for name, fig in (*t.figures.items(), *t.peak_gops.items()):
            assert fig.source.strip(), f"{t.id}.{name}"
        if not t.measured:
            assert t.value("price_usd") > 0 and t.value("power_w") > 0, t.id


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.tflite", b"", "empty"),
        ("short.tflite", b"TFL", "too short"),
        ("notflite.tflite", b"\x00" * 64, "TFL3"),
        ("garbage.onnx", b"\x08\x07this is not protobuf\xff\xff", "ONNX"),
        ("model.pt", b"PK\x03\x04 torch", "unsupported model file"),
    ],
)
def test_malformed_model_files_give_clear_errors(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ModelError, match=expected):
        load_graph(p)


def test_truncated_tflite_names_the_problem(assets: Path, tmp_path: Path) -> None:
    data = (assets / "models" / "tflm" / "person_detect.tflite").read_bytes()
    for cut in (16, 1000, len(data) // 2, len(data) - 100):
        p = tmp_path / f"cut{cut}.tflite"
        p.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=r"corrupt or truncated TFLite file \(\d+ bytes\): cannot read "):
            load_graph(p)


def test_truncated_onnx_names_the_problem(assets: Path, tmp_path: Path) -> None:
    data = (assets / "models" / "yolov8n_coco_fp32_640.onnx").read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="ONNX"):
        load_graph(p)


def test_cli_bad_model_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.tflite"
    p.write_bytes(b"\x10\x00\x00\x00TFL3" + b"\xff" * 8)
    with pytest.raises(SystemExit) as exc:
        main(["profile", str(p), "--no-calibrate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "bad.tflite" in err and "Traceback" not in err


def test_cli_unknown_target(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "tflm" / "hello_world_int8.tflite"
    with pytest.raises(SystemExit) as exc:
        main(["profile", str(model), "--target", "cortex-m99"])
    assert exc.value.code == 2
    assert "unknown target 'cortex-m99'" in capsys.readouterr().err


def test_recommend_text_output_explains_each_pick(assets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = assets / "models" / "tflm" / "person_detect.tflite"
    main(["recommend", str(model), "--fps", "1", "--max-watts", "1"])
    out = capsys.readouterr().out
    assert "1. esp32-s3" in out and "estimated" in out and "efficiency" in out
    assert "Not recommended" in out and "raspberry-pi-5" in out


def test_public_api() -> None:
    import edgesight.profile as prof

    assert set(prof.__all__) >= {
        "load_graph",
        "graph_cost",
        "plan_tflm",
        "profile_model",
        "recommend",
        "load_catalog",
    }
    for name in prof.__all__:
        assert getattr(prof, name) is not None

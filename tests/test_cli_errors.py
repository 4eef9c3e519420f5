"""Bad input through the real `edgesight` command: one clear line, exit code 2, never a traceback.

The corpus is generated here (truncated video, garbage YAML, wrong-shape and corrupt models,
missing files); nothing is committed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from test_inference_decoders import _v8, make_onnx

EXE = [sys.executable, "-m", "edgesight"]


def _video(path: Path, n: int = 40) -> Path:
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(n):
        img = np.full((120, 160, 3), 60, np.uint8)
        cv2.rectangle(img, (4 + 3 * i, 40), (24 + 3 * i, 90), (0, 200, 0), -1)
        wr.write(img)
    wr.release()
    return path


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    video = _video(d / "ok.avi")
    data = video.read_bytes()
    (d / "truncated.avi").write_bytes(data[: len(data) // 3])
    (d / "not_a_video.avi").write_text("this is not a video\n")
    (d / "garbage.yaml").write_bytes(b"sources: [\n  - {type: file,, \x00\x01 ::: }\n")
    (d / "unknown_key.yaml").write_text(
        f"sources: [{{type: file, name: a, path: {video}}}]\nmodel: {{path: m.onnx, confidnce: 0.3}}\n"
    )
    (d / "not_a_mapping.yaml").write_text("- just\n- a list\n")
    (d / "corrupt.onnx").write_bytes(b"\x08\x07garbage-not-protobuf" * 50)
    good = make_onnx(d / "good.onnx", [_v8()], {"names": "{0: 'person', 1: 'car', 2: 'dog'}"})
    (d / "truncated.onnx").write_bytes(good.read_bytes()[:200])
    make_onnx(d / "classifier.onnx", [np.zeros((1, 10), np.float32)])
    return {p.stem if p.suffix != ".onnx" else p.name: p for p in d.iterdir()} | {"dir": d}


def _assert_clean_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    assert "error:" in res.stderr
    for n in needles:
        assert n.lower() in res.stderr.lower(), res.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["config", "check", "{garbage}"], ["not valid YAML", "line"]),
        (["config", "check", "{unknown_key}"], ["model.confidnce", "unknown key"]),
        (["config", "check", "{not_a_mapping}"], ["mapping"]),
        (["config", "check", "{dir}/missing.yaml"], ["not found"]),
        (["run", "--source", "{ok}", "--model", "{dir}/missing.onnx"], ["not found"]),
        (["run", "--source", "{ok}", "--model", "{corrupt.onnx}"], ["corrupt.onnx"]),
        (["run", "--source", "{ok}", "--model", "{truncated.onnx}"], ["truncated.onnx"]),
        (["run", "--source", "{ok}", "--model", "{classifier.onnx}"], ["classifier.onnx"]),
        (["run", "--source", "{dir}/nope.avi", "--model", "{good.onnx}"], ["no such file"]),
        (["run", "--source", "{not_a_video}", "--model", "{good.onnx}"], ["not_a_video.avi"]),
        (["run", "--source", "{ok}", "--model", "{good.onnx}", "--classes", "unicorn"], ["unicorn"]),
    ],
)
def test_bad_input_is_one_clear_error(corpus: dict[str, Path], args: list[str], needles: list[str]) -> None:
    argv = [
        a.format(**{k.replace(".", "_"): v for k, v in corpus.items()})
        for a in (x.replace(".onnx}", "_onnx}") for x in args)
    ]
    _assert_clean_error(
        _cli(*argv, "--store", corpus["dir"] / "store", cwd=corpus["dir"])
        if argv[0] == "run"
        else _cli(*argv, cwd=corpus["dir"]),
        *needles,
    )


def test_truncated_video_runs_what_it_can(corpus: dict[str, Path]) -> None:
    """A truncated file is not an error: the decodable frames are processed, the run ends cleanly."""
    res = _cli(
        "run",
        "--source",
        corpus["truncated"],
        "--model",
        corpus["good.onnx"],
        "--store",
        corpus["dir"] / "store_t",
        "--json",
        cwd=corpus["dir"],
    )
    assert res.returncode == 0, res.stderr
    import json

    summary = json.loads(res.stdout)
    assert 0 < summary["frames"] < 40

"""Inference benchmark: detector end-to-end vs raw backend, per stage, per backend, side by side.

    .venv/bin/python bench/inference.py [--repeat 20] [--threads 0] [--assets ../shared/assets]

Prints medians (ms) and the ratios that matter, measured in one run on the same machine:
  * detect / raw run: what preprocessing + decoding cost on top of the model (1.00 = nothing);
  * (pre + post) / detect, from the detector's own per-call split: the share of the frame time that is
    not the model (less sensitive to machine load than comparing two separately timed calls);
  * openvino / onnxruntime on the same ONNX file;
  * int8 dynamic / fp32 on ONNX Runtime (a bad quantization choice on CPU).
Absolute times depend on the machine and its load; compare ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from edgesight.config import ModelConfig
from edgesight.inference import load_detector

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"

CASES = [
    ("yolov8n fp32 640", "yolov8n_coco_fp32_640.onnx", "onnxruntime", None),
    ("yolov8n fp32 640", "yolov8n_coco_fp32_640.onnx", "openvino", None),
    ("yolov8n int8dyn 640", "yolov8n_coco_int8dyn_640.onnx", "onnxruntime", None),
    (
        "ssd mobilenet v1 uint8 300",
        "ssd_mobilenet_v1_coco_quant.tflite",
        "litert",
        "ssd_mobilenet_v1_coco_labels.txt",
    ),
]


def _median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=Path, default=ASSETS)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = runtime default)")
    args = ap.parse_args()
    if not (args.assets / "MANIFEST.md").is_file():
        raise SystemExit(f"assets not found at {args.assets}")
    frame = cv2.imread(str(args.assets / "images" / "bus.jpg"))
    console = Console(width=150)
    table = Table(title=f"inference on bus.jpg ({frame.shape[1]}x{frame.shape[0]}), median of {args.repeat}")
    for col in (
        "model",
        "backend",
        "raw run ms",
        "detect ms",
        "pre ms",
        "infer ms",
        "post ms",
        "detect/raw",
        "found",
    ):
        table.add_column(col, justify="left" if col in ("model", "backend", "found") else "right")
    results: dict[tuple[str, str], float] = {}
    # interleave the cases round by round so load changes on a shared machine hit all of them alike
    detectors = []
    for label, model, backend, labels in CASES:
        cfg: dict = {
            "path": args.assets / "models" / model,
            "backend": {"type": backend, "threads": args.threads},
        }
        if labels:
            cfg["labels"] = args.assets / "models" / labels
            cfg["confidence"] = 0.5
        det = load_detector(ModelConfig.model_validate(cfg))
        tensor, _ = det._pre([frame])  # the exact input detect() feeds, for the raw timing
        feed = {det.backend.inputs[0].name: np.array(tensor)}
        for _ in range(args.warmup):
            det.detect([frame])
            det.backend.run(feed)
        detectors.append(
            (label, backend, det, feed, {"raw": [], "detect": [], "pre": [], "infer": [], "post": []})
        )
    for _ in range(args.repeat):
        for _label, _backend, det, feed, t in detectors:
            t0 = time.perf_counter()
            det.backend.run(feed)
            t["raw"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            [found] = det.detect([frame])
            t["detect"].append(time.perf_counter() - t0)
            t["pre"].append(det.last_timings["preprocess"])
            t["infer"].append(det.last_timings["infer"])
            t["post"].append(det.last_timings["postprocess"])
    for label, backend, det, _feed, t in detectors:
        [found] = det.detect([frame])
        counts: dict[str, int] = {}
        for n in found.class_names:
            counts[n] = counts.get(n, 0) + 1
        raw, dt = _median_ms(t["raw"]), _median_ms(t["detect"])
        results[(label, backend)] = raw
        table.add_row(
            label,
            backend,
            f"{raw:.1f}",
            f"{dt:.1f}",
            f"{_median_ms(t['pre']):.2f}",
            f"{_median_ms(t['infer']):.1f}",
            f"{_median_ms(t['post']):.2f}",
            f"{dt / raw:.3f}",
            f"{100 * statistics.median(p + q for p, q in zip(t['pre'], t['post'], strict=True)) / dt * 1000:.1f}",
            ", ".join(f"{v} {k}" for k, v in counts.items()),
        )
    console.print(table)
    fp32_ort = results[("yolov8n fp32 640", "onnxruntime")]
    console.print(
        f"openvino / onnxruntime (yolov8n fp32): {results[('yolov8n fp32 640', 'openvino')] / fp32_ort:.2f}"
    )
    console.print(
        f"int8 dynamic / fp32 (onnxruntime):      {results[('yolov8n int8dyn 640', 'onnxruntime')] / fp32_ort:.2f}"
    )


if __name__ == "__main__":
    main()

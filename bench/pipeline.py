"""Pipeline overhead, multi-source throughput and the motion gate, measured side by side in one run.

    python bench/pipeline.py                         # yolov8n 640 on the pedestrian video
    python bench/pipeline.py --model src/edgesight/demo/demo_detector.onnx --frames 300
    python bench/pipeline.py --json > out.json

Sections (same model, same frames, one process):
1. single stream: raw backend inference fps (frames decoded and letterboxed beforehand, only
   ``backend.run`` timed) vs a plain serial script (OpenCV decode + detector + ByteTrack + line rule,
   one thread) vs the full edgesight pipeline (decode + infer + track + rules + store, threaded);
2. multi-source: N copies of the video in one pipeline vs one stream (aggregate fps);
3. motion gate: a recording with long still periods (built here by freezing frames, with sensor
   noise) run with the gate off and on: detector invocations and line-crossing events compared.
No absolute time is asserted anywhere: the machine is shared; read the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgesight.config import ModelConfig, PipelineConfig, parse_config
from edgesight.inference import load_detector
from edgesight.pipeline.runner import Runner
from edgesight.rules import build_rules
from edgesight.tracking import ByteTrack
from edgesight.types import Frame

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
# The pedestrian video's geometry (see examples/pedestrians.yaml).
RULES = [
    {
        "type": "zone",
        "name": "plaza",
        "polygon": [[250, 135], [470, 125], [480, 300], [250, 250]],
        "events": ["enter", "exit"],
    },
    {"type": "line", "name": "path_gate", "start": [230, 100], "end": [230, 250], "cooldown_seconds": 2},
]


def read_frames(video: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def pipeline_cfg(
    model: Path,
    videos: list[Path],
    store: Path,
    *,
    threads: int,
    motion: bool | str,
    batch: int,
    spin: bool = False,
) -> PipelineConfig:
    return parse_config(
        {
            "sources": [{"type": "file", "name": f"cam{i}", "path": str(v)} for i, v in enumerate(videos)],
            "model": {
                "path": str(model),
                "backend": {"type": "onnxruntime", "threads": threads, "spin": spin},
                "max_batch": batch,
                "classes": None,
                "confidence": 0.3,
            },
            "rules": RULES,
            "motion": {"enabled": motion},
            "store": {"path": str(store)},
        }
    )


def bench_raw(model: Path, frames: list[np.ndarray], threads: int, spin: bool = False) -> float:
    det = load_detector(
        ModelConfig.model_validate(
            {"path": model, "backend": {"type": "onnxruntime", "threads": threads, "spin": spin}}
        )
    )
    pre = det._pre  # the same letterbox the pipeline uses, done beforehand (not timed)
    name = det.backend.inputs[0].name
    tensors = [pre([f])[0].copy() for f in frames]
    for t in tensors[:5]:
        det.backend.run({name: t})
    t0 = time.perf_counter()
    for t in tensors:
        det.backend.run({name: t})
    return len(tensors) / (time.perf_counter() - t0)


def bench_serial(model: Path, video: Path, n: int, threads: int) -> float:
    """What users write today: one thread, decode -> detect -> track -> count."""
    # ONNX Runtime's defaults (spinning threads), as such a script has them.
    cfg = pipeline_cfg(
        model, [video], Path(tempfile.mkdtemp()), threads=threads, motion=False, batch=1, spin=True
    )
    det = load_detector(cfg.model)
    tracker = ByteTrack(cfg.tracker)
    rules = build_rules([r for r in cfg.rules if r.type == "line"], names=det.names, snapshots=None)
    cap = cv2.VideoCapture(str(video))
    det.detect(read_frames(video, 3))
    t0 = time.perf_counter()
    i = 0
    while i < n:
        ok, img = cap.read()
        if not ok:
            break
        frame = Frame(img, "cam0", i, i / 10.0)
        tracked = tracker.update(det.detect([img])[0], frame.pts)
        for r in rules:
            r.step(tracked, frame)
        i += 1
    cap.release()
    return i / (time.perf_counter() - t0)


def bench_pipeline(
    model: Path, videos: list[Path], n: int, threads: int, *, motion: bool | str = False, batch: int = 1
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pipeline_cfg(model, videos, Path(tmp) / "store", threads=threads, motion=motion, batch=batch)
        runner = Runner(cfg, max_frames=n)
        runner.detector.detect(read_frames(videos[0], 3))  # warm-up, like the raw bench
        res = runner.run()
    line = sorted(
        (str(e.attributes.get("direction")), round(e.start_pts, 1), e.source_id)
        for e in res.events
        if e.kind == "line_cross"
    )
    return {"summary": res.summary, "line_events": line}


def dynamic_batch_copy(model: Path, out: Path) -> Path:
    """A copy of a static-batch-1 Ultralytics ONNX export whose batch dimension is dynamic.

    Ultralytics writes the batch size into the head's Reshape targets; 0 in a Reshape target means
    "copy this dimension from the input", so those 1s become 0s. Checked bit-exact against the
    original on a batch of 4 before use.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    m = onnx.load(str(model))
    inits = {i.name: i for i in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            target = numpy_helper.to_array(inits[node.input[1]]).copy()
            if target.size and target[0] == 1:
                target[0] = 0
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(target, node.input[1]))
    for vi in [*m.graph.input, *m.graph.output]:
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    del m.graph.value_info[:]
    onnx.save(m, str(out))
    name = m.graph.input[0].name
    a = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in a.get_inputs()[0].shape]
    x = np.random.default_rng(0).random((4, *shape[1:])).astype(np.float32)
    ref = np.concatenate([a.run(None, {name: x[i : i + 1]})[0] for i in range(4)])
    if not np.allclose(ref, b.run(None, {name: x})[0], atol=1e-4):
        raise RuntimeError(f"{model}: dynamic-batch copy does not match the original")
    return out


def make_still_video(
    src: Path, out: Path, moving: int = 20, still: int = 80, total_moving: int = 200, seed: int = 0
) -> int:
    """Alternate `moving` real frames with `still` frozen copies (+ sensor noise); returns frame count."""
    rng = np.random.default_rng(seed)
    frames = read_frames(src, total_moving)
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
    n = 0
    for k in range(0, len(frames), moving):
        for f in frames[k : k + moving]:
            wr.write(f)
            n += 1
        last = frames[min(k + moving, len(frames)) - 1]
        for _ in range(still):
            noise = rng.normal(0, 2.0, last.shape)
            wr.write(np.clip(last.astype(np.float32) + noise, 0, 255).astype(np.uint8))
            n += 1
    wr.release()
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ASSETS / "models" / "yolov8n_coco_fp32_640.onnx")
    ap.add_argument("--video", type=Path, default=ASSETS / "videos" / "pedestrians_480x360.avi")
    ap.add_argument("--frames", type=int, default=200, help="Frames per stream (single-stream sections).")
    ap.add_argument("--streams", type=int, default=4, help="Sources in the multi-source section.")
    ap.add_argument(
        "--batch", type=int, default=4, help="max_batch for the multi-source run (if the model allows)."
    )
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads.")
    ap.add_argument("--sections", default="single,multi,motion", help="Comma-separated subset to run.")
    ap.add_argument(
        "--repeat", type=int, default=2, help="Interleaved repetitions (best of) in the single section."
    )
    ap.add_argument("--json", action="store_true", help="Print results as JSON.")
    args = ap.parse_args()
    if not args.model.is_file() or not args.video.is_file():
        print(f"missing model or video: {args.model} {args.video}", file=sys.stderr)
        return 2
    sections = set(args.sections.split(","))
    out: dict[str, Any] = {
        "model": str(args.model),
        "video": str(args.video),
        "frames": args.frames,
        "threads": args.threads,
    }
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    if "single" in sections:
        frames = read_frames(args.video, args.frames)
        # Best of `repeat` interleaved runs each; raw gets its best thread setting (spinning on or off).
        raws, serials, pipes = [], [], []
        for _ in range(args.repeat):
            raws += [
                bench_raw(args.model, frames, args.threads, spin=True),
                bench_raw(args.model, frames, args.threads),
            ]
            serials.append(bench_serial(args.model, args.video, args.frames, args.threads))
            pipes.append(bench_pipeline(args.model, [args.video], args.frames, args.threads))
        raw, serial = max(raws), max(serials)
        pipe = max(pipes, key=lambda p: p["summary"]["fps"])
        s = pipe["summary"]
        out["single"] = {
            "raw_fps": raw,
            "serial_fps": serial,
            "pipeline_fps": s["fps"],
            "pipeline_over_raw": s["fps"] / raw,
            "serial_over_raw": serial / raw,
            "stages_total_s": {k: v["total_s"] for k, v in s["stages"].items()},
        }
        log("\n== single stream (same model, same frames)")
        log(f"{'raw backend inference':34s} {raw:7.1f} fps   1.00")
        log(f"{'serial script (decode+det+track)':34s} {serial:7.1f} fps   {serial / raw:.2f} of raw")
        log(f"{'edgesight pipeline (full)':34s} {s['fps']:7.1f} fps   {s['fps'] / raw:.2f} of raw")
        log(
            "where the pipeline's time goes (s, summed per stage; decode/track/rules/store overlap inference):"
        )
        log("   " + "  ".join(f"{k}={v['total_s']:.2f}" for k, v in s["stages"].items()))

    if "multi" in sections:
        import onnxruntime as ort

        batch_dim = (
            ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[0]
        )
        with tempfile.TemporaryDirectory() as tmp:
            model = args.model
            note = "the model's own dynamic batch"
            if isinstance(
                batch_dim, int
            ):  # static batch: make a checked dynamic-batch copy to batch across sources
                model = dynamic_batch_copy(args.model, Path(tmp) / "dynamic_batch.onnx")
                note = "dynamic-batch copy of the static model, checked bit-exact"
            videos = [args.video] * args.streams
            one = bench_pipeline(model, [args.video], args.frames, args.threads, batch=1)["summary"]
            many1 = bench_pipeline(model, videos, args.frames, args.threads, batch=1)["summary"]
            many = bench_pipeline(model, videos, args.frames, args.threads, batch=args.batch)["summary"]
        out["multi"] = {
            "streams": args.streams,
            "single_fps": one["fps"],
            "aggregate_fps_unbatched": many1["fps"],
            "aggregate_fps_batched": many["fps"],
            "mean_batch": many["mean_batch"],
            "ratio_unbatched": many1["fps"] / one["fps"],
            "ratio_batched": many["fps"] / one["fps"],
            "batching": note,
        }
        log(f"\n== multi-source: {args.streams} copies of the video in one pipeline ({note})")
        log(f"1 stream                     {one['fps']:7.1f} fps")
        log(
            f"{args.streams} streams, batch 1           {many1['fps']:7.1f} fps aggregate ({many1['fps'] / one['fps']:.2f}x)"
        )
        log(
            f"{args.streams} streams, batch <= {args.batch}      {many['fps']:7.1f} fps aggregate "
            f"({many['fps'] / one['fps']:.2f}x), mean batch {many['mean_batch']}"
        )

    if "motion" in sections:
        with tempfile.TemporaryDirectory() as tmp:
            still = Path(tmp) / "still.avi"
            n = make_still_video(args.video, still)
            off = bench_pipeline(args.model, [still], n, args.threads, motion=False)
            on = bench_pipeline(args.model, [still], n, args.threads, motion=True)
        runs_off, runs_on = off["summary"]["detector_runs"], on["summary"]["detector_runs"]
        same = [(d, t) for d, t, _ in off["line_events"]] == [(d, t) for d, t, _ in on["line_events"]]
        out["motion"] = {
            "frames": n,
            "detector_runs_every_frame": runs_off,
            "detector_runs_gated": runs_on,
            "reduction": runs_off / max(runs_on, 1),
            "line_events_every_frame": off["line_events"],
            "line_events_gated": on["line_events"],
            "same_line_events": same,
            "fps_every_frame": off["summary"]["fps"],
            "fps_gated": on["summary"]["fps"],
        }
        log(f"\n== motion gate on a {n}-frame recording with long still periods")
        log(
            f"detector runs: every frame {runs_off}, gated {runs_on} -> {runs_off / max(runs_on, 1):.1f}x fewer"
        )
        log(f"fps: every frame {off['summary']['fps']:.1f}, gated {on['summary']['fps']:.1f}")
        log(f"line crossings every frame: {[(d, t) for d, t, _ in off['line_events']]}")
        log(f"line crossings gated:       {[(d, t) for d, t, _ in on['line_events']]}")
        log(f"same set of line-crossing events: {same}")
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

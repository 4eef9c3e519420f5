"""`edgesight eval MODEL --data DATASET` (COCO mAP) and `--reference REF --frames SRC` (fidelity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from edgesight.errors import ConfigError

__all__ = ["evaluate_dataset", "register"]

SMALL_DATASET = 500  # below this many images, mAP is plumbing, not evidence


def evaluate_dataset(
    model: Path, data: Path, split: str = "val", images_dir: Path | None = None, backend: str | None = None
) -> tuple[Any, list[dict[str, Any]], Any]:
    """Run ``model`` on a labeled dataset; returns (CocoResult, the COCO detections it scored, Dataset)."""
    import cv2

    from edgesight.evaluation.coco import detections_to_coco, evaluate_coco
    from edgesight.evaluation.datasets import load_dataset
    from edgesight.evaluation.predict import open_detector

    ds = load_dataset(data, split, images_dir)
    det = open_detector(model, backend)
    by_name = {v: k for k, v in ds.names.items()}
    category_of = {int(mid): by_name[n] for mid, n in det.names.items() if n in by_name}
    if not category_of:
        raise ConfigError(
            f"{data}: none of the model's classes ({', '.join(list(det.names.values())[:5])}...) is a dataset category "
            f"({', '.join(list(ds.names.values())[:5])}...)"
        )
    dets: list[dict[str, Any]] = []
    for image_id, path in ds.images:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        dets.extend(detections_to_coco(image_id, det.detect([img])[0], category_of))
    return evaluate_coco(ds.gt, dets), dets, ds


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        model: Path = typer.Argument(..., help="Model to evaluate (.onnx, OpenVINO .xml, .tflite)."),
        data: Path | None = typer.Option(
            None, "--data", help="Labeled dataset: YOLO dataset .yaml or COCO .json."
        ),
        split: str = typer.Option("val", "--split", help="YOLO yaml split to evaluate."),
        images: Path | None = typer.Option(None, "--images", help="COCO json: folder holding its images."),
        reference: Path | None = typer.Option(
            None, "--reference", help="Fidelity mode: reference model (e.g. the fp32 original)."
        ),
        frames: Path | None = typer.Option(
            None, "--frames", help="Fidelity mode: video file or image folder."
        ),
        frames_range: str = typer.Option(
            "0.5:1", "--frames-range", help="Fidelity mode: START:END fraction to sample."
        ),
        count: int = typer.Option(64, "--count", min=1, help="Fidelity mode: frames to sample."),
        backend: str | None = typer.Option(
            None, "--backend", help="onnxruntime, openvino or litert (default: from the file)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Accuracy: COCO mAP on a labeled dataset, or fidelity against a reference model.

        --data: mAP50, mAP50-95 and per-class AP (COCO protocol, faster-coco-eval) on a YOLO dataset
        yaml or a COCO json. --reference + --frames: fidelity against a reference model's detections
        on unlabeled frames.

        Fidelity: the reference's boxes with confidence >= 0.25 are the ground truth; frames MODEL was
        calibrated on (recorded by `edgesight optimize`) are excluded.
        """
        out = Console()
        if (reference is None) != (frames is None):
            raise ConfigError("fidelity mode needs both --reference REF_MODEL and --frames VIDEO_OR_FOLDER")
        if reference is not None and frames is not None:
            _fidelity(model, reference, frames, frames_range, count, backend, as_json, out)
            return
        if data is None:
            raise ConfigError("give --data DATASET (YOLO .yaml or COCO .json), or --reference and --frames")
        result, _, ds = evaluate_dataset(model, data, split, images, backend)
        small = len(ds.images) < SMALL_DATASET
        note = (
            f"{len(ds.images)} images: far too few for accuracy claims; this checks the plumbing only"
            if small
            else ""
        )
        if as_json:
            print(
                json.dumps(
                    {
                        "model": str(model),
                        "data": str(data),
                        "split": split,
                        **result.as_dict(),
                        "note": note,
                    },
                    indent=2,
                )
            )
            return
        table = Table(
            title=f"{model.name} on {data.name} ({split}): {result.images} images, {result.instances} boxes"
        )
        for c in ("class", "boxes", "AP50", "AP50-95"):
            table.add_column(c, justify="left" if c == "class" else "right")
        table.add_row("[bold]all[/]", str(result.instances), f"{result.map50:.4f}", f"{result.map50_95:.4f}")
        for c in result.per_class:
            table.add_row(c.name, str(c.instances), f"{c.ap50:.4f}", f"{c.ap50_95:.4f}")
        out.print(table)
        if note:
            out.print(f"[yellow]note[/] {note}", highlight=False)


def _fidelity(
    model: Path,
    reference: Path,
    frames: Path,
    frames_range: str,
    count: int,
    backend: str | None,
    as_json: bool,
    out: Console,
) -> None:
    from edgesight.evaluation.fidelity import fidelity
    from edgesight.evaluation.frames import parse_range, sample_frames
    from edgesight.evaluation.held_out import calibration_frames_of
    from edgesight.evaluation.predict import open_detector, predict

    exclude = calibration_frames_of(model, frames)
    sampled = sample_frames(frames, count, parse_range(frames_range, "--frames-range"), exclude)
    ref = open_detector(reference)
    ref_out = predict(ref, sampled.images)
    cand = predict(open_detector(model, backend), sampled.images)
    sizes = [(int(i.shape[0]), int(i.shape[1])) for i in sampled.images]
    res = fidelity(cand, ref_out, sizes, dict(ref.names))
    if as_json:
        print(
            json.dumps(
                {
                    "model": str(model),
                    "reference": str(reference),
                    "frame_indices": sampled.indices,
                    "excluded_calibration_frames": len(exclude),
                    **res.as_dict(),
                },
                indent=2,
            )
        )
        return
    a = res.agreement
    out.print(
        f"fidelity of {model.name} vs {reference.name} on {len(sampled)} frames of {frames.name} "
        f"(range {frames_range}, {len(exclude)} calibration frames excluded): mAP50 {res.map50:.4f}, "
        f"mAP50-95 {res.map50_95:.4f}; at conf 0.25: {a.matched}/{a.reference} reference boxes matched, "
        f"{a.candidate} predicted (F1 {a.f1:.3f}, mean IoU {a.mean_iou:.3f})",
        highlight=False,
    )
    table = Table(title="per class (reference boxes as ground truth)")
    for col in ("class", "ref boxes", "AP50", "AP50-95"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for ap in res.coco.per_class:
        table.add_row(ap.name, str(ap.instances), f"{ap.ap50:.4f}", f"{ap.ap50_95:.4f}")
    out.print(table)

"""`edgesight detect IMAGE --model M`: run a detector on still images and print what it found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from edgesight.errors import ModelError, SourceError

__all__ = ["register"]


def _backend_config(name: str | None, threads: int) -> Any:
    if name is None:
        return None
    from edgesight.inference.backends import BACKENDS

    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name][1].model_validate({"type": name, "threads": threads})


def register(app: typer.Typer) -> None:
    @app.command("detect")
    def detect(
        images: list[Path] = typer.Argument(
            ..., help="Image file(s) (.jpg, .png, .bmp).", show_default=False
        ),
        model: Path = typer.Option(..., "--model", "-m", help="Model file: .onnx, .tflite or OpenVINO .xml."),
        backend: str | None = typer.Option(
            None, "--backend", "-b", help="onnxruntime, openvino or litert (default: from the file type)."
        ),
        labels: Path | None = typer.Option(
            None, "--labels", help="Labels file, when the model carries no names."
        ),
        confidence: float = typer.Option(0.25, "--conf", min=0.0, max=1.0, help="Minimum confidence."),
        iou: float = typer.Option(0.45, "--iou", min=0.01, max=1.0, help="NMS IoU threshold."),
        classes: str | None = typer.Option(None, "--classes", help="Comma-separated class names to keep."),
        multi_label: bool = typer.Option(
            False,
            "--multi-label",
            help="Keep every class above threshold per box, not only its best (classes sharing a box).",
        ),
        threads: int = typer.Option(
            0, "--threads", min=0, help="Inference threads (0 = the runtime's default)."
        ),
        save: Path | None = typer.Option(
            None, "--save", help="Write annotated copies into this folder (same file names)."
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print JSON (one object per image) instead of tables."
        ),
    ) -> None:
        """Detect objects in IMAGES with MODEL and print a table per image (boxes in image pixels)."""
        import cv2
        from rich.console import Console
        from rich.table import Table

        from edgesight.config import ModelConfig
        from edgesight.inference.detector import load_detector

        cfg = ModelConfig.model_validate(
            {
                "path": model,
                "backend": _backend_config(backend, threads),
                "labels": labels,
                "confidence": confidence,
                "iou": iou,
                "classes": [c.strip() for c in classes.split(",") if c.strip()] if classes else None,
                "multi_label": multi_label,
            }
        )
        detector = load_detector(cfg)
        console = Console()
        report: list[dict[str, Any]] = []
        if not as_json:
            console.print(f"[bold]{detector.describe()}[/]", highlight=False)
        for path in images:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise SourceError(f"cannot read image {path} (missing, or not an image OpenCV can decode)")
            [dets] = detector.detect([frame])
            timings = {k: round(v * 1000, 2) for k, v in detector.last_timings.items()}
            rows: list[dict[str, Any]] = [
                {
                    "class_id": int(c),
                    "class_name": n,
                    "confidence": round(float(p), 4),
                    "xyxy": [round(float(v), 1) for v in box],
                }
                for c, n, p, box in zip(
                    dets.class_id, dets.class_names, dets.confidence, dets.xyxy, strict=True
                )
            ]
            report.append(
                {
                    "image": str(path),
                    "width": frame.shape[1],
                    "height": frame.shape[0],
                    "timings_ms": timings,
                    "detections": rows,
                }
            )
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                out = frame.copy()
                for r in rows:
                    x1, y1, x2, y2 = (round(v) for v in r["xyxy"])
                    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 200, 255), 2)
                    cv2.putText(
                        out,
                        f"{r['class_name']} {r['confidence']:.2f}",
                        (x1, max(12, y1 - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX,
                        0.5,
                        (0, 200, 255),
                        1,
                        cv2.LINE_AA,
                    )
                cv2.imwrite(str(save / path.name), out)
            if as_json:
                continue
            table = Table(title=f"{path.name} ({frame.shape[1]}x{frame.shape[0]}): {len(rows)} detection(s)")
            for col in ("#", "class", "conf", "x1", "y1", "x2", "y2"):
                table.add_column(col, justify="left" if col == "class" else "right")
            for i, r in enumerate(rows):
                table.add_row(
                    str(i), r["class_name"], f"{r['confidence']:.3f}", *(f"{v:.0f}" for v in r["xyxy"])
                )
            console.print(table)
            console.print(
                f"preprocess {timings['preprocess']:.1f} ms, infer {timings['infer']:.1f} ms, "
                f"postprocess {timings['postprocess']:.1f} ms",
                highlight=False,
            )
        if as_json:
            print(
                json.dumps(
                    {"model": str(model), "backend": detector.backend.kind, "images": report}, indent=2
                )
            )

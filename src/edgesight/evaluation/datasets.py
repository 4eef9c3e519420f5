"""Labeled detection datasets as COCO ground truth: Ultralytics YOLO yaml (coco8.yaml) or COCO json.

Boxes in the ground truth are COCO ``[x, y, width, height]`` in image pixels. Category ids follow the
dataset: YOLO class index for YOLO datasets, the json's own ids for COCO json (matched to the
model's classes by name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edgesight.errors import ConfigError, SourceError
from edgesight.evaluation.frames import IMAGE_SUFFIXES

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Attributes: images (id, path), gt (COCO dataset dict), names (category id -> name), kind."""

    images: list[tuple[int, Path]]
    gt: dict[str, Any]
    names: dict[int, str]
    kind: str
    source: Path


def _names(raw: Any, where: Path) -> dict[int, str]:
    if isinstance(raw, dict):
        return {int(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return dict(enumerate(str(v) for v in raw))
    raise ConfigError(f"{where}: 'names' must be a mapping or list of class names, got {type(raw).__name__}")


def _yolo_root(cfg: dict[str, Any], yaml_path: Path) -> Path:
    """The dataset root: ``path`` as given, relative to the yaml, or the yaml's own folder."""
    raw = cfg.get("path")
    candidates = []
    if raw:
        p = Path(str(raw))
        candidates += [p] if p.is_absolute() else [yaml_path.parent / p, Path.cwd() / p]
    candidates.append(yaml_path.parent)
    for c in candidates:
        if c.is_dir():
            return c
    return yaml_path.parent


def _image_files(spec: Any, root: Path, where: Path) -> list[Path]:
    specs = spec if isinstance(spec, list) else [spec]
    files: list[Path] = []
    for s in specs:
        p = Path(str(s))
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                if line.strip():
                    q = Path(line.strip())
                    files.append(q if q.is_absolute() else root / q)
        else:
            raise SourceError(f"{where}: split folder or list {p} not found")
    if not files:
        raise SourceError(f"{where}: no images found in {', '.join(str(s) for s in specs)}")
    return files


def _label_path(img: Path) -> Path:
    parts = list(img.parts)
    for i in range(len(parts) - 1, -1, -1):  # Ultralytics: last /images/ -> /labels/
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _load_yolo(path: Path, split: str) -> Dataset:
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable dataset yaml ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or "names" not in cfg:
        raise ConfigError(f"{path}: expected an Ultralytics dataset yaml with 'names' and '{split}:' keys")
    if not cfg.get(split):
        raise ConfigError(f"{path}: no '{split}' split (keys: {', '.join(k for k in cfg if cfg[k])})")
    names = _names(cfg["names"], path)
    root = _yolo_root(cfg, path)
    files = _image_files(cfg[split], root, path)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    items: list[tuple[int, Path]] = []
    for i, f in enumerate(files, start=1):
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"{f}: not a readable image")
        h, w = img.shape[:2]
        images.append({"id": i, "file_name": f.name, "width": w, "height": h})
        items.append((i, f))
        lp = _label_path(f)
        if not lp.is_file():
            continue  # an image without a label file has no objects (Ultralytics convention)
        for n, line in enumerate(lp.read_text().splitlines(), start=1):
            vals = line.split()
            if not vals:
                continue
            if len(vals) < 5:
                raise SourceError(f"{lp}:{n}: expected 'class cx cy w h' (normalized), got {line!r}")
            c = int(float(vals[0]))
            cx, cy, bw, bh = (float(v) for v in vals[1:5])
            bw_px, bh_px = bw * w, bh * h
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": [cx * w - bw_px / 2, cy * h - bh_px / 2, bw_px, bh_px],
                    "area": bw_px * bh_px,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k, "name": v} for k, v in sorted(names.items())]
    gt = {"images": images, "annotations": annotations, "categories": cats}
    return Dataset(items, gt, names, "yolo", path)


def _load_coco(path: Path, images_dir: Path | None) -> Dataset:
    try:
        gt = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable COCO json ({str(exc).splitlines()[0]})") from None
    if not isinstance(gt, dict) or not {"images", "annotations", "categories"} <= set(gt):
        raise ConfigError(f"{path}: expected a COCO json with images, annotations and categories")
    base = images_dir or path.parent
    items = []
    for im in gt["images"]:
        p = base / im["file_name"]
        if not p.is_file():
            alt = base / "images" / im["file_name"]
            if not alt.is_file():
                raise SourceError(
                    f"{path}: image {im['file_name']} not found under {base} (use --images DIR)"
                )
            p = alt
        items.append((int(im["id"]), p))
    names = {int(c["id"]): str(c["name"]) for c in gt["categories"]}
    return Dataset(items, gt, names, "coco", path)


def load_dataset(path: Path, split: str = "val", images_dir: Path | None = None) -> Dataset:
    """Load a YOLO dataset yaml (``split`` images + labels) or a COCO json (images under ``images_dir``).

    Raises:
        ConfigError: unknown format or malformed file. SourceError: images/labels missing or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"dataset not found: {p} (expected a YOLO dataset .yaml or a COCO .json)")
    if p.suffix.lower() in (".yaml", ".yml"):
        return _load_yolo(p, split)
    if p.suffix.lower() == ".json":
        return _load_coco(p, images_dir)
    raise ConfigError(f"{p}: unknown dataset format {p.suffix!r}: expected a YOLO .yaml or a COCO .json")

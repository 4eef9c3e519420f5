"""Model metadata the file itself carries (Ultralytics ``metadata_props``) and labels files."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesight.errors import ModelError

__all__ = ["ModelMetadata", "load_labels", "parse_metadata"]

_BACKGROUND = {"???", "background", "__background__"}


@dataclass(frozen=True)
class ModelMetadata:
    """What the model file says about itself (all optional).

    Attributes:
        task: Ultralytics task ("detect", "segment", "pose", "classify", "obb"), or None.
        names: class id -> name.
        imgsz: (height, width) the model was exported for.
        stride: maximum stride of the network.
        end2end: outputs are already NMS-ed boxes [1, N, 6] (x1, y1, x2, y2, score, class).
    """

    task: str | None = None
    names: dict[int, str] = field(default_factory=dict)
    imgsz: tuple[int, int] | None = None
    stride: int | None = None
    end2end: bool = False


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def parse_metadata(props: Mapping[str, str], where: str = "model") -> ModelMetadata:
    """Parse Ultralytics-style metadata strings (python literals such as ``"{0: 'person', ...}"``).

    Raises:
        ModelError: ``names`` is present but is not a dict/list of class names.
    """
    names: dict[int, str] = {}
    if "names" in props:
        raw = _literal(props["names"])
        if isinstance(raw, (list, tuple)):
            raw = dict(enumerate(raw))
        if not isinstance(raw, dict):
            raise ModelError(
                f"{where}: metadata 'names' is not a class-name dict (got {props['names'][:60]!r})"
            )
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise ModelError(
                f"{where}: metadata 'names' keys must be class ids (got {props['names'][:60]!r})"
            ) from None
    imgsz: tuple[int, int] | None = None
    if "imgsz" in props:
        raw = _literal(props["imgsz"])
        if isinstance(raw, int):
            imgsz = (raw, raw)
        elif isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
            imgsz = (int(raw[0]), int(raw[1]))
    stride = _literal(props.get("stride", "None"))
    end2end = str(props.get("end2end", "")).strip().lower() == "true"
    args = _literal(props.get("args", "None"))
    if isinstance(args, dict) and args.get("nms") is True:
        end2end = True
    task = props.get("task")
    return ModelMetadata(
        task=task.strip() if task else None,
        names=names,
        imgsz=imgsz,
        stride=stride if isinstance(stride, int) else None,
        end2end=end2end,
    )


def load_labels(path: Path) -> tuple[dict[int, str], int]:
    """Read a labels file: one class name per line.

    When the first line is a background entry (``???``, ``background``), class id k is
    ``lines[k + 1]`` (the TensorFlow COCO labels convention). ``???`` entries mark unused ids and
    are dropped from the mapping.

    Returns:
        (names, size): class id -> name, and the number of class ids the file spans.

    Raises:
        ModelError: the file is missing, unreadable or empty.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"labels file not found: {p}")
    try:
        lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read labels file {p}: {exc}") from None
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ModelError(f"labels file is empty: {p}")
    offset = 1 if lines[0].lower() in _BACKGROUND else 0
    body = lines[offset:]
    names = {i: name for i, name in enumerate(body) if name and name != "???"}
    return names, len(body)

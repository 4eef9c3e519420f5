"""Keep evaluation frames apart from the frames a model was calibrated on.

``edgesight optimize`` records its calibration source (file name, size) and frame indices in the
model's ``edgesight.quantization`` metadata; evaluation and benchmarks read it back and exclude
those frames when they sample the same source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["calibration_frames_of", "calibration_record"]


def calibration_record(
    source: Path, indices: Sequence[int], frame_range: tuple[float, float]
) -> dict[str, Any]:
    """What to store in the model about its calibration frames."""
    p = Path(source)
    size = p.stat().st_size if p.is_file() else None
    return {
        "calibration_source": p.name,
        "calibration_source_bytes": size,
        "calibration_range": list(frame_range),
        "calibration_indices": [int(i) for i in indices],
    }


def calibration_frames_of(model: Path, source: Path) -> set[int]:
    """Indices of ``source``'s frames that ``model`` was calibrated on (empty when none/unknown)."""
    p = Path(model)
    if p.suffix.lower() != ".onnx" or not p.is_file():
        return set()
    import onnx

    try:
        m = onnx.load(str(p), load_external_data=False)
    except Exception:
        return set()
    meta = {x.key: x.value for x in m.metadata_props}
    try:
        rec = json.loads(meta.get("edgesight.quantization", "{}"))
    except ValueError:
        return set()
    src = Path(source)
    if rec.get("calibration_source") != src.name:
        return set()
    size = rec.get("calibration_source_bytes")
    if size is not None and src.is_file() and src.stat().st_size != size:
        return set()
    return {int(i) for i in rec.get("calibration_indices", [])}

"""Verify an export: run it beside its source on the same inputs and compare outputs and detections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.evaluation.fidelity import FidelityResult, fidelity
from edgesight.evaluation.predict import open_detector, predict

__all__ = ["Verification", "verify_export"]


@dataclass(frozen=True)
class Verification:
    """Attributes: max_abs_diff per output (raw tensors, same input), and detection fidelity of the
    export against the source (mAP50 with the source's boxes >= 0.25 as ground truth, plus matches)."""

    max_abs_diff: list[float]
    output_names: list[str]
    fidelity: FidelityResult
    frames: int

    @property
    def passed(self) -> bool:
        return self.fidelity.agreement.f1 >= 0.95 and self.fidelity.map50 >= 0.95

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_abs_diff": dict(zip(self.output_names, self.max_abs_diff, strict=True)),
            "frames": self.frames,
            "detections": self.fidelity.as_dict(),
            "passed": self.passed,
        }


def verify_export(source: Path, exported: Path, images: Sequence[np.ndarray]) -> Verification:
    """Compare ``exported`` with ``source`` on ``images`` ((H, W, 3) uint8 BGR).

    Raw outputs are compared on the same preprocessed tensor (max |a - b| per output); detections
    with each model's own runtime (the export's default backend).
    """
    from edgesight.inference import open_backend
    from edgesight.optimize.quantize import calibration_tensors

    name, tensors = calibration_tensors(source, images)
    a = open_backend(Path(source))
    b = open_backend(Path(exported))
    diffs = [0.0] * len(a.outputs)
    for x in tensors:
        out_a = a.run({name: x})
        out_b = b.run({b.inputs[0].name: x.astype(b.inputs[0].dtype)})
        for i, (ya, yb) in enumerate(zip(out_a, out_b, strict=False)):
            if ya.shape == yb.shape:
                diffs[i] = max(diffs[i], float(np.max(np.abs(ya.astype(np.float64) - yb.astype(np.float64)))))
            else:
                diffs[i] = float("nan")
    ref_det = open_detector(Path(source))
    reference = predict(ref_det, images)
    candidate = predict(open_detector(Path(exported)), images)
    sizes = [(int(i.shape[0]), int(i.shape[1])) for i in images]
    fid = fidelity(candidate, reference, sizes, dict(ref_det.names))
    return Verification(diffs, [o.name for o in a.outputs], fid, len(images))

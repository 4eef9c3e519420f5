"""Prove accuracy: COCO-protocol mAP on labeled data, and fidelity against a reference model."""

from edgesight.evaluation.coco import ClassAP, CocoResult, detections_to_coco, evaluate_coco
from edgesight.evaluation.fidelity import FidelityResult, agreement, fidelity
from edgesight.evaluation.frames import SampledFrames, sample_frames

__all__ = [
    "ClassAP",
    "CocoResult",
    "FidelityResult",
    "SampledFrames",
    "agreement",
    "detections_to_coco",
    "evaluate_coco",
    "fidelity",
    "sample_frames",
]

"""Shrink models: static int8 (detection-aware, accuracy-controlled), fp16, magnitude pruning."""

from edgesight.optimize.accuracy_control import ControlResult, accuracy_controlled_int8, rank_sensitivity
from edgesight.optimize.detection_head import TailNode, find_decode_tail
from edgesight.optimize.prune import PruneReport, prune_model
from edgesight.optimize.quantize import (
    QuantizeReport,
    QuantizeSettings,
    calibration_tensors,
    convert_fp16,
    quantize_int8,
)

__all__ = [
    "ControlResult",
    "PruneReport",
    "QuantizeReport",
    "QuantizeSettings",
    "TailNode",
    "accuracy_controlled_int8",
    "calibration_tensors",
    "convert_fp16",
    "find_decode_tail",
    "prune_model",
    "quantize_int8",
    "rank_sensitivity",
]

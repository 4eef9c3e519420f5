"""Side-by-side model benchmarks (`edgesight bench`)."""

from edgesight.benchmark.model_info import ModelInfo, describe_model
from edgesight.benchmark.runner import BenchRow, BenchSettings, run_benchmark

__all__ = ["BenchRow", "BenchSettings", "ModelInfo", "describe_model", "run_benchmark"]

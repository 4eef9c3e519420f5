"""edgesight: computer vision at the edge.

The public Python API (everything else is internal and may change)::

    from edgesight import PipelineConfig, Runner, load_config

    result = Runner(load_config("pipeline.yaml")).run()      # RunResult: summary + events
    print(result.summary["fps"], result.summary["events"])

Names are imported lazily, so ``import edgesight`` stays cheap on a small device.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Detections": "edgesight.types",
    "Event": "edgesight.types",
    "Frame": "edgesight.types",
    "EdgesightError": "edgesight.errors",
    "ConfigError": "edgesight.errors",
    "ModelError": "edgesight.errors",
    "SourceError": "edgesight.errors",
    "PipelineConfig": "edgesight.config",
    "load_config": "edgesight.config",
    "Runner": "edgesight.pipeline.runner",
    "RunResult": "edgesight.pipeline.runner",
    "load_detector": "edgesight.inference",
    "ByteTrack": "edgesight.tracking",
    "EventStore": "edgesight.store",
}

__all__ = [
    "ByteTrack",
    "ConfigError",
    "Detections",
    "EdgesightError",
    "Event",
    "EventStore",
    "Frame",
    "ModelError",
    "PipelineConfig",
    "RunResult",
    "Runner",
    "SourceError",
    "__version__",
    "load_config",
    "load_detector",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgesight' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)

"""Fit a model to silicon: graph IR, cost, TFLite Micro memory plan, hardware catalog, estimates.

Typical use::

    from edgesight.profile import load_catalog, load_graph, profile_model, recommend

    graph = load_graph("model.tflite")
    catalog = load_catalog()
    prof = profile_model(graph, catalog, catalog)
    rec = recommend(prof, fps=10, max_watts=5)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Lazy: `edgesight --help` imports the CLI module of this package and must stay fast.
_EXPORTS = {
    "ArenaEstimate": "tflm_arena",
    "Graph": "graph",
    "GraphCost": "cost",
    "MemoryPlan": "memory_planner",
    "ModelProfile": "fit",
    "Recommendation": "fit",
    "Target": "catalog",
    "estimate_tflm_arena": "tflm_arena",
    "graph_cost": "cost",
    "load_catalog": "catalog",
    "load_graph": "graph",
    "plan_tflm": "memory_planner",
    "profile_model": "fit",
    "recommend": "fit",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"edgesight.profile.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edgesight.profile' has no attribute {name!r}")


__all__ = [
    "ArenaEstimate",
    "Graph",
    "GraphCost",
    "MemoryPlan",
    "ModelProfile",
    "Recommendation",
    "Target",
    "estimate_tflm_arena",
    "graph_cost",
    "load_catalog",
    "load_graph",
    "plan_tflm",
    "profile_model",
    "recommend",
]

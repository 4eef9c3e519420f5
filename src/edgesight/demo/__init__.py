"""The embedded default: a synthetic industrial site, its ground truth, the bundled model and pipeline.

- :mod:`edgesight.demo.scene`: deterministic scene generator (frames + exact ground truth).
- :mod:`edgesight.demo.score`: events versus ground-truth events -> precision/recall per kind.
- ``model.onnx`` / ``model_card.json`` / ``pipeline.yaml``: the bundled detector and pipeline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["CLASS_NAMES", "asset_path"]

#: Classes of the bundled demo model, in model output order.
CLASS_NAMES: tuple[str, ...] = ("person", "hard_hat", "head", "forklift", "part", "defect")


def asset_path(name: str) -> Path:
    """Path of a file shipped in this package (``model.onnx``, ``model_card.json``, ``pipeline.yaml``)."""
    return Path(str(resources.files("edgesight.demo").joinpath(name)))

"""The public API is explicit and stays as intended (adding a name is a decision, made here)."""

from __future__ import annotations

import subprocess
import sys

import edgesight

EXPECTED = {
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
}


def test_all_is_as_intended_and_resolves() -> None:
    assert set(edgesight.__all__) == EXPECTED
    for name in edgesight.__all__:
        assert getattr(edgesight, name) is not None


def test_import_is_cheap() -> None:
    """`import edgesight` must not pull inference runtimes (lazy names)."""
    code = "import sys, edgesight; print(','.join(m for m in ('onnxruntime', 'cv2', 'openvino') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""

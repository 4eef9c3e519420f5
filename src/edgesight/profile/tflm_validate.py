"""Measure the real TFLite Micro arena with the `tflite-micro` Python interpreter.

The interpreter's RecordingMicroAllocator prints its arena usage on C-level stderr; we capture it
by pointing file descriptor 2 at a temporary file for the call (Python's `sys.stderr` never sees
it), then parse the lines:

    [RecordingMicroAllocator] Arena allocation total 85264 bytes
    [RecordingMicroAllocator] Arena allocation head 55296 bytes
    [RecordingMicroAllocator] Arena allocation tail 29968 bytes
    [RecordingMicroAllocator] 'Persistent buffer data' used 24304 bytes ...
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from edgesight.errors import ConfigError, ModelError

__all__ = ["MeasuredArena", "measure_tflm_arena"]

_TOTAL = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_PART = re.compile(r"'([^']+)' used (\d+) bytes")


@dataclass(frozen=True)
class MeasuredArena:
    """Arena usage the TFLM interpreter reported after one invoke.

    Attributes:
        total_bytes: head + tail.
        head_bytes: non-persistent part (planned activations + scratch buffers).
        tail_bytes: persistent part (runtime structs, kernel data, variable tensors).
        parts: the recording allocator's per-category bytes for the tail.
    """

    total_bytes: int
    head_bytes: int
    tail_bytes: int
    parts: dict[str, int] = field(default_factory=dict)


def measure_tflm_arena(model: bytes, arena_size: int | None = None) -> MeasuredArena:
    """Load `model` in the TFLM Python interpreter, invoke it once on zeros, read its arena usage.

    Args:
        model: `.tflite` file bytes.
        arena_size: arena given to the interpreter (bytes); default 8 MiB, enough for MCU models.

    Raises:
        ModelError: the interpreter refused the model (unsupported op, bad file...).
        ConfigError: the tflite-micro runtime is not installed (`tflm` extra).
    """
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise ConfigError("--validate needs the TFLite Micro runtime: pip install 'edgesight[tflm]'") from exc

    errors: list[str] = []
    text = _capture_fd2(lambda: _run(runtime, model, arena_size or 8 * 1024 * 1024, errors))
    if errors:
        detail = " | ".join(line.strip() for line in text.splitlines() if line.strip())[:300]
        raise ModelError(
            f"the TFLite Micro interpreter rejected the model: {errors[0]}"
            + (f" ({detail})" if detail else "")
        )
    totals = {m.group(1): int(m.group(2)) for m in _TOTAL.finditer(text)}
    if "total" not in totals:
        raise ModelError(f"the TFLM interpreter printed no arena usage: {text.strip()[:200]!r}")
    return MeasuredArena(
        total_bytes=totals["total"],
        head_bytes=totals.get("head", 0),
        tail_bytes=totals.get("tail", 0),
        parts={m.group(1): int(m.group(2)) for m in _PART.finditer(text)},
    )


def _run(runtime: object, model: bytes, arena_size: int, errors: list[str]) -> None:
    try:
        interp = runtime.Interpreter.from_bytes(model, arena_size=arena_size)  # type: ignore[attr-defined]
        n_in = 0
        while True:
            try:
                d = interp.get_input_details(n_in)
            except (IndexError, RuntimeError, ValueError):
                break
            interp.set_input(np.zeros(d["shape"], dtype=d["dtype"]), n_in)
            n_in += 1
        interp.invoke()
        interp.print_allocations()
    except (RuntimeError, ValueError) as exc:
        errors.append(str(exc))


def _capture_fd2(fn: object) -> str:
    """Run `fn()` with C-level stderr redirected to a temp file; return what was written."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()  # type: ignore[operator]
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", errors="replace")

"""User-facing errors: the CLI prints them as one line and exits non-zero, no traceback."""

from __future__ import annotations

__all__ = ["ConfigError", "EdgesightError", "ModelError", "SourceError"]


class EdgesightError(Exception):
    """An expected failure caused by the user's input (file, model, config, source)."""

    exit_code = 2


class ConfigError(EdgesightError):
    """A configuration file is missing, unreadable or invalid."""


class ModelError(EdgesightError):
    """A model file is missing, corrupt, or of a layout edgesight cannot decode."""


class SourceError(EdgesightError):
    """A video source cannot be opened or read."""

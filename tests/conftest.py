"""Shared fixtures. Tests needing ../shared/assets skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"


@pytest.fixture(scope="session")
def assets() -> Path:
    """Root of the shared real test assets (models, video, images, coco8)."""
    if not (ASSETS / "MANIFEST.md").is_file():
        pytest.skip(f"shared test assets not found at {ASSETS}")
    return ASSETS

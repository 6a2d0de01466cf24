"""Shared fixtures: where the real test data lives, and skipping clearly when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ``../shared`` (beside the checkout), or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path} (the ../shared folder is not beside this checkout)")
    return path


@pytest.fixture
def intel_clip() -> Path:
    return shared_path("data", "intel-sample-videos", "one-by-one-person-detection.mp4")


@pytest.fixture
def aisle_gif() -> Path:
    return shared_path("data", "intel-sample-videos", "store-aisle-detection.gif")

"""Time buckets shared by heatmap tiles and line counts."""

from __future__ import annotations

import math


def bucket_start(t: float, bucket_seconds: int) -> float:
    """Start (Unix seconds) of the wall-clock bucket holding ``t``."""
    return math.floor(t / bucket_seconds) * bucket_seconds

"""The hour and the UTC day that rollups are bucketed by, shared by ingest (which sums into them) and the API
(which reads them back): neither imports the other for them."""

from __future__ import annotations

from typing import Final

HOUR: Final = 3600
DAY: Final = 86_400


def hour_of(ts: float) -> int:
    """The start of the hour ``ts`` lies in (epoch seconds)."""
    return int(ts // HOUR) * HOUR


def day_of(ts: float) -> int:
    """The start of the UTC day ``ts`` lies in (epoch seconds)."""
    return int(ts // DAY) * DAY

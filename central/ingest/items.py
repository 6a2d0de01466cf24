"""What one push carries, after conversion from protobuf: plain rows the validator and writer share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, NamedTuple

import numpy as np


class Kind(str, Enum):
    SUMMARY = "summary"
    TILE = "tile"
    LINE_COUNT = "line_count"


class Status(str, Enum):
    STORED = "stored"  # committed by this call
    DUPLICATE = "duplicate"  # stored by an earlier call
    REJECTED = "rejected"  # bad data: resending it as is cannot help
    RETRY = "retry"  # transient failure: resend later


class ItemResult(NamedTuple):  # a tuple: made for every pushed item, ten times cheaper than a frozen dataclass
    kind: Kind
    key: str
    status: Status
    reason: str = ""


def bucket_key(ts: float) -> str:
    """A bucket start as it appears in keys: ISO 8601 UTC, second precision when whole."""
    try:
        moment = datetime.fromtimestamp(ts, timezone.utc)
    except (ValueError, OverflowError, OSError):  # missing (NaN) or absurd: the validator says why
        return "invalid-time"
    text = moment.isoformat(timespec="seconds" if ts == int(ts) else "milliseconds")
    return text.replace("+00:00", "Z")


@dataclass
class SummaryIn:
    """A track summary as a ``track_summaries`` row plus the parsed parts validation and rollups need."""

    row: dict[str, Any]
    zone_dwell: list[tuple[str, float, int]]
    zone_order: list[str]
    path: np.ndarray  # (N, 3) [t, x, y] as received; the row holds it packed (central.db.paths)
    probabilities: dict[str, float]
    problem: str | None = None  # what kept the message from being decoded (the path is then empty)

    @property
    def key(self) -> str:
        return str(self.row["track_id"])


@dataclass
class TileIn:
    row: dict[str, Any]  # heatmap_tiles row; cells as float32 bytes
    values: list[float]

    @property
    def key(self) -> str:
        return f"{self.row['camera_id']}/{bucket_key(self.row['bucket_start'])}"


@dataclass
class LineCountIn:
    row: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.row['camera_id']}/{self.row['line_id']}/{bucket_key(self.row['bucket_start'])}"


@dataclass
class Batch:
    agent_id: str
    store_id: str
    batch_id: str
    summaries: list[SummaryIn] = field(default_factory=list)
    tiles: list[TileIn] = field(default_factory=list)
    line_counts: list[LineCountIn] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.summaries) + len(self.tiles) + len(self.line_counts)

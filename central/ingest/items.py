"""What one push carries, after conversion from protobuf: its summaries as columns, its tiles and counts as rows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, NamedTuple

import numpy as np
import orjson

from central.db.schema import track_summaries, written_columns


class Kind(str, Enum):
    SUMMARY = "summary"
    TILE = "tile"
    LINE_COUNT = "line_count"
    CAMERA_UPTIME = "camera_uptime"


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


SUMMARY_COLUMNS = tuple(c.name for c in written_columns(track_summaries))
_NUMBERS = ("start_ts", "end_ts", "distance_m", "mean_speed_mps", "max_speed_mps", "stop_count")
_TEXTS = ("track_id", "store_id", "camera_id", "behavior", "detector_model", "behavior_model")
ZoneDwell = tuple[str, float, int]  # zone id, seconds, visits


@dataclass
class SummaryColumns:
    """A push's track summaries as columns: entry ``i`` of every field belongs to summary ``i``.

    Validation, rollups and the insert work column by column, with one array
    operation per rule rather than Python objects per summary and field: at tens
    of thousands of summaries a second, that Python was the whole cost of ingest.
    """

    track_id: list[str]
    store_id: list[str]
    camera_id: list[str]
    start_ts: np.ndarray  # epoch seconds (float64), NaN where not set
    end_ts: np.ndarray
    distance_m: np.ndarray
    mean_speed_mps: np.ndarray
    max_speed_mps: np.ndarray
    stop_count: np.ndarray  # int64
    behavior: list[str | None]  # None until classified
    probabilities: list[dict[str, float]]
    zone_dwell: list[list[ZoneDwell]]
    zone_order: list[list[str]]
    path_counts: np.ndarray  # int64: points of each path
    points: np.ndarray  # (sum of path_counts, 3) [t, x, y]: every path as received, one after another
    stored_paths: list[bytes]  # each path as ``track_summaries.path`` holds it (central.db.paths)
    detector_model: list[str]
    behavior_model: list[str]
    received_at: float

    def __len__(self) -> int:
        return len(self.track_id)

    @property
    def dwell_s(self) -> np.ndarray:
        dwell: np.ndarray = self.end_ts - self.start_ts
        return dwell

    def confidence(self, i: int) -> float | None:
        """The probability the agent gave summary ``i``'s label (None when unclassified or not given)."""
        label = self.behavior[i]
        value = self.probabilities[i].get(label) if label is not None else None
        return float(value) if value is not None else None

    @functools.cached_property
    def path_offsets(self) -> np.ndarray:
        """Where each summary's points start in :attr:`points`, and (last entry) where they end."""
        return np.concatenate([[0], np.cumsum(self.path_counts)])

    def path(self, i: int) -> np.ndarray:
        return self.points[self.path_offsets[i] : self.path_offsets[i + 1]]

    def values(self, column: str, index: Sequence[int]) -> list[Any]:
        """A ``track_summaries`` column's values for the summaries at ``index``, as written."""
        at = np.asarray(index, dtype=np.int64)
        out: list[Any]
        if column in _NUMBERS:
            out = getattr(self, column)[at].tolist()
        elif column == "dwell_s":
            out = (self.end_ts[at] - self.start_ts[at]).tolist()
        elif column == "received_at":
            out = [self.received_at] * len(index)
        elif column == "behavior_confidence":
            out = [self.confidence(i) for i in index]
        elif column == "probabilities":
            sort = orjson.OPT_SORT_KEYS  # a map's order is the sender's: store one
            out = [orjson.dumps(p, option=sort).decode() if p else None for p in (self.probabilities[i] for i in index)]
        elif column in ("zone_dwell", "zone_order"):
            source = getattr(self, column)
            out = [orjson.dumps(source[i]).decode() for i in index]
        elif column == "path":
            out = [self.stored_paths[i] for i in index]
        elif column in _TEXTS:
            source = getattr(self, column)
            out = [source[i] for i in index]
        else:
            raise KeyError(f"track_summaries has no column {column!r} that ingest writes")
        return out

    def rows(self, columns: Sequence[str], index: Sequence[int]) -> list[tuple[Any, ...]]:
        """The summaries at ``index`` as tuples of ``columns`` values."""
        return list(zip(*(self.values(c, index) for c in columns), strict=True))

    def row(self, i: int) -> dict[str, Any]:
        """Summary ``i`` as its ``track_summaries`` row."""
        return {c: self.values(c, [i])[0] for c in SUMMARY_COLUMNS}

    def item(self, i: int) -> SummaryIn:
        """Summary ``i`` on its own, as the per-item checks read it."""
        return SummaryIn(
            self.row(i),
            self.zone_dwell[i],
            self.zone_order[i],
            self.path(i),
            self.probabilities[i],
        )


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
class UptimeIn:
    """How long a camera delivered frames in one bucket (a ``camera_uptime`` row), keyed camera/bucket."""

    row: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.row['camera_id']}/{bucket_key(self.row['bucket_start'])}"


@dataclass
class Batch:
    agent_id: str
    store_id: str
    batch_id: str
    summaries: SummaryColumns
    tiles: list[TileIn] = field(default_factory=list)
    line_counts: list[LineCountIn] = field(default_factory=list)
    uptimes: list[UptimeIn] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.summaries) + len(self.tiles) + len(self.line_counts) + len(self.uptimes)

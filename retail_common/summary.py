"""The values that leave the vision pipeline: the only things about people that are ever stored.

A :class:`TrackSummary` holds no image, crop, face or appearance feature; its id
is a random UUID with no link to the tracker's id or to the person.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_PATH_POINTS = 64


@dataclass(frozen=True)
class TrackSummary:
    track_id: str  # random UUID4
    store_id: str
    camera_id: str
    start_time: float  # Unix seconds
    end_time: float
    path: tuple[tuple[float, float, float], ...]  # (seconds since start, x m, y m), at most 64 points
    distance_m: float
    mean_speed_mps: float
    max_speed_mps: float
    stop_count: int
    zone_dwell: dict[str, float]  # zone id -> seconds inside, all visits
    zone_visits: dict[str, int]  # zone id -> number of visits
    zone_order: tuple[str, ...]  # zones in the order they were entered
    detector_model: str
    behavior: str | None = None
    behavior_probabilities: dict[str, float] = field(default_factory=dict)
    behavior_model: str | None = None

    def __post_init__(self) -> None:
        if self.end_time < self.start_time:
            raise ValueError(f"track {self.track_id}: end_time {self.end_time} before start_time {self.start_time}")
        if len(self.path) > MAX_PATH_POINTS:
            raise ValueError(f"track {self.track_id}: path has {len(self.path)} points, at most {MAX_PATH_POINTS}")
        values = (self.distance_m, self.mean_speed_mps, self.max_speed_mps)
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"track {self.track_id}: distance and speeds must be finite and >= 0, got {values}")

    @property
    def duration_s(self) -> float:
        return self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = [list(p) for p in self.path]
        d["zone_order"] = list(self.zone_order)
        return d


@dataclass(frozen=True)
class HeatmapTile:
    """Person-seconds per cell of a rows x cols grid over one camera's image, for one time bucket."""

    store_id: str
    camera_id: str
    bucket_start: float  # Unix seconds, a multiple of bucket_seconds
    bucket_seconds: int
    rows: int
    cols: int
    person_seconds: tuple[float, ...]  # row-major, rows * cols values

    def __post_init__(self) -> None:
        if len(self.person_seconds) != self.rows * self.cols:
            raise ValueError(
                f"heatmap tile {self.camera_id}@{self.bucket_start}: expected {self.rows}x{self.cols}="
                f"{self.rows * self.cols} cells, got {len(self.person_seconds)}"
            )


@dataclass(frozen=True)
class LineCount:
    store_id: str
    camera_id: str
    line_id: str
    bucket_start: float
    bucket_seconds: int
    in_count: int
    out_count: int


@dataclass(frozen=True)
class CameraUptime:
    """How long a camera delivered frames within one bucket, as its agent saw it: zero while it was
    disconnected, so that central tells a dead camera from an empty store."""

    camera_id: str
    bucket_start: float  # Unix seconds, a multiple of bucket_seconds
    bucket_seconds: int  # divides an hour: central keeps uptime per hour
    seconds_up: float  # 0 .. bucket_seconds

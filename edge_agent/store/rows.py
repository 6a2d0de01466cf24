"""Rows of the agent's SQLite tables to the contract's values and back."""

from __future__ import annotations

import json
from typing import Any

from retail_common.fields import SUMMARY_FIELDS, Kind
from retail_common.summary import CameraUptime, HeatmapTile, LineCount, TrackSummary


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# the columns of track_summaries are the contract's field names; lists and mappings are JSON
_JSON_FIELDS = frozenset(f.name for f in SUMMARY_FIELDS if f.kind in (Kind.JSON, Kind.PATH))


def summary_row(s: TrackSummary, created_at: float) -> dict[str, Any]:
    row = {f.name: getattr(s, f.name) for f in SUMMARY_FIELDS}
    for name in _JSON_FIELDS:
        row[name] = to_json(row[name])
    row["created_at"] = created_at
    return row


def summary_of(r: dict[str, Any]) -> TrackSummary:
    values = {f.name: r[f.name] for f in SUMMARY_FIELDS}
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name]) if values[name] is not None else {}
    values["path"] = tuple(tuple(p) for p in values["path"])
    values["zone_order"] = tuple(values["zone_order"])
    return TrackSummary(**values)


def tile_of(r: dict[str, Any]) -> HeatmapTile:
    return HeatmapTile(
        store_id=r["store_id"],
        camera_id=r["camera_id"],
        bucket_start=r["bucket_start"],
        bucket_seconds=r["bucket_seconds"],
        rows=r["rows"],
        cols=r["cols"],
        person_seconds=tuple(json.loads(r["person_seconds"])),
    )


def count_of(r: dict[str, Any]) -> LineCount:
    return LineCount(
        store_id=r["store_id"],
        camera_id=r["camera_id"],
        line_id=r["line_id"],
        bucket_start=r["bucket_start"],
        bucket_seconds=r["bucket_seconds"],
        in_count=r["in_count"],
        out_count=r["out_count"],
    )


def uptime_of(r: dict[str, Any]) -> CameraUptime:
    return CameraUptime(
        camera_id=r["camera_id"],
        bucket_start=r["bucket_start"],
        bucket_seconds=r["bucket_seconds"],
        seconds_up=r["seconds_up"],
    )

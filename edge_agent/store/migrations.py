"""Versioned schema of the edge store. Append a migration; never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("track_summaries").create(
        {
            "track_id": str,
            "store_id": str,
            "camera_id": str,
            "start_time": float,
            "end_time": float,
            "path": str,  # JSON [[t, x, y], ...], at most 64 points, metres
            "distance_m": float,
            "mean_speed_mps": float,
            "max_speed_mps": float,
            "stop_count": int,
            "zone_dwell": str,  # JSON {zone_id: seconds}
            "zone_visits": str,  # JSON {zone_id: visits}
            "zone_order": str,  # JSON [zone_id, ...]
            "behavior": str,
            "behavior_probabilities": str,  # JSON {label: probability}
            "behavior_model": str,
            "detector_model": str,
            "created_at": float,
        },
        pk="track_id",
        not_null={"store_id", "camera_id", "start_time", "end_time", "path", "detector_model"},
    )
    db.table("track_summaries").create_index(["camera_id", "end_time"])
    db.table("heatmap_tiles").create(
        {
            "store_id": str,
            "camera_id": str,
            "bucket_start": float,
            "bucket_seconds": int,
            "rows": int,
            "cols": int,
            "person_seconds": str,  # JSON, row-major
            "updated_at": float,
        },
        pk=("camera_id", "bucket_start"),
    )
    db.table("line_counts").create(
        {
            "store_id": str,
            "camera_id": str,
            "line_id": str,
            "bucket_start": float,
            "bucket_seconds": int,
            "in_count": int,
            "out_count": int,
            "updated_at": float,
        },
        pk=("camera_id", "line_id", "bucket_start"),
    )


def _v2(db: sqlite_utils.Database) -> None:
    """The outbox: per item, when central acknowledged it, or why central refused it."""
    for table in ("track_summaries", "heatmap_tiles", "line_counts"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN synced_at FLOAT")  # NULL: not yet acknowledged
        db.execute(f"ALTER TABLE {table} ADD COLUMN sync_error TEXT")  # central's reason for refusing it
        db.execute(f"CREATE INDEX idx_{table}_pending ON {table}(synced_at, sync_error)")


def _v3(db: sqlite_utils.Database) -> None:
    """Per item, how often central asked to retry it while storing others, and until when it is set aside."""
    for table in ("track_summaries", "heatmap_tiles", "line_counts"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")
        db.execute(f"ALTER TABLE {table} ADD COLUMN retry_after FLOAT")  # NULL: ready to be pushed


def _v4(db: sqlite_utils.Database) -> None:
    """Each camera's connected seconds per bucket, an outbox item like line counts."""
    db.table("camera_uptime").create(
        {
            "camera_id": str,
            "bucket_start": float,
            "bucket_seconds": int,
            "seconds_up": float,
            "updated_at": float,
            "synced_at": float,
            "sync_error": str,
            "retries": int,
            "retry_after": float,
        },
        pk=("camera_id", "bucket_start"),
        not_null={"bucket_seconds", "seconds_up", "retries"},
        defaults={"retries": 0},
    )
    db.execute("CREATE INDEX idx_camera_uptime_pending ON camera_uptime(synced_at, sync_error)")


#: MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)

"""SQLite store of the edge agent, written through sqlite-utils, in WAL mode, with a versioned schema."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from edge_agent.domain import HeatmapTile, LineCount, TrackSummary
from edge_agent.store.migrations import MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be opened or written."""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class EdgeStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(self.conn)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open edge store {path}: {e}") from e

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"edge store {self.path} has schema version {current}, newer than this agent's "
                f"{SCHEMA_VERSION}: upgrade the agent"
            )
        for version in range(current, SCHEMA_VERSION):
            with self.conn:
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
            logger.info("edge store %s migrated to schema version %d", self.path, version + 1)

    def add_summaries(self, summaries: Iterable[TrackSummary]) -> int:
        now = time.time()
        rows = [
            {
                "track_id": s.track_id,
                "store_id": s.store_id,
                "camera_id": s.camera_id,
                "start_time": s.start_time,
                "end_time": s.end_time,
                "path": _json([list(p) for p in s.path]),
                "distance_m": s.distance_m,
                "mean_speed_mps": s.mean_speed_mps,
                "max_speed_mps": s.max_speed_mps,
                "stop_count": s.stop_count,
                "zone_dwell": _json(s.zone_dwell),
                "zone_visits": _json(s.zone_visits),
                "zone_order": _json(list(s.zone_order)),
                "behavior": s.behavior,
                "behavior_probabilities": _json(s.behavior_probabilities),
                "behavior_model": s.behavior_model,
                "detector_model": s.detector_model,
                "created_at": now,
            }
            for s in summaries
        ]
        with self.conn:
            self.db.table("track_summaries").insert_all(rows, ignore=True)
        return len(rows)

    def put_tiles(self, tiles: Iterable[HeatmapTile]) -> None:
        """Stores tiles, replacing an earlier flush of the same camera and bucket."""
        now = time.time()
        rows = [
            {
                "store_id": t.store_id,
                "camera_id": t.camera_id,
                "bucket_start": t.bucket_start,
                "bucket_seconds": t.bucket_seconds,
                "rows": t.rows,
                "cols": t.cols,
                "person_seconds": _json([round(v, 3) for v in t.person_seconds]),
                "updated_at": now,
            }
            for t in tiles
        ]
        with self.conn:
            self.db.table("heatmap_tiles").upsert_all(rows, pk=("camera_id", "bucket_start"))

    def put_line_counts(self, counts: Iterable[LineCount]) -> None:
        """Stores counts, replacing an earlier flush of the same camera, line and bucket."""
        now = time.time()
        rows = [
            {
                "store_id": c.store_id,
                "camera_id": c.camera_id,
                "line_id": c.line_id,
                "bucket_start": c.bucket_start,
                "bucket_seconds": c.bucket_seconds,
                "in_count": c.in_count,
                "out_count": c.out_count,
                "updated_at": now,
            }
            for c in counts
        ]
        with self.conn:
            self.db.table("line_counts").upsert_all(rows, pk=("camera_id", "line_id", "bucket_start"))

    def summaries(self) -> Iterator[TrackSummary]:
        for r in self.db.table("track_summaries").rows_where(order_by="start_time"):
            yield TrackSummary(
                track_id=r["track_id"],
                store_id=r["store_id"],
                camera_id=r["camera_id"],
                start_time=r["start_time"],
                end_time=r["end_time"],
                path=tuple(tuple(p) for p in json.loads(r["path"])),
                distance_m=r["distance_m"],
                mean_speed_mps=r["mean_speed_mps"],
                max_speed_mps=r["max_speed_mps"],
                stop_count=r["stop_count"],
                zone_dwell=json.loads(r["zone_dwell"]),
                zone_visits=json.loads(r["zone_visits"]),
                zone_order=tuple(json.loads(r["zone_order"])),
                detector_model=r["detector_model"],
                behavior=r["behavior"],
                behavior_probabilities=json.loads(r["behavior_probabilities"] or "{}"),
                behavior_model=r["behavior_model"],
            )

    def count(self, table: str) -> int:
        return int(self.db.table(table).count)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

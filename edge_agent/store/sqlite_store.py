"""SQLite store of the edge agent, written through sqlite-utils, in WAL mode, with a versioned schema."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import sqlite_utils

from edge_agent.store.migrations import MIGRATIONS, SCHEMA_VERSION
from edge_agent.store.rows import count_of, summary_of, summary_row, tile_of, to_json, uptime_of
from retail_common.summary import CameraUptime, HeatmapTile, LineCount, TrackSummary

logger = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be opened or written."""


OUTBOX_TABLES = ("track_summaries", "heatmap_tiles", "line_counts", "camera_uptime")
_AGE_COLUMNS = {
    "track_summaries": "end_time",
    "heatmap_tiles": "bucket_start",
    "line_counts": "bucket_start",
    "camera_uptime": "bucket_start",
}
T = TypeVar("T")
_PENDING = "synced_at IS NULL AND sync_error IS NULL"


# how one outbox item is found in its table
_WHERE = {
    "track_summaries": "track_id = ?",
    "heatmap_tiles": "camera_id = ? AND bucket_start = ?",
    "line_counts": "camera_id = ? AND line_id = ? AND bucket_start = ?",
    "camera_uptime": "camera_id = ? AND bucket_start = ?",
}


def _item_keys(outbox: Outbox) -> list[tuple[str, tuple[object, ...]]]:
    """(table, parameters of its ``_WHERE``) of every item, in push order."""
    keys: list[tuple[str, tuple[object, ...]]] = [("track_summaries", (x.track_id,)) for x in outbox.summaries]
    return (
        keys
        + [("heatmap_tiles", (x.camera_id, x.bucket_start)) for x in outbox.tiles]
        + [("line_counts", (x.camera_id, x.line_id, x.bucket_start)) for x in outbox.line_counts]
        + [("camera_uptime", (x.camera_id, x.bucket_start)) for x in outbox.uptimes]
    )


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    used_bytes: int
    exhausted: bool  # still over budget: only unsynced data is left


@dataclass(frozen=True)
class Outbox:
    """Items waiting for central's acknowledgement, in the order they are pushed."""

    summaries: list[TrackSummary] = field(default_factory=list)
    tiles: list[HeatmapTile] = field(default_factory=list)
    line_counts: list[LineCount] = field(default_factory=list)
    uptimes: list[CameraUptime] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.summaries) + len(self.tiles) + len(self.line_counts) + len(self.uptimes)

    def where(self, flags: Sequence[T], keep: Callable[[T], bool]) -> Outbox:
        """The items whose flag (one per item, in push order: summaries, tiles, counts, uptimes) passes ``keep``."""
        s, t, c = len(self.summaries), len(self.tiles), len(self.line_counts)
        return Outbox(
            [x for x, f in zip(self.summaries, flags[:s], strict=True) if keep(f)],
            [x for x, f in zip(self.tiles, flags[s : s + t], strict=True) if keep(f)],
            [x for x, f in zip(self.line_counts, flags[s + t : s + t + c], strict=True) if keep(f)],
            [x for x, f in zip(self.uptimes, flags[s + t + c :], strict=True) if keep(f)],
        )


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
        rows = [summary_row(s, now) for s in summaries]
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
                "person_seconds": to_json([round(v, 3) for v in t.person_seconds]),
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

    def merge_tiles(self, tiles: Iterable[HeatmapTile]) -> None:
        """Adds tiles to what is stored for the same bucket (an agent restarted within a bucket flushes twice).
        Buckets are pushed only ``sync.bucket_grace_s`` after they end, so a merge normally finds them pending;
        data for a bucket already sent (or of another grid size) is logged and dropped, never written over it."""
        now = time.time()
        with self.conn:
            for t in tiles:
                row = self.conn.execute(
                    "SELECT person_seconds, rows, cols, synced_at FROM heatmap_tiles "
                    "WHERE camera_id = ? AND bucket_start = ?",
                    (t.camera_id, t.bucket_start),
                ).fetchone()
                values = list(t.person_seconds)
                if row is not None and (row[3] is not None or (row[1], row[2]) != (t.rows, t.cols)):
                    logger.warning(
                        "camera %s: heatmap data for bucket %.0f arrived after the bucket was %s; not stored",
                        t.camera_id,
                        t.bucket_start,
                        "sent" if row[3] is not None else "stored with another grid size",
                    )
                    continue
                if row is not None:
                    values = [a + b for a, b in zip(json.loads(row[0]), values, strict=True)]
                self.conn.execute(
                    "INSERT OR REPLACE INTO heatmap_tiles (store_id, camera_id, bucket_start, bucket_seconds, "
                    "rows, cols, person_seconds, updated_at, synced_at, sync_error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        t.store_id,
                        t.camera_id,
                        t.bucket_start,
                        t.bucket_seconds,
                        t.rows,
                        t.cols,
                        to_json([round(v, 3) for v in values]),
                        now,
                    ),
                )

    def merge_line_counts(self, counts: Iterable[LineCount]) -> None:
        """Adds counts to what is stored for the same line and bucket (see :meth:`merge_tiles`)."""
        now = time.time()
        with self.conn:
            for c in counts:
                row = self.conn.execute(
                    "SELECT in_count, out_count, synced_at FROM line_counts WHERE camera_id = ? AND line_id = ? "
                    "AND bucket_start = ?",
                    (c.camera_id, c.line_id, c.bucket_start),
                ).fetchone()
                if row is not None and row[2] is not None:
                    logger.warning(
                        "camera %s: line %s counts for bucket %.0f arrived after the bucket was sent; not stored",
                        c.camera_id,
                        c.line_id,
                        c.bucket_start,
                    )
                    continue
                before = (row[0], row[1]) if row is not None else (0, 0)
                self.conn.execute(
                    "INSERT OR REPLACE INTO line_counts (store_id, camera_id, line_id, bucket_start, "
                    "bucket_seconds, in_count, out_count, updated_at, synced_at, sync_error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        c.store_id,
                        c.camera_id,
                        c.line_id,
                        c.bucket_start,
                        c.bucket_seconds,
                        before[0] + c.in_count,
                        before[1] + c.out_count,
                        now,
                    ),
                )

    def merge_uptimes(self, uptimes: Iterable[CameraUptime]) -> None:
        """Adds a camera's connected seconds to what is stored for the same bucket (an agent restarted within a
        bucket reports it twice), capped at the bucket's length. Unlike tiles and counts, a bucket already sent
        is sent again with the sum: central replaces a camera's uptime in a bucket, never adds to it."""
        now = time.time()
        with self.conn:
            for u in uptimes:
                row = self.conn.execute(
                    "SELECT seconds_up FROM camera_uptime WHERE camera_id = ? AND bucket_start = ?",
                    (u.camera_id, u.bucket_start),
                ).fetchone()
                total = min(float(u.bucket_seconds), u.seconds_up + (row[0] if row is not None else 0.0))
                self.conn.execute(
                    "INSERT OR REPLACE INTO camera_uptime (camera_id, bucket_start, bucket_seconds, seconds_up, "
                    "updated_at, synced_at, sync_error, retries, retry_after) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, "
                    "NULL)",
                    (u.camera_id, u.bucket_start, u.bucket_seconds, round(total, 3), now),
                )

    def used_bytes(self) -> int:
        pages, free, size = (
            int(self.db.execute(f"PRAGMA {p}").fetchone()[0]) for p in ("page_count", "freelist_count", "page_size")
        )
        return (pages - free) * size

    def purge(self, older_than: float, budget_bytes: int, unsynced_too: bool = False) -> PurgeResult:
        """Deletes synced data older than ``older_than`` (Unix s), then the oldest synced data while the
        store is over its budget. Unsynced data is never deleted, unless ``unsynced_too`` (no central to
        sync to), in which case the retention applies to everything. ``exhausted``: still over budget."""
        deletable = "1" if unsynced_too else "(synced_at IS NOT NULL OR sync_error IS NOT NULL)"
        deleted = 0
        with self.conn:
            for table, when in _AGE_COLUMNS.items():
                sql = f"DELETE FROM {table} WHERE {deletable} AND {when} < ?"
                deleted += self.conn.execute(sql, (older_than,)).rowcount
        while self.used_bytes() > budget_bytes:
            removed = 0
            with self.conn:
                for table, when in _AGE_COLUMNS.items():
                    oldest = f"SELECT rowid FROM {table} WHERE {deletable} ORDER BY {when} LIMIT 1000"
                    removed += self.conn.execute(f"DELETE FROM {table} WHERE rowid IN ({oldest})").rowcount
            deleted += removed
            if removed == 0:
                break
        used = self.used_bytes()
        return PurgeResult(deleted, used, used > budget_bytes)

    def summaries(self) -> Iterator[TrackSummary]:
        for r in self.db.table("track_summaries").rows_where(order_by="start_time"):
            yield summary_of(r)

    # --- outbox ------------------------------------------------------------------------------

    def pending(self, limit: int, buckets_ended_before: float, now: float | None = None) -> Outbox:
        """Up to ``limit`` items central has not acknowledged nor refused, oldest first, but for those set aside
        until after ``now`` (:meth:`mark_retry`); tiles and counts only once their bucket has ended (they are
        final then)."""
        ready = f"{_PENDING} AND (retry_after IS NULL OR retry_after <= ?)"
        at = time.time() if now is None else now
        summaries = [
            summary_of(r)
            for r in self.db.query(
                f"SELECT * FROM track_summaries WHERE {ready} ORDER BY end_time LIMIT ?", [at, limit]
            )
        ]
        room = limit - len(summaries)
        tiles = [
            tile_of(r)
            for r in self.db.query(
                f"SELECT * FROM heatmap_tiles WHERE {ready} AND bucket_start + bucket_seconds <= ? "
                "ORDER BY bucket_start LIMIT ?",
                [at, buckets_ended_before, max(room, 0)],
            )
        ]
        room -= len(tiles)
        counts = [
            count_of(r)
            for r in self.db.query(
                f"SELECT * FROM line_counts WHERE {ready} AND bucket_start + bucket_seconds <= ? "
                "ORDER BY bucket_start LIMIT ?",
                [at, buckets_ended_before, max(room, 0)],
            )
        ]
        room -= len(counts)
        uptimes = [
            uptime_of(r)
            for r in self.db.query(
                f"SELECT * FROM camera_uptime WHERE {ready} AND bucket_start + bucket_seconds <= ? "
                "ORDER BY bucket_start LIMIT ?",
                [at, buckets_ended_before, max(room, 0)],
            )
        ]
        return Outbox(summaries, tiles, counts, uptimes)

    def mark_retry(self, outbox: Outbox, now: float, max_retries: int, set_aside_s: float) -> Outbox:
        """Central asked to retry these items while it stored others of the same push: counts it, and sets an
        item aside until ``now + set_aside_s`` (with its count reset) once it has been asked ``max_retries``
        times, so that the items behind it move on. Returns the items set aside now."""
        keys = _item_keys(outbox)
        flags = []
        with self.conn:
            for table, params in keys:
                where = _WHERE[table]
                # no RETURNING: SQLite before 3.35 (still on some edge boxes) lacks it
                self.conn.execute(f"UPDATE {table} SET retries = retries + 1 WHERE {where}", params)
                (n,) = self.conn.execute(f"SELECT retries FROM {table} WHERE {where}", params).fetchone()
                flags.append(n >= max_retries)
                if n >= max_retries:
                    self.conn.execute(
                        f"UPDATE {table} SET retries = 0, retry_after = ? WHERE {where}", [now + set_aside_s, *params]
                    )
        return outbox.where(flags, bool)

    def mark_synced(self, outbox: Outbox, at: float | None = None) -> None:
        """Central committed (or already had) these items."""
        at = time.time() if at is None else at
        self._mark(outbox, "synced_at", [at] * len(outbox))

    def mark_rejected(self, outbox: Outbox, reasons: Sequence[str]) -> None:
        """Central refused these items as bad data (one reason each): kept with it, never resent."""
        self._mark(outbox, "sync_error", list(reasons))

    def _mark(self, outbox: Outbox, column: str, values: list[object]) -> None:
        by_table: dict[str, list[tuple[object, ...]]] = {table: [] for table in OUTBOX_TABLES}
        for value, (table, params) in zip(values, _item_keys(outbox), strict=True):
            by_table[table].append((value, *params))
        with self.conn:
            for table, rows in by_table.items():
                self.conn.executemany(f"UPDATE {table} SET {column} = ? WHERE {_WHERE[table]}", rows)

    def backlog(self) -> int:
        """Items not yet acknowledged by central (open buckets included)."""
        return sum(
            int(self.db.execute(f"SELECT count(*) FROM {table} WHERE {_PENDING}").fetchone()[0])
            for table in OUTBOX_TABLES
        )

    def rejected(self) -> list[tuple[str, str]]:
        """(table, reason) of every item central refused."""
        return [
            (table, str(reason))
            for table in OUTBOX_TABLES
            for (reason,) in self.db.execute(f"SELECT sync_error FROM {table} WHERE sync_error IS NOT NULL")
        ]

    def count(self, table: str) -> int:
        return int(self.db.table(table).count)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

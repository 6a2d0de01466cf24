"""Store checked batches' accepted items exactly once, with their rollups, in one transaction.

Only the items this transaction inserted (their keys were not stored yet) change
the rollups: a resent batch adds nothing twice. Which ones those are is the
database's answer (:meth:`DialectWrites.insert_new`). A camera's uptime in a
bucket is upserted instead: sent again with another value (its agent counted on
after a restart) it replaces the stored one, and the hourly rollup takes the
difference; sent again unchanged it is a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, and_, bindparam, or_, select, tuple_, update

from central.db.schema import (
    camera_uptime,
    cameras,
    heatmap_daily,
    heatmap_tiles,
    line_counts,
    line_hourly,
    lines,
    track_summaries,
    traffic_hourly,
    uptime_hourly,
    written_columns,
    zones,
)
from central.ingest import rollups
from central.ingest.dialects import DialectWrites
from central.ingest.items import SUMMARY_COLUMNS, LineCountIn, SummaryColumns, TileIn, UptimeIn
from central.ingest.sql import add_sql, key_columns, tuple_getter


@dataclass
class Accepted:
    """What the checks accepted of one batch, with what its transaction is to write."""

    columns: SummaryColumns  # the batch's summaries
    summaries: list[int]  # positions in columns
    tiles: list[TileIn]
    counts: list[LineCountIn]
    # worked out by the check stage for every accepted summary, so that the commit stage (one thread for
    # all writes) has little Python left to run; redone there for the new ones when some were stored already
    summary_keys: list[tuple[Any, ...]]
    summary_rows: list[tuple[Any, ...]]
    visits: rollups.Visits
    traffic: dict[rollups.TrafficKey, dict[str, float]]
    uptimes: list[UptimeIn]

    @classmethod
    def of(
        cls,
        columns: SummaryColumns,
        summaries: list[int],
        tiles: list[TileIn],
        counts: list[LineCountIn],
        uptimes: list[UptimeIn] | None = None,
    ) -> Accepted:
        visits = rollups.visits(columns, summaries)
        return cls(
            columns,
            summaries,
            tiles,
            counts,
            columns.rows(key_columns(track_summaries), summaries),
            columns.rows(SUMMARY_COLUMNS, summaries),
            visits,
            rollups.traffic_deltas(visits),
            uptimes or [],
        )

    @property
    def empty(self) -> bool:
        return not (self.summaries or self.tiles or self.counts or self.uptimes)


@dataclass
class Stored:
    """What a transaction inserted of one batch (the rest of what it accepted was there already)."""

    summaries: set[int]  # positions in the batch's summary columns
    others: set[int]  # ids of the tile, count and uptime objects


class GroupWriter:
    """Writes the accepted items of a group of batches, and their rollups, in one transaction."""

    def __init__(self, engine: Engine, writes: DialectWrites) -> None:
        self.engine = engine
        self.writes = writes

    def store(self, group: Sequence[Accepted], now: float) -> list[Stored]:
        """What this call stored of each batch (the rest was already there)."""
        if all(a.empty for a in group):
            return [Stored(set(), set()) for _ in group]
        with self.writes.exclusive():
            return self._transaction(group, now)

    def _transaction(self, group: Sequence[Accepted], now: float) -> list[Stored]:
        keys = [k for a in group for k in a.summary_keys]
        rows = [r for a in group for r in a.summary_rows]
        owners = [(b, i) for b, a in enumerate(group) for i in a.summaries]  # of each key: batch, position
        tiles = [t for a in group for t in a.tiles]
        counts = [c for a in group for c in a.counts]
        uptimes = [u for a in group for u in a.uptimes]
        with self.engine.begin() as conn:
            self.writes.begin(conn)
            new_at = self.writes.insert_new(conn, track_summaries, keys, lambda at: [rows[i] for i in at])
            new_summaries: list[list[int]] = [[] for _ in group]
            for k in new_at:
                b, i = owners[k]
                new_summaries[b].append(i)
            new_tiles = self._insert_items(conn, heatmap_tiles, tiles)
            new_counts = self._insert_items(conn, line_counts, counts)
            new_uptimes, uptime_changes = self._upsert_uptimes(conn, uptimes)
            traffic: dict[rollups.TrafficKey, dict[str, float]] = {}
            visits = []
            for a, new in zip(group, new_summaries, strict=True):
                if len(new) == len(a.summaries):  # all new: as the check stage summed
                    visits.append(a.visits)
                    rollups.add_deltas(traffic, a.traffic)
                else:
                    visits.append(rollups.visits(a.columns, new))
                    rollups.add_deltas(traffic, rollups.traffic_deltas(visits[-1]))
            self.add_counters(conn, traffic_hourly, traffic, rollups.TRAFFIC_COUNTERS)
            self.add_counters(conn, line_hourly, rollups.line_deltas(new_counts), ("in_count", "out_count"))
            self.merge_heatmaps(conn, rollups.heatmap_deltas(new_tiles))
            self.add_counters(conn, uptime_hourly, rollups.uptime_deltas(uptime_changes), ("seconds_up",))
            self._learn_layout(conn, visits, new_counts, new_uptimes, now)
        new_items = {id(i) for i in (*new_tiles, *new_counts, *new_uptimes)}
        return [
            Stored(set(new), {id(i) for i in (*a.tiles, *a.counts, *a.uptimes)} & new_items)
            for a, new in zip(group, new_summaries, strict=True)
        ]

    def _upsert_uptimes(
        self, conn: Connection, items: Sequence[UptimeIn]
    ) -> tuple[list[UptimeIn], list[tuple[UptimeIn, float]]]:
        """Store each bucket's uptime, new or changed (the last copy of a bucket in the group counts); returns
        the items that changed what is stored, and by how many seconds each changed it."""
        if not items:
            return [], []
        latest = {(u.row["store_id"], u.row["camera_id"], u.row["bucket_start"]): u for u in items}
        keys = sorted(latest)
        t = camera_uptime.c
        query = select(t.store_id, t.camera_id, t.bucket_start, t.seconds_up).where(
            tuple_(t.store_id, t.camera_id, t.bucket_start).in_(keys)
        )
        stored = {(s, c, b): float(v) for s, c, b, v in conn.execute(self.writes.for_update(query))}
        inserted = self._insert_items(conn, camera_uptime, [latest[k] for k in keys if k not in stored])
        changed = [
            (latest[k], latest[k].row["seconds_up"] - stored[k])
            for k in keys
            if k in stored and latest[k].row["seconds_up"] != stored[k]
        ]
        if changed:
            conn.execute(
                update(camera_uptime)
                .where(
                    t.store_id == bindparam("k_store"),
                    t.camera_id == bindparam("k_camera"),
                    t.bucket_start == bindparam("k_start"),
                )
                .values(seconds_up=bindparam("v_up"), received_at=bindparam("v_received")),
                [
                    {
                        "k_store": u.row["store_id"],
                        "k_camera": u.row["camera_id"],
                        "k_start": u.row["bucket_start"],
                        "v_up": u.row["seconds_up"],
                        "v_received": u.row["received_at"],
                    }
                    for u, _ in changed
                ],
            )
        changes = [(u, float(u.row["seconds_up"])) for u in inserted] + changed
        return [*inserted, *(u for u, _ in changed)], changes

    def _insert_items(
        self, conn: Connection, table: Table, items: Sequence[TileIn | LineCountIn | UptimeIn]
    ) -> list[Any]:
        """Insert the tiles or counts not stored yet; those this call inserted."""
        if not items:
            return []
        key_of = tuple_getter(key_columns(table))
        values_of = tuple_getter([c.name for c in written_columns(table)])
        new_at = self.writes.insert_new(
            conn, table, [key_of(i.row) for i in items], lambda at: [values_of(items[i].row) for i in at]
        )
        return [items[i] for i in new_at]

    def add_counters(self, conn: Connection, table: Table, deltas: dict[Any, Any], counters: Sequence[str]) -> None:
        """Add ``deltas`` (rollup key -> counter -> amount) to the rollup rows, in key order."""
        if not deltas:
            return
        keys = key_columns(table)
        columns = [*keys, *counters]
        rows = [[*key, *(sums[c] for c in counters)] for key, sums in sorted(deltas.items())]
        self.writes.write_rows(conn, table, rows, columns, add_sql(conn.dialect, table, counters))

    def merge_heatmaps(self, conn: Connection, deltas: dict[rollups.DayKey, np.ndarray]) -> None:
        """Add each camera-day's grid to its ``heatmap_daily`` row (a row of zeros first where there is none)."""
        if not deltas:
            return
        keys = sorted(deltas)
        zero = [
            {
                "store_id": s,
                "camera_id": c,
                "day": d,
                "rows": g.shape[0],
                "cols": g.shape[1],
                "cells": np.zeros_like(g).tobytes(),
            }
            for (s, c, d), g in ((k, deltas[k]) for k in keys)
        ]
        conn.execute(self.writes.insert(heatmap_daily).on_conflict_do_nothing(), zero)
        t = heatmap_daily
        query = select(t.c.store_id, t.c.camera_id, t.c.day, t.c.cells).where(
            tuple_(t.c.store_id, t.c.camera_id, t.c.day).in_(keys)
        )
        current = {(s, c, d): cells for s, c, d, cells in conn.execute(self.writes.for_update(query))}
        for key in keys:
            total = np.frombuffer(current[key], dtype=np.float32).reshape(deltas[key].shape) + deltas[key]
            conn.execute(
                t.update()
                .where(and_(t.c.store_id == key[0], t.c.camera_id == key[1], t.c.day == key[2]))
                .values(cells=total.astype(np.float32).tobytes())
            )

    def _learn_layout(
        self,
        conn: Connection,
        visits: Sequence[rollups.Visits],
        counts: Sequence[LineCountIn],
        uptimes: Sequence[UptimeIn],
        now: float,
    ) -> None:
        """Cameras seen in data, and the zones and lines of cameras whose agent has not declared them; the first
        uptime bucket of each camera (from there on its hours are judged for gaps)."""
        items: list[LineCountIn | UptimeIn] = [*counts, *uptimes]
        seen = {(c.row["store_id"], c.row["camera_id"]) for c in items}
        zone_rows: set[tuple[str, str, str]] = set()
        for v in visits:
            seen.update(zip(v.store_id, v.camera_id, strict=True))
            zone_rows.update(
                (store, camera, z)
                for store, camera, zones in zip(v.store_id, v.camera_id, v.zone_dwell, strict=True)
                for z, _, _ in zones
            )
        if not seen:
            return
        self.writes.write_rows(
            conn,
            cameras,
            [(s, c, now, now, False) for s, c in sorted(seen)],
            ("store_id", "camera_id", "first_seen", "last_seen", "declared"),
            "DO UPDATE SET last_seen = excluded.last_seen",
        )
        line_rows = {(c.row["store_id"], c.row["camera_id"], c.row["line_id"]) for c in counts}
        if zone_rows:
            columns = ("store_id", "camera_id", "zone_id", "first_seen")
            self.writes.write_rows(conn, zones, [(*z, now) for z in sorted(zone_rows)], columns)
        if line_rows:
            columns = ("store_id", "camera_id", "line_id", "first_seen")
            self.writes.write_rows(conn, lines, [(*ln, now) for ln in sorted(line_rows)], columns)
        first: dict[tuple[str, str], float] = {}
        for u in uptimes:
            key = (u.row["store_id"], u.row["camera_id"])
            first[key] = min(first.get(key, u.row["bucket_start"]), u.row["bucket_start"])
        c = cameras.c
        for (store, camera), start in sorted(first.items()):
            conn.execute(
                update(cameras)
                .where(
                    c.store_id == store,
                    c.camera_id == camera,
                    or_(c.uptime_since.is_(None), c.uptime_since > start),
                )
                .values(uptime_since=start)
            )

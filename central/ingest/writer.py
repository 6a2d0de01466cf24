"""Store a validated push exactly once, with its rollups, in one transaction; acknowledge only what committed.

Idempotency is the database's: each item's key (a summary's store, start time
and UUID; a tile's or count's bucket) is unique, and only the items this call
stored change the rollups. On PostgreSQL, ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` tells which those are, also across several central replicas (rollup
rows are updated in a fixed order, so concurrent pushes cannot deadlock). On
SQLite the transaction takes the write lock first (``BEGIN IMMEDIATE``), looks
the batch's keys up in one statement and inserts the rest.

The statements of the transaction are multi-row ``INSERT ... VALUES (...), (...)``
built once per table and row count from the schema (:func:`values_sql`) and run
through ``exec_driver_sql``: the same SQL SQLAlchemy's compiler would produce,
without its per-parameter Python work, which cost more than the database itself
at hundreds of summaries per push.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Dialect, Engine, Table, UniqueConstraint, and_, literal, select, tuple_, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from central.config import IngestLimits
from central.db.schema import (
    cameras,
    heatmap_daily,
    heatmap_tiles,
    line_counts,
    line_hourly,
    lines,
    track_summaries,
    traffic_hourly,
    written_columns,
    zones,
)
from central.ingest import rollups, validate
from central.ingest.items import Batch, ItemResult, Kind, LineCountIn, Status, SummaryIn, TileIn
from central.ingest.validate import Layout
from central.live import LiveFeed

logger = logging.getLogger(__name__)


def upsert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _key_columns(table: Table) -> list[str]:
    """What identifies a row to ``ON CONFLICT``: its unique key where it has one beside a surrogate id
    (``track_summaries``), else its primary key."""
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            return [c.name for c in constraint.columns]
    return [c.name for c in table.primary_key.columns]


def _tuple_getter(names: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``row -> (row[name], ...)`` at C speed (``itemgetter`` of one name gives the bare value)."""
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*names)


# rows per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters
_MAX_PARAMS = 30_000
_MAX_ROWS = 1000


@functools.lru_cache(maxsize=512)
def values_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: int, on_conflict: str, returning: bool
) -> str:
    """``INSERT INTO table (columns) VALUES`` ``rows`` rows ``ON CONFLICT (key) <on_conflict>`` [``RETURNING key``]."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if dialect.paramstyle not in ("qmark", "format", "pyformat"):
        raise ValueError(f"ingest cannot write with the {dialect.paramstyle!r} parameter style of {dialect.name}")
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    keys = ", ".join(quote(k) for k in _key_columns(table))
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([one] * rows)} ON CONFLICT ({keys}) {on_conflict}"
    )
    return f"{sql} RETURNING {keys}" if returning else sql


def _returning_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """psycopg's ``executemany(returning=True)`` on the transaction's connection, errors as SQLAlchemy's."""
    dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    out: list[tuple[Any, ...]] = []
    try:
        cursor.executemany(sql, rows, returning=True)
        while True:
            out.extend(tuple(r) for r in cursor.fetchall())
            if not cursor.nextset():
                break
    except dbapi_error as e:
        raise DBAPIError.instance(sql, None, e, dbapi_error, dialect=conn.dialect) from e
    finally:
        cursor.close()
    return out


def _add_sql(dialect: Dialect, table: Table, counters: Sequence[str]) -> str:
    """``DO UPDATE`` adding each counter of the conflicting row to the stored one."""
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    return "DO UPDATE SET " + ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in counters)


def execute_values(
    conn: Connection,
    table: Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    on_conflict: str = "DO NOTHING",
) -> None:
    """Write ``rows`` (values in ``columns`` order).

    SQLite gets statements of up to ``_MAX_ROWS`` rows each; PostgreSQL one
    single-row statement run for every row (psycopg pipelines it, which the
    server handles faster than one statement of many rows).
    """
    names = tuple(columns)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(values_sql(conn.dialect, table, names, 1, on_conflict, False), [tuple(r) for r in rows])
        return
    per = max(1, min(_MAX_ROWS, _MAX_PARAMS // len(columns)))
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        sql = values_sql(conn.dialect, table, names, len(chunk), on_conflict, False)
        conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(chunk)))


@functools.lru_cache(maxsize=64)
def _stored_sql(dialect: Dialect, table: Table, rows: int) -> str:
    quote = dialect.identifier_preparer.quote
    keys = _key_columns(table)
    one = "(" + ", ".join(["?"] * len(keys)) + ")"
    on = " AND ".join(f"t.{quote(k)} = v.column{i + 1}" for i, k in enumerate(keys))
    # CROSS JOIN makes SQLite walk the listed keys and look each up in the table's key index
    return (
        f"SELECT {', '.join(f't.{quote(k)}' for k in keys)} FROM (VALUES {', '.join([one] * rows)}) AS v "
        f"CROSS JOIN {quote(table.name)} AS t ON {on}"
    )


def _stored_keys(conn: Connection, table: Table, keys: Sequence[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """SQLite: which of ``keys`` the table holds already. One indexed statement returns only those
    (usually none): far cheaper than ``RETURNING`` every inserted row, which steps the statement once per
    row, each step giving up the GIL and waiting to take it back while other pushes convert."""
    found: set[tuple[Any, ...]] = set()
    per = _MAX_PARAMS // len(_key_columns(table))
    for i in range(0, len(keys), per):
        chunk = keys[i : i + per]
        result = conn.exec_driver_sql(_stored_sql(conn.dialect, table, len(chunk)), tuple(itertools.chain(*chunk)))
        found.update(tuple(r) for r in result)
    return found


@dataclass
class _Accepted:
    summaries: list[SummaryIn]
    tiles: list[TileIn]
    counts: list[LineCountIn]


@dataclass
class Checked:
    """A batch after :meth:`IngestWriter.check`: what it refused and why, and what it accepted."""

    batch: Batch
    now: float
    rejected: dict[tuple[Kind, int], ItemResult]
    accepted: _Accepted
    retry_reason: str | None = None  # the checks could not read the database: every item is to be resent


class IngestWriter:
    def __init__(
        self,
        engine: Engine,
        limits: IngestLimits,
        feed: LiveFeed | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.feed = feed
        self.clock = clock
        # SQLite has one writer at a time: queue here rather than in its busy-wait loop
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    def push(self, batch: Batch) -> list[ItemResult]:
        """One result per item, in the batch's order (summaries, tiles, line counts)."""
        return self.commit(self.check(batch))

    def check(self, batch: Batch) -> Checked:
        """Validate every item (reading what the database knows of the store); nothing is written."""
        now = self.clock()
        checked = Checked(batch, now, {}, _Accepted([], [], []))
        camera_ids = {s.row["camera_id"] for s in batch.summaries} | {c.row["camera_id"] for c in batch.line_counts}
        try:
            layouts = self.layouts(batch.store_id, camera_ids)
            shapes = self._day_shapes(batch.store_id, batch.tiles)
        except DBAPIError as e:
            checked.retry_reason = self._retry_reason(batch, e)
            return checked
        results, accepted = checked.rejected, checked.accepted
        reasons = validate.check_summaries(batch.summaries, batch.store_id, now, self.limits, layouts)
        for i, (s, reason) in enumerate(zip(batch.summaries, reasons, strict=True)):
            if reason:
                results[(Kind.SUMMARY, i)] = ItemResult(Kind.SUMMARY, s.key, Status.REJECTED, reason)
            else:
                accepted.summaries.append(s)
        for i, t in enumerate(batch.tiles):
            start = t.row["bucket_start"]
            day = (t.row["camera_id"], rollups.day_of(start)) if math.isfinite(start) else None
            reason = validate.check_tile(t, batch.store_id, now, self.limits, shapes.get(day) if day else None)
            if reason:
                results[(Kind.TILE, i)] = ItemResult(Kind.TILE, t.key, Status.REJECTED, reason)
            else:
                accepted.tiles.append(t)
                if day is not None:  # later tiles of that day in this batch must have the same grid
                    shapes.setdefault(day, (t.row["rows"], t.row["cols"]))
        for i, c in enumerate(batch.line_counts):
            reason = validate.check_line_count(c, batch.store_id, now, self.limits, layouts)
            if reason:
                results[(Kind.LINE_COUNT, i)] = ItemResult(Kind.LINE_COUNT, c.key, Status.REJECTED, reason)
            else:
                accepted.counts.append(c)
        return checked

    def commit(self, checked: Checked) -> list[ItemResult]:
        """Store what :meth:`check` accepted, in one transaction; one result per item, in the batch's order."""
        batch, accepted, retry_reason = checked.batch, checked.accepted, checked.retry_reason
        stored: set[int] | None = None
        if retry_reason is None:
            try:
                stored = self._store(accepted, checked.now)
            except DBAPIError as e:
                retry_reason = self._retry_reason(batch, e)
        ordered: list[ItemResult] = []
        groups: tuple[tuple[Kind, Sequence[SummaryIn | TileIn | LineCountIn]], ...] = (
            (Kind.SUMMARY, batch.summaries),
            (Kind.TILE, batch.tiles),
            (Kind.LINE_COUNT, batch.line_counts),
        )
        for kind, items in groups:
            for i, item in enumerate(items):
                if (kind, i) in checked.rejected:
                    ordered.append(checked.rejected[(kind, i)])
                elif stored is None:
                    ordered.append(ItemResult(kind, item.key, Status.RETRY, retry_reason or ""))
                elif id(item) in stored:
                    ordered.append(ItemResult(kind, item.key, Status.STORED))
                else:
                    ordered.append(ItemResult(kind, item.key, Status.DUPLICATE))
        if stored and self.feed is not None:
            self.feed.publish(batch.store_id, [s.row for s in accepted.summaries if id(s) in stored])
        return ordered

    @staticmethod
    def _retry_reason(batch: Batch, e: DBAPIError) -> str:
        logger.warning("store %s: batch %s not stored, agent told to retry: %s", batch.store_id, batch.batch_id, e)
        return f"database unavailable ({type(e.orig).__name__ if e.orig else type(e).__name__}): {str(e.orig)[:200]}"

    # --- reads that validation needs --------------------------------------------------------

    def layouts(self, store_id: str, camera_ids: Iterable[str]) -> dict[str, Layout]:
        """Declared zones and lines of the batch's cameras that an agent has declared."""
        wanted = sorted(set(camera_ids))
        if not wanted:
            return {}
        # one round trip: the declared cameras ("c"), and the zones ("z") and lines ("l") of the wanted ones
        query = union_all(
            select(cameras.c.camera_id, literal("c"), literal("")).where(
                cameras.c.store_id == store_id, cameras.c.camera_id.in_(wanted), cameras.c.declared
            ),
            select(zones.c.camera_id, literal("z"), zones.c.zone_id).where(
                zones.c.store_id == store_id, zones.c.camera_id.in_(wanted)
            ),
            select(lines.c.camera_id, literal("l"), lines.c.line_id).where(
                lines.c.store_id == store_id, lines.c.camera_id.in_(wanted)
            ),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        found = {cam: (set[str](), set[str]()) for cam, what, _ in rows if what == "c"}
        for cam, what, ident in rows:
            if cam in found and what != "c":
                found[cam][0 if what == "z" else 1].add(ident)
        return {c: Layout(frozenset(z), frozenset(ln)) for c, (z, ln) in found.items()}

    def _day_shapes(self, store_id: str, tiles: Sequence[TileIn]) -> dict[tuple[str, int], tuple[int, int]]:
        keys = sorted(
            {
                (t.row["camera_id"], rollups.day_of(t.row["bucket_start"]))
                for t in tiles
                if math.isfinite(t.row["bucket_start"])  # a missing start is the validator's to report
            }
        )
        if not keys:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    heatmap_daily.c.camera_id, heatmap_daily.c.day, heatmap_daily.c.rows, heatmap_daily.c.cols
                ).where(
                    heatmap_daily.c.store_id == store_id,
                    tuple_(heatmap_daily.c.camera_id, heatmap_daily.c.day).in_(keys),
                )
            )
            return {(cam, day): (r, c) for cam, day, r, c in rows}

    # --- the transaction --------------------------------------------------------------------

    def _store(self, accepted: _Accepted, now: float) -> set[int]:
        """ids of the item objects this call stored (the others were already there)."""
        if not (accepted.summaries or accepted.tiles or accepted.counts):
            return set()
        if self._write_lock is None:
            return self._transaction(accepted, now)
        with self._write_lock:
            return self._transaction(accepted, now)

    def _transaction(self, accepted: _Accepted, now: float) -> set[int]:
        stored: set[int] = set()
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: nothing changes under the key lookups
            new_summaries = self._insert_new(
                conn, track_summaries, [s.row for s in accepted.summaries], accepted.summaries
            )
            new_tiles = self._insert_new(conn, heatmap_tiles, [t.row for t in accepted.tiles], accepted.tiles)
            new_counts = self._insert_new(conn, line_counts, [c.row for c in accepted.counts], accepted.counts)
            self._add(conn, traffic_hourly, rollups.traffic_deltas(new_summaries), rollups.TRAFFIC_COUNTERS)
            self._add(conn, line_hourly, rollups.line_deltas(new_counts), ("in_count", "out_count"))
            self._merge_heatmaps(conn, rollups.heatmap_deltas(new_tiles))
            self._learn_layout(conn, new_summaries, new_counts, now)
            stored.update(id(i) for i in (*new_summaries, *new_tiles, *new_counts))
        return stored

    def _insert_new(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], items: Sequence[Any]
    ) -> list[Any]:
        """Insert what is not there yet; the items whose rows this call inserted, first occurrence only."""
        if not rows:
            return []
        key_of = _tuple_getter(_key_columns(table))
        columns = [c.name for c in written_columns(table)]
        values_of = _tuple_getter(columns)
        keys = [key_of(row) for row in rows]
        if conn.dialect.name == "postgresql":
            sql = values_sql(conn.dialect, table, tuple(columns), 1, "DO NOTHING", True)
            inserted = set(_returning_many(conn, sql, [values_of(row) for row in rows]))
        else:  # one writer at a time (BEGIN IMMEDIATE): what is not stored now is inserted below
            inserted = set(keys) - _stored_keys(conn, table, keys)
        new, values = [], []
        for key, row, item in zip(keys, rows, items, strict=True):
            if key in inserted:
                inserted.discard(key)  # a second copy in the same batch is a duplicate
                new.append(item)
                values.append(values_of(row))
        if conn.dialect.name != "postgresql":
            execute_values(conn, table, values, columns)
        return new

    def _add(self, conn: Connection, table: Table, deltas: dict[Any, Any], counters: Sequence[str]) -> None:
        if not deltas:
            return
        keys = _key_columns(table)
        columns = [*keys, *counters]
        rows = [[*key, *(sums[c] for c in counters)] for key, sums in sorted(deltas.items())]
        execute_values(conn, table, rows, columns, _add_sql(conn.dialect, table, counters))

    def _merge_heatmaps(self, conn: Connection, deltas: dict[rollups.DayKey, np.ndarray]) -> None:
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
        conn.execute(upsert(conn, heatmap_daily).on_conflict_do_nothing(), zero)
        t = heatmap_daily
        query = select(t.c.store_id, t.c.camera_id, t.c.day, t.c.cells).where(
            tuple_(t.c.store_id, t.c.camera_id, t.c.day).in_(keys)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        current = {(s, c, d): cells for s, c, d, cells in conn.execute(query)}
        for key in keys:
            total = np.frombuffer(current[key], dtype=np.float32).reshape(deltas[key].shape) + deltas[key]
            conn.execute(
                t.update()
                .where(and_(t.c.store_id == key[0], t.c.camera_id == key[1], t.c.day == key[2]))
                .values(cells=total.astype(np.float32).tobytes())
            )

    def _learn_layout(
        self, conn: Connection, summaries: Sequence[SummaryIn], counts: Sequence[LineCountIn], now: float
    ) -> None:
        """Cameras seen in data, and the zones and lines of cameras whose agent has not declared them."""
        seen = {(s.row["store_id"], s.row["camera_id"]) for s in summaries} | {
            (c.row["store_id"], c.row["camera_id"]) for c in counts
        }
        if not seen:
            return
        execute_values(
            conn,
            cameras,
            [(s, c, now, now, False) for s, c in sorted(seen)],
            ("store_id", "camera_id", "first_seen", "last_seen", "declared"),
            "DO UPDATE SET last_seen = excluded.last_seen",
        )
        zone_rows = {(s.row["store_id"], s.row["camera_id"], z) for s in summaries for z, _, _ in s.zone_dwell}
        line_rows = {(c.row["store_id"], c.row["camera_id"], c.row["line_id"]) for c in counts}
        if zone_rows:
            columns = ("store_id", "camera_id", "zone_id", "first_seen")
            execute_values(conn, zones, [(*z, now) for z in sorted(zone_rows)], columns)
        if line_rows:
            columns = ("store_id", "camera_id", "line_id", "first_seen")
            execute_values(conn, lines, [(*ln, now) for ln in sorted(line_rows)], columns)

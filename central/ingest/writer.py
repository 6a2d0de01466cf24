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
from central.ingest.items import SUMMARY_COLUMNS, Batch, ItemResult, Kind, LineCountIn, Status, SummaryColumns, TileIn
from central.ingest.validate import Layout
from central.live import LiveFeed
from central.timebuckets import day_of

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


def _insert_new(
    conn: Connection,
    table: Table,
    keys: Sequence[tuple[Any, ...]],
    rows: Callable[[list[int]], list[tuple[Any, ...]]],
) -> list[int]:
    """Insert the rows whose key is not stored yet: ``rows(positions)`` gives the rows (values in
    ``written_columns`` order) at those positions of ``keys``. Returns the positions this call inserted,
    first occurrence only (a second copy in the same batch is a duplicate)."""
    if not keys:
        return []
    columns = tuple(c.name for c in written_columns(table))
    if conn.dialect.name == "postgresql":
        sql = values_sql(conn.dialect, table, columns, 1, "DO NOTHING", True)
        inserted = set(_returning_many(conn, sql, rows(list(range(len(keys))))))
    else:  # one writer at a time (BEGIN IMMEDIATE): what is not stored now is inserted below
        inserted = set(keys) - _stored_keys(conn, table, keys)
    new = []
    for i, key in enumerate(keys):
        if key in inserted:
            inserted.discard(key)
            new.append(i)
    if conn.dialect.name != "postgresql":
        execute_values(conn, table, rows(new), columns)
    return new


@dataclass
class _Stored:
    summaries: set[int]  # positions in the batch's summary columns
    others: set[int]  # ids of the tile and count objects


@dataclass
class _Accepted:
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

    @classmethod
    def of(
        cls, columns: SummaryColumns, summaries: list[int], tiles: list[TileIn], counts: list[LineCountIn]
    ) -> _Accepted:
        visits = rollups.visits(columns, summaries)
        return cls(
            columns,
            summaries,
            tiles,
            counts,
            columns.rows(_key_columns(track_summaries), summaries),
            columns.rows(SUMMARY_COLUMNS, summaries),
            visits,
            rollups.traffic_deltas(visits),
        )


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
        checked = Checked(batch, now, {}, _Accepted.of(batch.summaries, [], [], []))
        camera_ids = set(batch.summaries.camera_id) | {c.row["camera_id"] for c in batch.line_counts}
        try:
            layouts = self.layouts(batch.store_id, camera_ids)
            shapes = self._day_shapes(batch.store_id, batch.tiles)
        except DBAPIError as e:
            checked.retry_reason = self._retry_reason([batch], e)
            return checked
        results = checked.rejected
        summaries, accepted_summaries, tiles, counts = batch.summaries, [], [], []
        reasons = validate.check_summaries(summaries, batch.store_id, now, self.limits, layouts)
        for i, reason in enumerate(reasons):
            if reason:
                results[(Kind.SUMMARY, i)] = ItemResult(Kind.SUMMARY, summaries.track_id[i], Status.REJECTED, reason)
            else:
                accepted_summaries.append(i)
        for i, t in enumerate(batch.tiles):
            start = t.row["bucket_start"]
            day = (t.row["camera_id"], day_of(start)) if math.isfinite(start) else None
            reason = validate.check_tile(t, batch.store_id, now, self.limits, shapes.get(day) if day else None)
            if reason:
                results[(Kind.TILE, i)] = ItemResult(Kind.TILE, t.key, Status.REJECTED, reason)
            else:
                tiles.append(t)
                if day is not None:  # later tiles of that day in this batch must have the same grid
                    shapes.setdefault(day, (t.row["rows"], t.row["cols"]))
        for i, c in enumerate(batch.line_counts):
            reason = validate.check_line_count(c, batch.store_id, now, self.limits, layouts)
            if reason:
                results[(Kind.LINE_COUNT, i)] = ItemResult(Kind.LINE_COUNT, c.key, Status.REJECTED, reason)
            else:
                counts.append(c)
        checked.accepted = _Accepted.of(summaries, accepted_summaries, tiles, counts)
        return checked

    def commit(self, checked: Checked) -> list[ItemResult]:
        """Store what :meth:`check` accepted, in one transaction; one result per item, in the batch's order."""
        return self.commit_many([checked])[0]

    def commit_many(self, group: Sequence[Checked]) -> list[list[ItemResult]]:
        """:meth:`commit` of several checked batches in one transaction: one key lookup, one insert per
        table and one update of each rollup row for all of them. Each batch's results are what committing
        the batches one after another, in this order, would give."""
        live = [c for c in group if c.retry_reason is None]  # the others' checks could not read the database
        outcome: list[_Stored | None] = [None] * len(live)
        failure = ""
        if live:
            try:
                outcome = list(self._store([c.accepted for c in live], max(c.now for c in live)))
            except DBAPIError as e:
                failure = self._retry_reason([c.batch for c in live], e)
            except Exception as e:  # a defect: it must not fail the pushes grouped with the one that has it
                if len(live) > 1:
                    logger.exception("a group of %d pushes failed: committing them one by one", len(live))
                    return [self.commit_many([c])[0] for c in group]
                batch = live[0].batch
                logger.exception("store %s: batch %s not stored, agent told to retry", batch.store_id, batch.batch_id)
                failure = f"central could not store the batch ({type(e).__name__}: {str(e)[:200]}): resend it later"
        stored = dict(zip(map(id, live), outcome, strict=True))
        return [self._results(c, stored.get(id(c)), c.retry_reason or failure) for c in group]

    def _results(self, checked: Checked, stored: _Stored | None, retry_reason: str) -> list[ItemResult]:
        """One result per item of the batch, in its order; ``stored`` None: nothing of it was stored."""
        batch, rejected = checked.batch, checked.rejected
        keys = batch.summaries.track_id
        if stored is None:
            ordered = [
                rejected.get((Kind.SUMMARY, i)) or ItemResult(Kind.SUMMARY, k, Status.RETRY, retry_reason)
                for i, k in enumerate(keys)
            ]
        else:
            new = stored.summaries
            ordered = [
                rejected.get((Kind.SUMMARY, i))
                or ItemResult(Kind.SUMMARY, k, Status.STORED if i in new else Status.DUPLICATE)
                for i, k in enumerate(keys)
            ]
        others: tuple[tuple[Kind, Sequence[TileIn | LineCountIn]], ...] = (
            (Kind.TILE, batch.tiles),
            (Kind.LINE_COUNT, batch.line_counts),
        )
        for kind, items in others:
            for i, item in enumerate(items):
                if (kind, i) in rejected:
                    ordered.append(rejected[(kind, i)])
                elif stored is None:
                    ordered.append(ItemResult(kind, item.key, Status.RETRY, retry_reason))
                elif id(item) in stored.others:
                    ordered.append(ItemResult(kind, item.key, Status.STORED))
                else:
                    ordered.append(ItemResult(kind, item.key, Status.DUPLICATE))
        if stored is not None and stored.summaries and self.feed is not None and self.feed.subscribers:
            self.feed.publish(batch.store_id, [batch.summaries.row(i) for i in sorted(stored.summaries)])
        return ordered

    @staticmethod
    def _retry_reason(batches: Sequence[Batch], e: DBAPIError) -> str:
        logger.warning(
            "%d batch(es) not stored, agents told to retry (%s): %s",
            len(batches),
            ", ".join(f"store {b.store_id} batch {b.batch_id}" for b in batches[:5]),
            e,
        )
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
                (t.row["camera_id"], day_of(t.row["bucket_start"]))
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

    def _store(self, group: Sequence[_Accepted], now: float) -> list[_Stored]:
        """What this call stored of each batch (the rest was already there)."""
        if not any(a.summaries or a.tiles or a.counts for a in group):
            return [_Stored(set(), set()) for _ in group]
        if self._write_lock is None:
            return self._transaction(group, now)
        with self._write_lock:
            return self._transaction(group, now)

    def _transaction(self, group: Sequence[_Accepted], now: float) -> list[_Stored]:
        keys = [k for a in group for k in a.summary_keys]
        rows = [r for a in group for r in a.summary_rows]
        owners = [(b, i) for b, a in enumerate(group) for i in a.summaries]  # of each key: batch, position
        tiles = [t for a in group for t in a.tiles]
        counts = [c for a in group for c in a.counts]
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: nothing changes under the key lookups
            new_at = _insert_new(conn, track_summaries, keys, lambda at: [rows[i] for i in at])
            new_summaries: list[list[int]] = [[] for _ in group]
            for k in new_at:
                b, i = owners[k]
                new_summaries[b].append(i)
            new_tiles = self._insert_items(conn, heatmap_tiles, tiles)
            new_counts = self._insert_items(conn, line_counts, counts)
            traffic: dict[rollups.TrafficKey, dict[str, float]] = {}
            visits = []
            for a, new in zip(group, new_summaries, strict=True):
                if len(new) == len(a.summaries):  # all new: as the check stage summed
                    visits.append(a.visits)
                    rollups.add_deltas(traffic, a.traffic)
                else:
                    visits.append(rollups.visits(a.columns, new))
                    rollups.add_deltas(traffic, rollups.traffic_deltas(visits[-1]))
            self._add(conn, traffic_hourly, traffic, rollups.TRAFFIC_COUNTERS)
            self._add(conn, line_hourly, rollups.line_deltas(new_counts), ("in_count", "out_count"))
            self._merge_heatmaps(conn, rollups.heatmap_deltas(new_tiles))
            self._learn_layout(conn, visits, new_counts, now)
        new_items = {id(i) for i in (*new_tiles, *new_counts)}
        return [
            _Stored(set(new), {id(i) for i in (*a.tiles, *a.counts)} & new_items)
            for a, new in zip(group, new_summaries, strict=True)
        ]

    @staticmethod
    def _insert_items(conn: Connection, table: Table, items: Sequence[TileIn | LineCountIn]) -> list[Any]:
        """Insert the tiles or counts not stored yet; those this call inserted."""
        if not items:
            return []
        key_of = _tuple_getter(_key_columns(table))
        values_of = _tuple_getter([c.name for c in written_columns(table)])
        new_at = _insert_new(
            conn, table, [key_of(i.row) for i in items], lambda at: [values_of(items[i].row) for i in at]
        )
        return [items[i] for i in new_at]

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
        self, conn: Connection, visits: Sequence[rollups.Visits], counts: Sequence[LineCountIn], now: float
    ) -> None:
        """Cameras seen in data, and the zones and lines of cameras whose agent has not declared them."""
        seen = {(c.row["store_id"], c.row["camera_id"]) for c in counts}
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
        execute_values(
            conn,
            cameras,
            [(s, c, now, now, False) for s, c in sorted(seen)],
            ("store_id", "camera_id", "first_seen", "last_seen", "declared"),
            "DO UPDATE SET last_seen = excluded.last_seen",
        )
        line_rows = {(c.row["store_id"], c.row["camera_id"], c.row["line_id"]) for c in counts}
        if zone_rows:
            columns = ("store_id", "camera_id", "zone_id", "first_seen")
            execute_values(conn, zones, [(*z, now) for z in sorted(zone_rows)], columns)
        if line_rows:
            columns = ("store_id", "camera_id", "line_id", "first_seen")
            execute_values(conn, lines, [(*ln, now) for ln in sorted(line_rows)], columns)

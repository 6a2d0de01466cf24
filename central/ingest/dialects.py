"""What ingest's writes do differently on SQLite and PostgreSQL, behind one small interface.

Idempotency is the database's: each item's key (a summary's store, start time
and UUID; a tile's or count's bucket) is unique, and only the items a call
stored change the rollups. On PostgreSQL, ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` tells which those are, also across several central replicas (rollup
rows are updated in a fixed order, so concurrent pushes cannot deadlock). On
SQLite the transaction takes the write lock first (``BEGIN IMMEDIATE``), looks
the batch's keys up in one statement and inserts the rest.

:func:`for_engine` picks the implementation once per engine; the ingest code
paths call its methods and never ask which database they write to.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeAlias

from sqlalchemy import Connection, Dialect, Engine, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from central.db.schema import written_columns
from central.ingest.sql import MAX_PARAMS, MAX_ROWS, first_new, key_columns, values_sql

Rows = Sequence[Sequence[Any]]
RowsAt = Callable[[list[int]], list[tuple[Any, ...]]]  # positions in the keys -> the rows there
UpsertInsert: TypeAlias = postgresql.Insert | sqlite.Insert


class DialectWrites(Protocol):
    """The statements and locking of ingest's write transactions on one kind of database."""

    def exclusive(self) -> AbstractContextManager[object]:
        """Held around each write transaction."""

    def begin(self, conn: Connection) -> None:
        """First statement of a write transaction, before any key lookup."""

    def insert(self, table: Table) -> UpsertInsert:
        """The dialect's INSERT, which knows ON CONFLICT."""

    def for_update(self, query: Select[Any]) -> Select[Any]:
        """``query`` reading rows that the transaction then updates."""

    def write_rows(
        self, conn: Connection, table: Table, rows: Rows, columns: Sequence[str], on_conflict: str = "DO NOTHING"
    ) -> None:
        """Write ``rows`` (values in ``columns`` order), ``ON CONFLICT (key) <on_conflict>``."""

    def insert_new(self, conn: Connection, table: Table, keys: Sequence[tuple[Any, ...]], rows: RowsAt) -> list[int]:
        """Insert the rows whose key is not stored yet: ``rows(positions)`` gives the rows (values in
        ``written_columns`` order) at those positions of ``keys``. Returns the positions this call inserted,
        first occurrence only (a second copy in the same batch is a duplicate)."""


class SqliteWrites:
    """One writer at a time: queued on a lock here rather than in SQLite's busy-wait loop, and the write lock
    taken first, so that nothing changes under the key lookups."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._lock = threading.Lock()

    def exclusive(self) -> AbstractContextManager[object]:
        return self._lock

    def begin(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def insert(self, table: Table) -> UpsertInsert:
        return sqlite.insert(table)

    def for_update(self, query: Select[Any]) -> Select[Any]:
        return query  # the transaction holds the database's write lock already

    def write_rows(
        self, conn: Connection, table: Table, rows: Rows, columns: Sequence[str], on_conflict: str = "DO NOTHING"
    ) -> None:
        """Statements of up to ``MAX_ROWS`` rows each."""
        names = tuple(columns)
        per = max(1, min(MAX_ROWS, MAX_PARAMS // len(columns)))
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            sql = values_sql(self.dialect, table, names, len(chunk), on_conflict, False)
            conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(chunk)))

    def insert_new(self, conn: Connection, table: Table, keys: Sequence[tuple[Any, ...]], rows: RowsAt) -> list[int]:
        if not keys:
            return []
        # one writer at a time (BEGIN IMMEDIATE): what is not stored now is inserted below
        new = first_new(keys, set(keys) - self._stored_keys(conn, table, keys))
        self.write_rows(conn, table, rows(new), tuple(c.name for c in written_columns(table)))
        return new

    def _stored_keys(self, conn: Connection, table: Table, keys: Sequence[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """Which of ``keys`` the table holds already. One indexed statement returns only those (usually
        none): far cheaper than ``RETURNING`` every inserted row, which steps the statement once per row,
        each step giving up the GIL and waiting to take it back while other pushes convert."""
        found: set[tuple[Any, ...]] = set()
        per = MAX_PARAMS // len(key_columns(table))
        for i in range(0, len(keys), per):
            chunk = keys[i : i + per]
            result = conn.exec_driver_sql(_stored_sql(self.dialect, table, len(chunk)), tuple(itertools.chain(*chunk)))
            found.update(tuple(r) for r in result)
        return found


@functools.lru_cache(maxsize=64)
def _stored_sql(dialect: Dialect, table: Table, rows: int) -> str:
    quote = dialect.identifier_preparer.quote
    keys = key_columns(table)
    one = "(" + ", ".join(["?"] * len(keys)) + ")"
    on = " AND ".join(f"t.{quote(k)} = v.column{i + 1}" for i, k in enumerate(keys))
    # CROSS JOIN makes SQLite walk the listed keys and look each up in the table's key index
    return (
        f"SELECT {', '.join(f't.{quote(k)}' for k in keys)} FROM (VALUES {', '.join([one] * rows)}) AS v "
        f"CROSS JOIN {quote(table.name)} AS t ON {on}"
    )


class PostgresWrites:
    """Concurrent writers, also from other replicas: ``RETURNING`` says which rows each one inserted."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def exclusive(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def begin(self, conn: Connection) -> None:
        pass  # the key uniqueness and row locks order concurrent transactions

    def insert(self, table: Table) -> UpsertInsert:
        return postgresql.insert(table)

    def for_update(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update()

    def write_rows(
        self, conn: Connection, table: Table, rows: Rows, columns: Sequence[str], on_conflict: str = "DO NOTHING"
    ) -> None:
        """One single-row statement run for every row: psycopg pipelines it, which the server handles faster
        than one statement of many rows."""
        sql = values_sql(self.dialect, table, tuple(columns), 1, on_conflict, False)
        conn.exec_driver_sql(sql, [tuple(r) for r in rows])

    def insert_new(self, conn: Connection, table: Table, keys: Sequence[tuple[Any, ...]], rows: RowsAt) -> list[int]:
        if not keys:
            return []
        columns = tuple(c.name for c in written_columns(table))
        sql = values_sql(self.dialect, table, columns, 1, "DO NOTHING", True)
        return first_new(keys, set(_returning_many(conn, sql, rows(list(range(len(keys)))))))


def _returning_many(conn: Connection, sql: str, rows: Rows) -> list[tuple[Any, ...]]:
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


_BY_NAME: dict[str, Callable[[Dialect], DialectWrites]] = {"sqlite": SqliteWrites, "postgresql": PostgresWrites}


def for_engine(engine: Engine) -> DialectWrites:
    """The writes for ``engine``'s database; each call makes its own (on SQLite, its own writer queue)."""
    make = _BY_NAME.get(engine.dialect.name)
    if make is None:
        raise ValueError(f"ingest cannot write to a {engine.dialect.name!r} database: it supports {sorted(_BY_NAME)}")
    return make(engine.dialect)

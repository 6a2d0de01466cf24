"""The SQL text of ingest's statements, built once per table and row count from the schema.

Multi-row ``INSERT ... VALUES (...), (...)`` run through ``exec_driver_sql``: the
same SQL SQLAlchemy's compiler would produce, without its per-parameter Python
work, which cost more than the database itself at hundreds of summaries per push.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Table, UniqueConstraint

# rows per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters
MAX_PARAMS = 30_000
MAX_ROWS = 1000


def key_columns(table: Table) -> list[str]:
    """What identifies a row to ``ON CONFLICT``: its unique key where it has one beside a surrogate id
    (``track_summaries``), else its primary key."""
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            return [c.name for c in constraint.columns]
    return [c.name for c in table.primary_key.columns]


def tuple_getter(names: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``row -> (row[name], ...)`` at C speed (``itemgetter`` of one name gives the bare value)."""
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*names)


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
    keys = ", ".join(quote(k) for k in key_columns(table))
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([one] * rows)} ON CONFLICT ({keys}) {on_conflict}"
    )
    return f"{sql} RETURNING {keys}" if returning else sql


def add_sql(dialect: Dialect, table: Table, counters: Sequence[str]) -> str:
    """``DO UPDATE`` adding each counter of the conflicting row to the stored one."""
    quote = dialect.identifier_preparer.quote
    name = quote(table.name)
    return "DO UPDATE SET " + ", ".join(f"{quote(c)} = {name}.{quote(c)} + excluded.{quote(c)}" for c in counters)


def first_new(keys: Sequence[tuple[Any, ...]], inserted: set[tuple[Any, ...]]) -> list[int]:
    """The positions in ``keys`` of the ``inserted`` ones, first occurrence only (a second copy in the same
    batch is a duplicate). Empties ``inserted``."""
    new = []
    for i, key in enumerate(keys):
        if key in inserted:
            inserted.discard(key)
            new.append(i)
    return new


@functools.lru_cache(maxsize=64)
def starts_sql(dialect: Dialect, table: Table, ids: int) -> str:
    """``SELECT track_id, start_ts`` of a store's summaries starting between two times with one of ``ids`` UUIDs
    (parameters: store, from, to, then the UUIDs)."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return (
        f"SELECT track_id, start_ts FROM {quote(table.name)} WHERE store_id = {mark} AND start_ts >= {mark} "
        f"AND start_ts <= {mark} AND track_id IN ({', '.join([mark] * ids)})"
    )

"""Engines for the central database: SQLite (WAL) by default, PostgreSQL through psycopg 3 by URL."""

from __future__ import annotations

import os
import sqlite3
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # WAL + NORMAL: durable at checkpoints, never corrupt
    "PRAGMA foreign_keys=ON",
    # a larger page cache (64 MB) for the indexes ingest updates, and checkpoints of the WAL every
    # 40 MB instead of 4: fewer, larger copies back into the database file
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=10000",
)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and foreign keys on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()
            if parsed.database and parsed.database != ":memory:" and engine not in _FILES:
                _FILES[engine] = _identity(parsed.database)

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not the legacy psycopg2
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


# the SQLite file each engine opened first: (path, device, inode)
_FILES: weakref.WeakKeyDictionary[Engine, tuple[str, int, int] | None] = weakref.WeakKeyDictionary()


def _identity(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_dev, st.st_ino


def database_file_problem(engine: Engine) -> str | None:
    """For a SQLite engine: why its database file is no longer the one it opened (deleted or replaced while
    central runs; every write since goes to a file nobody will read again), or None. One ``stat``: cheap
    enough for every push."""
    opened = _FILES.get(engine)
    if opened is None:
        return None
    path, device, inode = opened
    now = _identity(path)
    if now is None:
        return f"the database file {path} was deleted while central runs: restore it or restart central"
    if now[1:] != (device, inode):
        return f"the database file {path} was replaced while central runs: restart central"
    return None

"""The background checkpointer copies committed data from SQLite's WAL into the database file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from central.db.checkpoint import WalCheckpointer
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.stores import create_store


def _stores_in_file(path: Path) -> int:
    """Stores the database file itself holds, ignoring the WAL (``immutable``: nothing of it is read)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM stores").fetchone()[0])
    finally:
        conn.close()


def test_committed_rows_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:  # start from an empty WAL
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for i in range(3):
        create_store(engine, f"s{i}")
    assert _stores_in_file(path) == 0, "the commits are in the WAL only (far below wal_autocheckpoint)"
    with WalCheckpointer(engine, interval_s=0.02) as checkpointer:
        deadline = time.monotonic() + 10
        while _stores_in_file(path) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert _stores_in_file(path) == 3
    assert checkpointer.checkpoints >= 1
    engine.dispose()


def test_other_databases_get_no_thread() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/postgres")
    with WalCheckpointer(engine) as checkpointer:
        assert checkpointer.path is None
        time.sleep(0.05)
    assert checkpointer.checkpoints == 0
    engine.dispose()

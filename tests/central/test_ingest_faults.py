"""Ingest when the database fails: a full disk or a server gone answers RETRY, and loses nothing stored."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from grpc_fixtures import push, summary
from sqlalchemy import event, func, select

from central.config import IngestLimits
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import track_summaries, traffic_hourly
from central.ingest.convert import batch_in
from central.ingest.items import Status
from central.ingest.writer import IngestWriter
from central.stores import create_store


def stored_counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(track_summaries)).scalar_one()
        visits = conn.execute(
            select(func.coalesce(func.sum(traffic_hourly.c.visits), 0)).where(traffic_hourly.c.zone_id == "")
        ).scalar_one()
    engine.dispose()
    return int(rows), int(visits)


def test_a_full_disk_answers_retry_and_keeps_what_was_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    create_store(engine, "s1")
    writer = IngestWriter(engine, IngestLimits())
    first = writer.push(batch_in(push("s1", [summary("s1") for _ in range(20)]), time.time()))
    assert {r.status for r in first} == {Status.STORED}
    pages = sqlite3.connect(tmp_path / "central.db").execute("PRAGMA page_count").fetchone()[0]

    full = make_engine(url)

    @event.listens_for(full, "connect")
    def _no_room(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full at today's size

    big = push("s1", [summary("s1", path_points=64) for _ in range(400)] + [summary("s1", behavior="angry")])
    results = IngestWriter(full, IngestLimits()).push(batch_in(big, time.time()))
    assert [r.status for r in results[:400]] == [Status.RETRY] * 400
    assert "database unavailable" in results[0].reason
    assert "full" in results[0].reason
    assert results[400].status == Status.REJECTED  # bad data stays bad data, full disk or not
    assert stored_counts(url) == (20, 20)  # nothing half-written, nothing lost

    again = writer.push(batch_in(big, time.time()))  # room again: the agent's retry lands
    assert [r.status for r in again[:400]] == [Status.STORED] * 400
    assert stored_counts(url) == (420, 420)
    full.dispose()
    engine.dispose()


def test_a_database_server_gone_answers_retry() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    results = IngestWriter(engine, IngestLimits()).push(batch_in(push("s1", [summary("s1")]), time.time()))
    assert [r.status for r in results] == [Status.RETRY]
    assert "database unavailable" in results[0].reason
    engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_restarted_connections_recover(database_url: str) -> None:
    """Connections the server dropped (a restart) are replaced: the next push is stored, not failed."""
    engine = make_engine(database_url)
    create_store(engine, "s1")
    writer = IngestWriter(engine, IngestLimits())
    assert writer.push(batch_in(push("s1", [summary("s1")]), time.time()))[0].status == Status.STORED
    admin = make_engine(database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (engine.url.database,),
        )
    assert writer.push(batch_in(push("s1", [summary("s1")]), time.time()))[0].status == Status.STORED
    admin.dispose()
    engine.dispose()


def test_tiles_that_cannot_be_summed_are_rejected_alone(tmp_path: Path) -> None:
    """A tile with no bucket start, or a day's tiles of two grid sizes in one batch, must not fail the batch."""
    from grpc_fixtures import HOUR_START, stamp
    from retail_proto.v1 import edge_sync_pb2 as pb

    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    create_store(engine, "s1")

    def tile(minute: int, rows: int, cols: int, start: bool = True) -> pb.HeatmapTile:
        return pb.HeatmapTile(
            store_id="s1",
            camera_id="cam1",
            bucket_start=stamp(HOUR_START + 60 * minute) if start else None,
            bucket_seconds=60,
            rows=rows,
            cols=cols,
            person_seconds=[1.0] * rows * cols,
        )

    request = push("s1", [summary("s1")], tiles=[tile(0, 2, 2), tile(1, 3, 3), tile(2, 2, 2, start=False)])
    results = IngestWriter(engine, IngestLimits()).push(batch_in(request, time.time()))
    assert [r.status for r in results] == [Status.STORED, Status.STORED, Status.REJECTED, Status.REJECTED]
    assert "differs from the 2x2" in results[2].reason
    assert "bucket_start is missing" in results[3].reason
    engine.dispose()

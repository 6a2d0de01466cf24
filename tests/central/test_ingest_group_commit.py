"""Pushes committed together (group commit) give each agent what committing them one by one would."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from grpc_fixtures import HOUR_START, auth, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import func, select

from central.config import IngestLimits
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import track_summaries, traffic_hourly
from central.ingest.convert import batch_in
from central.ingest.items import Status
from central.ingest.writer import IngestWriter
from central.stores import create_store


def totals(database_url: str) -> tuple[int, int, int]:
    """Stored summaries, and the visits the camera rows and the zone rows of the rollup count."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(track_summaries)).scalar_one()
        visits = func.coalesce(func.sum(traffic_hourly.c.visits), 0)
        cameras = conn.execute(select(visits).where(traffic_hourly.c.zone_id == "")).scalar_one()
        zones = conn.execute(select(visits).where(traffic_hourly.c.zone_id != "")).scalar_one()
    engine.dispose()
    return int(rows), int(cameras), int(zones)


def test_a_group_stores_each_summary_once_in_push_order(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    create_store(engine, "s1")
    create_store(engine, "s2")
    writer = IngestWriter(engine, IngestLimits())
    first = [summary("s1", seconds=30 + i) for i in range(6)]
    resent = push("s1", [*first[:2], summary("s1", start=HOUR_START + 7200)])  # two of the first push again
    pushes = [push("s1", first), push("s2", [summary("s2", camera_id="door")] * 2), resent]
    now = time.time()
    results = writer.commit_many([writer.check(batch_in(p, now)) for p in pushes])
    assert [r.status for r in results[0]] == [Status.STORED] * 6
    assert [r.status for r in results[1]] == [Status.STORED, Status.DUPLICATE]  # the same summary twice
    assert [r.status for r in results[2]] == [Status.DUPLICATE, Status.DUPLICATE, Status.STORED]
    assert [r.key for r in results[2]] == list(resent.summary_columns.track_id)
    assert totals(database_url) == (8, 8, 8)  # rollups count each stored summary once
    again = writer.commit_many([writer.check(batch_in(p, now)) for p in pushes])
    assert {r.status for rs in again for r in rs} == {Status.DUPLICATE}
    assert totals(database_url) == (8, 8, 8)
    engine.dispose()


def test_a_push_the_checks_could_not_read_for_is_told_to_retry_alone(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    create_store(engine, "s1")
    writer = IngestWriter(engine, IngestLimits())
    good = writer.check(batch_in(push("s1", [summary("s1")]), time.time()))
    unread = writer.check(batch_in(push("s1", [summary("s1")]), time.time()))
    unread.retry_reason = "database unavailable (OperationalError): the checks could not read"
    results = writer.commit_many([good, unread])
    assert results[0][0].status == Status.STORED
    assert (results[1][0].status, results[1][0].reason) == (Status.RETRY, unread.retry_reason)
    assert totals(database_url) == (1, 1, 1)
    engine.dispose()


@pytest.mark.parametrize("agents", [12])
def test_concurrent_agents_all_land_with_their_rollups(database_url: str, agents: int) -> None:
    engine = make_engine(database_url)
    tokens = {f"s{i}": create_store(engine, f"s{i}") for i in range(agents)}
    per_push, pushes = 50, 4
    with running_ingest(database_url) as central:

        def agent(store: str) -> list[pb.PushAck]:
            client = stub(central.port)
            made = [
                summary(store, start=HOUR_START + 60 * k, zones=(("z1", 5.0, 1), ("till", 2.0, 1)))
                for k in range(pushes)
                for _ in range(per_push)
            ]
            batches = [push(store, made[i : i + per_push]) for i in range(0, len(made), per_push)]
            acks = [client.Push(b, metadata=auth(tokens[store]), timeout=60) for b in batches]
            acks.append(client.Push(batches[0], metadata=auth(tokens[store]), timeout=60))  # a resend
            return acks

        with ThreadPoolExecutor(agents) as pool:
            acks = list(pool.map(agent, tokens))
    for store_acks in acks:
        assert [r.status for a in store_acks[:-1] for r in a.results] == [pb.ITEM_STATUS_STORED] * per_push * pushes
        assert {r.status for r in store_acks[-1].results} == {pb.ITEM_STATUS_DUPLICATE}
    stored = agents * per_push * pushes
    assert totals(database_url) == (stored, stored, 2 * stored)
    engine.dispose()


def tile(rows: int, cols: int, minute: int) -> pb.HeatmapTile:
    return pb.HeatmapTile(
        store_id="s1",
        camera_id="cam1",
        bucket_start=stamp(HOUR_START + 60 * minute),
        bucket_seconds=60,
        rows=rows,
        cols=cols,
        person_seconds=[1.0] * (rows * cols),
    )


def test_a_push_that_fails_in_its_group_fails_alone_and_only_the_item_at_fault_is_rejected(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    create_store(engine, "s1")
    writer = IngestWriter(engine, IngestLimits())
    now = time.time()
    # two agents report one camera's day with different grids; both checked before either is stored
    first = writer.check(batch_in(push("s1", [summary("s1")], tiles=[tile(2, 3, 0)]), now))
    second = writer.check(batch_in(push("s1", [summary("s1")], tiles=[tile(4, 4, 1)]), now))
    results = writer.commit_many([first, second])
    assert [r.status for r in results[0]] == [Status.STORED, Status.STORED]
    # the other push's summary is stored; its tile, which no transaction can store, is rejected alone
    assert [r.status for r in results[1]] == [Status.STORED, Status.REJECTED]
    assert "central cannot store this item" in results[1][1].reason
    assert totals(database_url) == (2, 2, 2)
    resent = writer.push(second.batch)
    assert [r.status for r in resent] == [Status.DUPLICATE, Status.REJECTED]
    assert "differs from the 2x3 already stored" in resent[1].reason
    engine.dispose()

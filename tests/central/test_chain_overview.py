"""``GET /overview``: every store of the chain with its numbers, agents and gaps, in a fixed number of queries,
over real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from central.db.engine import make_engine
from tests.central.rollup_rows import HOUR, Served, add_agent, add_camera, add_store, add_uptime, add_visits, served

NOW_HOUR = int(time.time() // HOUR) * HOUR
# the range: the 24 hours up to and including the current one; the previous period: the 24 before
WINDOW = {"from": str(NOW_HOUR - 23 * HOUR), "to": str(NOW_HOUR + HOUR)}
FIRST_REPORT = NOW_HOUR - 30 * HOUR


@pytest.fixture
def api(database_url: str) -> Iterator[Served]:
    engine = make_engine(database_url)
    now = time.time()
    # a: Paris, this period 5 now + 3 twelve hours ago, 4 in the previous period; one of its 2 cameras is down
    # for an hour, and one of its 2 agents is offline
    add_store(engine, "a", "Europe/Paris", "Avenue")
    add_camera(engine, "a", "door", uptime_since=FIRST_REPORT)
    add_camera(engine, "a", "aisle", uptime_since=FIRST_REPORT)
    add_visits(engine, "a", "door", {NOW_HOUR: 5, NOW_HOUR - 12 * HOUR: 3}, dwell_s=60, behavior="decisive")
    add_visits(engine, "a", "door", {NOW_HOUR - 30 * HOUR: 4}, behavior="hesitant")
    reported = range(FIRST_REPORT, NOW_HOUR + HOUR, HOUR)
    add_uptime(engine, "a", "door", dict.fromkeys(reported, 3600.0))
    add_uptime(engine, "a", "aisle", {h: 3600.0 if h != NOW_HOUR - 5 * HOUR else 600.0 for h in reported})
    add_agent(engine, "a", "edge-1", now - 10, {"door": True, "aisle": False}, backlog=7)
    add_agent(engine, "a", "edge-2", now - 3600, {"aisle": True}, backlog=5)
    # b: Kolkata, 2 visits now and none before; its camera reported every hour
    add_store(engine, "b", "Asia/Kolkata", "Bazaar")
    add_camera(engine, "b", "door", uptime_since=FIRST_REPORT)
    add_visits(engine, "b", "door", {NOW_HOUR: 2}, dwell_s=30, behavior="interested")
    add_uptime(engine, "b", "door", dict.fromkeys(reported, 3600.0))
    # c: nothing at all
    add_store(engine, "c")
    with served(engine) as api:
        yield api
    engine.dispose()


def test_every_store_with_its_visits_change_mix_agents_and_gaps(api: Served) -> None:
    body = api.ok("/api/v1/overview", **WINDOW)
    assert body["total"] == 3
    assert body["previous_range"]["start_ts"] == NOW_HOUR - 47 * HOUR
    assert body["previous_range"]["end_ts"] == NOW_HOUR - 23 * HOUR
    a, b, c = body["stores"]
    assert (a["store_id"], a["name"], a["timezone"]) == ("a", "Avenue", "Europe/Paris")
    assert a["period"] == {"visits": 8, "total_dwell_s": 480.0, "mean_dwell_s": 60.0}
    assert a["previous"]["visits"] == 4
    assert a["change"] == pytest.approx(1.0)
    assert a["today"]["visits"] >= 5  # the current hour is today in every zone; 12 hours ago may be too
    assert {s["behavior"]: s["count"] for s in a["behavior"] if s["count"]} == {"decisive": 8}
    assert a["status"] == {
        "agents": 2,
        "agents_online": 1,
        "online": True,
        "last_seen": pytest.approx(time.time() - 10, abs=120),
        "backlog": 12,
        "cameras_connected": 1,  # only the online agent's reports count
        "cameras_total": 2,
    }
    assert a["has_gaps"] is True  # aisle was up 10 minutes of one hour

    assert b["today"] == {"visits": 2, "total_dwell_s": 60.0, "mean_dwell_s": 30.0}
    assert b["previous"]["visits"] == 0
    assert b["change"] is None  # nothing to compare with
    assert b["has_gaps"] is False
    assert b["status"]["online"] is False
    assert b["status"]["last_seen"] is None

    assert c["period"]["visits"] == 0
    assert c["has_gaps"] is False  # no camera reports uptime: nothing is judged
    assert c["status"]["cameras_total"] == 0


def test_a_page_costs_the_same_queries_whatever_its_size(api: Served) -> None:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    api.ok("/api/v1/overview", **WINDOW)  # the API key is checked and remembered
    event.listen(api.engine, "before_cursor_execute", count)
    try:
        costs = []
        for limit in (1, 3):
            statements.clear()
            page = api.ok("/api/v1/overview", limit=limit, **WINDOW)
            assert len(page["stores"]) == limit
            costs.append(len(statements))
    finally:
        event.remove(api.engine, "before_cursor_execute", count)
    assert costs[0] == costs[1]
    assert costs[1] <= 8  # the API key's row, the stores' count and page, five grouped reads
    assert not any("track_summaries" in s for s in statements)  # rollups only


def test_pages_are_bounded_and_ordered(api: Served) -> None:
    page = api.ok("/api/v1/overview", limit=2, offset=1, **WINDOW)
    assert [s["store_id"] for s in page["stores"]] == ["b", "c"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    too_many = api.client.get("/api/v1/overview", params={"limit": 100_000}, headers=api.viewer)
    assert too_many.status_code == 422

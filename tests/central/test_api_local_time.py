"""Series in the store's local hours and days over real HTTP, on SQLite and PostgreSQL; the time zone set and
changed by an admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, insert, select

from central.db.engine import make_engine
from central.db.schema import line_hourly, stores
from central.stores import StoreError, change_store, create_store
from tests.central.rollup_rows import HOUR, Served, add_camera, add_store, add_visits, served


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


# one visit in every UTC hour from Oct 23 to Oct 28 2026 (Paris falls back on the 25th), and in Kolkata two
# visits in the hour 23:30-00:30 local and three in the next one
PARIS_HOURS = range(utc("2026-10-23T00:00"), utc("2026-10-28T00:00"), HOUR)
KOLKATA = {utc("2026-11-19T18:00"): 2, utc("2026-11-19T19:00"): 3}


@pytest.fixture
def api(database_url: str) -> Iterator[Served]:
    engine = make_engine(database_url)
    add_store(engine, "paris", "Europe/Paris")
    add_store(engine, "kolkata", "Asia/Kolkata")
    add_camera(engine, "paris", "door")
    add_camera(engine, "kolkata", "door")
    add_visits(engine, "paris", "door", dict.fromkeys(PARIS_HOURS, 1))
    add_visits(engine, "kolkata", "door", KOLKATA)
    with engine.begin() as conn:
        conn.execute(
            insert(line_hourly),
            [
                {"store_id": "paris", "camera_id": "door", "line_id": "in", "hour": h, "in_count": 1, "out_count": 0}
                for h in PARIS_HOURS
            ],
        )
    with served(engine) as api:
        yield api
    engine.dispose()


def test_days_are_the_stores_local_days_with_23_and_25_hours(api: Served) -> None:
    window = {"from": "2026-10-24T00:00:00+02:00", "to": "2026-10-27T00:00:00+01:00", "bucket": "day"}
    body = api.ok("/api/v1/stores/paris/traffic", **window)
    assert body["timezone"] == "Europe/Paris"
    points = body["series"][0]["points"]
    assert [(p["local"], p["visits"]) for p in points] == [
        ("2026-10-24T00:00:00+02:00", 24),
        ("2026-10-25T00:00:00+02:00", 25),  # the day clocks went back
        ("2026-10-26T00:00:00+01:00", 24),
    ]
    assert [p["ts"] for p in points] == [utc("2026-10-23T22:00"), utc("2026-10-24T22:00"), utc("2026-10-25T23:00")]
    assert not any(p["missing"] for p in points)  # no camera reports uptime: nothing is judged
    lines = api.ok("/api/v1/stores/paris/lines", **window)["lines"][0]["points"]
    assert [p["in_count"] for p in lines] == [24, 25, 24]
    dwell = api.ok("/api/v1/stores/paris/dwell", **window)["points"]
    assert [p["visits"] for p in dwell] == [24, 25, 24]
    trend = api.ok("/api/v1/stores/paris/behavior", **window)["trend"]
    assert [p["counts"]["unclassified"] for p in trend] == [24, 25, 24]

    spring = api.ok("/api/v1/stores/paris/traffic", **{**window, "from": "2026-10-25T02:00:00+01:00"})
    assert spring["series"][0]["points"][0]["local"] == "2026-10-25T00:00:00+02:00"  # the day the range starts in


def test_hours_carry_their_local_start_and_the_repeated_hour_is_two_points(api: Served) -> None:
    body = api.ok("/api/v1/stores/paris/traffic", **{"from": "2026-10-25T00:00:00Z", "to": "2026-10-25T02:00:00Z"})
    assert [p["local"] for p in body["series"][0]["points"]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]


def test_zones_off_the_hour_label_each_utc_hour_by_its_local_start(api: Served) -> None:
    hourly = api.ok("/api/v1/stores/kolkata/traffic", **{"from": "2026-11-19T18:00:00Z", "to": "2026-11-19T20:00:00Z"})
    assert [(p["local"], p["visits"]) for p in hourly["series"][0]["points"]] == [
        ("2026-11-19T23:30:00+05:30", 2),
        ("2026-11-20T00:30:00+05:30", 3),
    ]
    daily = api.ok(
        "/api/v1/stores/kolkata/traffic", bucket="day", **{"from": "2026-11-19T12:00:00Z", "to": "2026-11-20T12:00:00Z"}
    )
    assert [(p["local"], p["visits"]) for p in daily["series"][0]["points"]] == [
        ("2026-11-19T00:30:00+05:30", 2),
        ("2026-11-20T00:30:00+05:30", 3),
    ]
    overview = api.ok(
        "/api/v1/stores/kolkata/overview", **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
    )
    assert overview["busiest_hour_of_day"] == {"hour_of_day": 0, "visits": 3}  # 00:30 local
    assert overview["busiest_hour"]["local"] == "2026-11-20T00:30:00+05:30"


def test_an_admin_changes_the_time_zone_and_the_days_follow(api: Served) -> None:
    window = {"from": "2026-10-24T00:00:00Z", "to": "2026-10-26T00:00:00Z", "bucket": "day"}
    viewer = api.client.patch("/api/v1/stores/paris", json={"timezone": "UTC"}, headers=api.viewer)
    assert viewer.status_code == 403
    bad = api.client.patch("/api/v1/stores/paris", json={"timezone": "Europe/Atlantis"}, headers=api.admin)
    assert bad.status_code == 422
    assert "'Europe/Atlantis' is not an IANA time zone" in bad.text
    extra = api.client.patch("/api/v1/stores/paris", json={"tz": "UTC"}, headers=api.admin)
    assert extra.status_code == 422
    assert api.ok("/api/v1/stores/paris")["timezone"] == "Europe/Paris"  # nothing changed by the refusals

    changed = api.client.patch("/api/v1/stores/paris", json={"timezone": "UTC"}, headers=api.admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "UTC"
    points = api.ok("/api/v1/stores/paris/traffic", **window)["series"][0]["points"]
    assert [(p["local"], p["visits"]) for p in points] == [
        ("2026-10-24T00:00:00+00:00", 24),
        ("2026-10-25T00:00:00+00:00", 24),
    ]
    missing = api.client.patch("/api/v1/stores/nowhere", json={"timezone": "UTC"}, headers=api.admin)
    assert missing.status_code == 404


def test_stores_are_created_in_a_zone_and_unknown_ones_refused(engine: Engine) -> None:
    create_store(engine, "lyon", "Lyon", "Europe/Paris")
    with pytest.raises(StoreError, match="'Paris' is not an IANA time zone"):
        create_store(engine, "nice", "Nice", "Paris")
    with pytest.raises(StoreError, match="no store 'nice'"):
        change_store(engine, "nice", timezone="UTC")
    with pytest.raises(StoreError, match="not an IANA"):
        change_store(engine, "lyon", timezone="CEST")
    with engine.connect() as conn:
        assert conn.execute(select(stores.c.store_id, stores.c.timezone)).all() == [("lyon", "Europe/Paris")]

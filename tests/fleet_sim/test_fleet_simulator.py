"""The fleet simulator: realistic, reproducible days pushed through a real gRPC ingest on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from grpc_fixtures import running_ingest
from sqlalchemy import func, select

from central.db.engine import make_engine
from central.db.schema import heatmap_daily, line_hourly, stores, track_summaries, traffic_hourly, uptime_hourly
from fleet_sim import run_simulation
from fleet_sim.generate import TrackLibrary, generate_day, simulated_days
from fleet_sim.outages import outage_of
from fleet_sim.stores import GRID_COLS, GRID_ROWS, PEAKS, in_peak, make_stores
from fleet_sim.today import until
from retail_common.summary import MAX_PATH_POINTS
from retail_common.taxonomy import LABELS

WEEK_END = date(2025, 3, 10)  # a Monday: the week before it runs Monday 3 ... Sunday 9 March


@pytest.fixture(scope="module")
def library() -> TrackLibrary:
    return TrackLibrary.build(seed=7)


def test_a_simulated_fleet_is_stored_once_and_its_rollups_match_what_was_sent(database_url: str) -> None:
    with running_ingest(database_url) as central:
        target = f"127.0.0.1:{central.port}"
        first = run_simulation(database_url, target, stores=2, days=1, seed=3, agents=2, end=WEEK_END)
        again = run_simulation(database_url, target, stores=2, days=1, seed=3, agents=2, end=WEEK_END)
    sent = first.total("summaries") + first.total("tiles") + first.total("line_counts") + first.total("uptimes")
    assert first.ok, first.lines()
    assert first.total("summaries") > 500
    assert first.total("stored") == sent
    assert again.ok, again.lines()
    assert again.total("stored") == 0
    assert again.total("duplicate") == sent

    engine = make_engine(database_url)
    with engine.connect() as conn:
        visits = dict(
            conn.execute(
                select(traffic_hourly.c.store_id, func.sum(traffic_hourly.c.visits))
                .where(traffic_hourly.c.zone_id == "")
                .group_by(traffic_hourly.c.store_id)
            ).all()
        )
        doors = {
            store: (int(i), int(o))
            for store, i, o in conn.execute(
                select(line_hourly.c.store_id, func.sum(line_hourly.c.in_count), func.sum(line_hourly.c.out_count))
                .where(line_hourly.c.line_id == "door")
                .group_by(line_hourly.c.store_id)
            )
        }
        raw = conn.execute(select(func.count()).select_from(track_summaries)).scalar_one()
        days = conn.execute(select(func.count()).select_from(heatmap_daily)).scalar_one()
        hours_up = conn.execute(select(func.count()).select_from(uptime_hourly)).scalar_one()
        zones = dict(conn.execute(select(stores.c.store_id, stores.c.timezone)).all())
    engine.dispose()
    assert {store: int(n) for store, n in visits.items()} == {s: t.summaries for s, t in first.stores.items()}
    assert doors == {s: (t.line_in, t.line_out) for s, t in first.stores.items()}
    assert raw == first.total("summaries")
    assert days >= 4  # every camera of both stores (2-4 each) has its day's heatmap
    assert hours_up == first.total("uptimes")  # one hour each
    assert zones == {s.store_id: s.timezone for s in make_stores(2, seed=3)}  # local days are the simulated ones
    assert first.total("uptimes") == 24 * sum(len(s.cameras) for s in make_stores(2, seed=3))


def test_some_days_a_camera_is_dead_for_hours_and_sees_nobody(library: TrackLibrary) -> None:
    chain = make_stores(6, seed=5)
    days = simulated_days(14, end=WEEK_END)
    found = [(store, d) for d in days for store in chain if outage_of(store, d, seed=5) is not None]
    assert 0 < len(found) < len(chain) * len(days) / 4  # some, not most
    store, d = found[0]
    day = generate_day(store, d, library, seed=5)
    dead = day.outage
    assert dead is not None
    assert dead.camera_id != store.entrance.camera_id
    assert 2 * 3600 <= dead.end - dead.start <= 4 * 3600
    assert day.opens <= dead.start < dead.end <= day.closes
    assert len(day.uptimes) == 24 * len(store.cameras)
    down = [u for u in day.uptimes if u.seconds_up == 0]
    assert {u.camera_id for u in down} == {dead.camera_id}
    assert [u.bucket_start for u in down] == list(np.arange(dead.start, dead.end, 3600.0))
    seen = [s for s in day.summaries if s.camera_id == dead.camera_id]
    assert seen  # before and after the outage
    assert not any(s.start_time < dead.end and s.end_time > dead.start for s in seen)
    assert not any(t.camera_id == dead.camera_id and dead.start <= t.bucket_start < dead.end for t in day.tiles)


def test_generation_is_reproducible_from_the_seed(library: TrackLibrary) -> None:
    store = make_stores(2, seed=11)[1]
    day = WEEK_END.replace(day=8)
    one = generate_day(store, day, library, seed=11)
    two = generate_day(make_stores(2, seed=11)[1], day, TrackLibrary.build(seed=7), seed=11)
    other = generate_day(store, day, library, seed=12)
    assert one == two
    assert [s.track_id for s in one.summaries] == [s.track_id for s in two.summaries]
    assert {s.track_id for s in one.summaries}.isdisjoint(s.track_id for s in other.summaries)
    assert make_stores(3, seed=11) == make_stores(3, seed=11)


def test_stores_have_cameras_zones_and_a_door() -> None:
    for store in make_stores(20, seed=5):
        assert 2 <= len(store.cameras) <= 4
        assert all(2 <= len(cam.zones) <= 3 for cam in store.cameras)
        assert store.entrance.line_ids == ("door",)
        assert [cam.line_ids for cam in store.cameras[1:]] == [()] * (len(store.cameras) - 1)
        assert sum(store.behavior_mix) == pytest.approx(1.0)
    ids = [s.store_id for s in make_stores(12, seed=5)]
    assert ids[:2] == ["sim-001", "sim-002"]
    assert len(set(ids)) == 12


def test_visits_follow_opening_hours_and_the_daily_and_weekly_curves(library: TrackLibrary) -> None:
    store = make_stores(1, seed=2)[0]
    week = [generate_day(store, day, library, seed=2) for day in simulated_days(7, WEEK_END)]
    assert [d.day.weekday() for d in week] == list(range(7))
    by_hour: Counter[int] = Counter()
    for d in week:
        assert d.summaries
        for s in d.summaries:
            assert d.opens <= s.start_time < s.end_time <= d.closes, (d.day, s.start_time, d.opens, d.closes)
        for c in d.counts:
            assert d.opens - 900 < c.bucket_start < d.closes
        by_hour.update(int(store.local_hour(np.asarray(s.start_time))) for s in d.summaries)
    busiest = by_hour.most_common(1)[0][0]
    assert in_peak(busiest), (busiest, PEAKS, sorted(by_hour.items()))
    quietest_open_hour = min(by_hour.values())
    assert by_hour[busiest] > 1.5 * quietest_open_hour
    visits = [len(d.summaries) for d in week]
    assert visits.index(max(visits)) == 5  # Saturday


def test_a_day_is_consistent_with_itself(library: TrackLibrary) -> None:
    store = make_stores(1, seed=4)[0]
    day = generate_day(store, WEEK_END, library, seed=4)
    entrance = [s for s in day.summaries if s.camera_id == store.entrance.camera_id]
    assert day.line_in == day.line_out == len(entrance)  # everyone who came in went out by closing
    for cam in store.cameras:
        seen = [s for s in day.summaries if s.camera_id == cam.camera_id]
        heat = sum(sum(t.person_seconds) for t in day.tiles if t.camera_id == cam.camera_id)
        assert heat == pytest.approx(sum(s.end_time - s.start_time for s in seen), rel=1e-4)
        assert {t.rows * t.cols for t in day.tiles} == {GRID_ROWS * GRID_COLS}
        for s in seen:
            assert len(s.path) <= MAX_PATH_POINTS
            assert set(s.zone_order) == set(s.zone_dwell) <= set(cam.zone_ids)
            assert all(v <= s.end_time - s.start_time + 1e-6 for v in s.zone_dwell.values())
            assert s.path[0][0] == 0.0
            assert s.path[-1][0] == pytest.approx(s.end_time - s.start_time, abs=2e-3)
            assert 0 <= s.mean_speed_mps <= s.max_speed_mps
            assert sum(s.behavior_probabilities.values()) == pytest.approx(1.0, abs=1e-6)
            assert s.behavior_probabilities[s.behavior or ""] == max(s.behavior_probabilities.values())
    labels = Counter(s.behavior for s in day.summaries)
    assert set(labels) == set(LABELS)  # the mix of the behaviour simulator, all six present


def test_the_command_pushes_a_store_into_a_fresh_database(tmp_path: Path) -> None:
    """``retail-fleet-sim`` as a user runs it: its own in-process ingest over the database it is given."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "fleet_sim", "--stores", "1", "--days", "1", "--database", url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "rejected 0" in done.stdout
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(track_summaries)).scalar_one()
    engine.dispose()
    assert f"sent {stored} summaries" in done.stdout
    assert stored > 100
    bad = subprocess.run(
        [sys.executable, "-m", "fleet_sim", "--config", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "cannot read file" in bad.stderr


def test_today_holds_only_what_has_ended_by_now(library: TrackLibrary) -> None:
    store = make_stores(1, seed=3)[0]
    whole = generate_day(store, date(2026, 3, 10), library, seed=3)
    midday = (whole.opens + whole.closes) / 2
    part = until(whole, midday)
    assert 0 < len(part.summaries) < len(whole.summaries)
    assert all(s.end_time <= midday for s in part.summaries)
    for items in (part.tiles, part.counts, part.uptimes):
        assert items
        assert all(i.bucket_start + i.bucket_seconds <= midday for i in items)
    assert len(part.uptimes) < len(whole.uptimes)  # the hours still to come are not reported yet

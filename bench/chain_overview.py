"""What the dashboard's reads cost as the chain grows: the chain overview and a store's local-time series with
gaps, over rollups of ``--stores`` x ``--days``. Prints one table per database.

The rollups are written directly (``traffic_hourly`` camera and zone rows, ``uptime_hourly`` with a dead
camera on some days, ``agents``), as ingest would have left them for that much data; stores are spread over
UTC, Europe/Paris, Asia/Kolkata and America/New_York. Each read is timed in process, through the same query
functions the REST routes call, as the median of ``--repeat`` runs (the first run, cold, is reported apart).

    .venv/bin/python bench/chain_overview.py --stores 20 200 --days 30
    .venv/bin/python bench/chain_overview.py --stores 20 --days 7 --databases sqlite postgresql
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import make_url

from central.api.models import GroupBy
from central.api.queries import chain, traffic
from central.api.queries.series import SeriesRequest
from central.api.queries.stores import StoreRef
from central.api.timerange import Bucket, TimeRange
from central.config import GapConfig
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    DWELL_COLUMNS,
    UNCLASSIFIED_COLUMN,
    agents,
    cameras,
    stores,
    traffic_hourly,
    uptime_hourly,
)

HOUR, DAY = 3600, 86_400
ZONES = ("UTC", "Europe/Paris", "Asia/Kolkata", "America/New_York")
CAMERAS, ZONES_PER_CAMERA = 3, 2
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def load(engine: Engine, n_stores: int, days: int, now: float) -> int:
    """The rollups of ``n_stores`` stores over the ``days`` days before ``now``; returns the rows written."""
    end = int(now // HOUR) * HOUR
    hours = range(end - days * DAY, end, HOUR)
    zero = {**dict.fromkeys(DWELL_COLUMNS, 0), **dict.fromkeys(BEHAVIOR_COLUMNS.values(), 0), UNCLASSIFIED_COLUMN: 0}
    written = 0
    with engine.begin() as conn:
        for s in range(n_stores):
            store = f"store-{s:03d}"
            conn.execute(
                insert(stores).values(
                    store_id=store,
                    name=store,
                    token_salt=b"-",
                    token_hash=b"-",
                    created_at=now,
                    token_rotated_at=now,
                    timezone=ZONES[s % len(ZONES)],
                )
            )
            reports = [{"camera_id": f"cam-{c}", "connected": True} for c in range(CAMERAS)]
            conn.execute(
                insert(agents).values(
                    store_id=store,
                    agent_id="edge-1",
                    first_seen=now - days * DAY,
                    last_seen=now - 10,
                    agent_version="bench",
                    models="[]",
                    cameras=json.dumps(reports),
                    outbox_backlog=0,
                    last_error="",
                )
            )
            traffic_rows, uptime_rows = [], []
            for c in range(CAMERAS):
                camera = f"cam-{c}"
                conn.execute(
                    insert(cameras).values(
                        store_id=store,
                        camera_id=camera,
                        first_seen=now,
                        last_seen=now,
                        declared=False,
                        uptime_since=float(hours[0]),
                    )
                )
                for h in hours:
                    visits = 5 + (h // HOUR + s + c) % 20
                    row = {"store_id": store, "camera_id": camera, "hour": h, "dwell_s": 300.0 * visits, **zero}
                    traffic_rows.append({**row, "zone_id": "", "visits": visits, UNCLASSIFIED_COLUMN: visits})
                    traffic_rows += [
                        {**row, "zone_id": f"z{z}", "visits": visits // 2, UNCLASSIFIED_COLUMN: visits // 2}
                        for z in range(ZONES_PER_CAMERA)
                    ]
                    dead = c == 1 and s % 5 == 0 and (h // HOUR) % 97 < 3  # a camera dead a few hours now and then
                    uptime_rows.append(
                        {"store_id": store, "camera_id": camera, "hour": h, "seconds_up": 0.0 if dead else 3600.0}
                    )
            conn.execute(insert(traffic_hourly), traffic_rows)
            conn.execute(insert(uptime_hourly), uptime_rows)
            written += len(traffic_rows) + len(uptime_rows)
    return written


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Seconds of the first (cold) call, and the median of ``repeat`` more."""
    t0 = time.perf_counter()
    call()
    cold = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        runs.append(time.perf_counter() - t0)
    return cold, statistics.median(runs)


def bench(url: str, n_stores: int, days: int, repeat: int) -> list[tuple[str, str, str, str]]:
    engine = make_engine(url)
    upgrade(engine)
    now = time.time()
    t0 = time.perf_counter()
    rows = load(engine, n_stores, days, now)
    loaded = time.perf_counter() - t0
    gaps = GapConfig()
    week = TimeRange(now - 7 * DAY, now)
    month = TimeRange(now - days * DAY, now)
    out = [(f"load {rows:,} rollup rows", f"{loaded:.1f} s", "", "")]
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(traffic_hourly)).scalar_one()
        page = min(n_stores, 100)
        reads: list[tuple[str, Callable[[], Any]]] = [
            (
                f"chain overview, {page} stores, 7 days",
                lambda: chain.chain_overview(conn, week, page, 0, now, 120, gaps),
            ),
            (
                f"chain overview, {page} stores, {days} days",
                lambda: chain.chain_overview(conn, month, page, 0, now, 120, gaps),
            ),
        ]
        for zone_index in (1, 2):  # Europe/Paris, Asia/Kolkata
            store = StoreRef(f"store-{zone_index:03d}", "", ZONES[zone_index])
            hourly = SeriesRequest(store, week, Bucket.HOUR, now, gaps)
            daily = SeriesRequest(store, month, Bucket.DAY, now, gaps)
            reads += [
                (
                    f"{ZONES[zone_index]}: traffic per hour by zone, 7 days",
                    functools.partial(traffic.traffic, conn, hourly, None, None, GroupBy.ZONE, 120_000),
                ),
                (
                    f"{ZONES[zone_index]}: traffic per local day, {days} days",
                    functools.partial(traffic.traffic, conn, daily, None, None, GroupBy.NONE, 120_000),
                ),
                (
                    f"{ZONES[zone_index]}: behaviour per local day, {days} days",
                    functools.partial(traffic.behavior, conn, daily, None, None),
                ),
            ]
        for name, call in reads:
            cold, warm = timed(call, repeat)
            out.append((name, f"{cold * 1000:.1f} ms", f"{warm * 1000:.1f} ms", f"{total:,} traffic rows"))
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--databases", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for database in args.databases:
        for n in args.stores:
            with tempfile.TemporaryDirectory() as tmp:
                if database == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'central.db'}"
                    table = bench(url, n, args.days, args.repeat)
                else:
                    admin = make_engine(POSTGRES, isolation_level="AUTOCOMMIT")
                    name = f"bench_{uuid.uuid4().hex[:8]}"
                    with admin.connect() as conn:
                        conn.execute(text(f'CREATE DATABASE "{name}"'))
                    try:
                        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
                        table = bench(url, n, args.days, args.repeat)
                    finally:
                        with admin.connect() as conn:
                            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        admin.dispose()
            print(f"\n{database}: {n} stores x {args.days} days, {CAMERAS} cameras of {ZONES_PER_CAMERA} zones each")
            print(f"{'read':58s} {'first':>10s} {'median':>10s}  data")
            for name, cold, warm, note in table:
                print(f"{name:58s} {cold:>10s} {warm:>10s}  {note}")


if __name__ == "__main__":
    main()

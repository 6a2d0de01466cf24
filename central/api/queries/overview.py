"""A store's overview: today's and the range's visits, dwell, behaviour mix, busiest hour and top zones."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from central.api.models import BusiestHour, BusiestHourOfDay, OverviewOut, RangeOut, VisitsSummary, ZoneRank
from central.api.queries.columns import as_float, as_int, bounds, mean_of
from central.api.queries.stores import StoreRef
from central.api.queries.traffic import behavior_columns, shares
from central.api.timerange import Bucket, TimeRange, iso
from central.db.schema import traffic_hourly
from central.localtime import LocalClock
from retail_common.fields import INT32_MAX

TOP_ZONES = 5


def today_bounds(clock: LocalClock, now: float) -> tuple[int, int]:
    """``[start, end)`` hours of the store's local day that ``now`` lies in."""
    start = clock.day_of(now)
    end = clock.day_starts(start, start + 1)[1]
    return min(start, INT32_MAX), min(end, INT32_MAX)


def overview(conn: Connection, store: StoreRef, rng: TimeRange, now: float) -> OverviewOut:
    """Today's and the range's visits, dwell, behaviour mix, busiest hour and top zones: three indexed rollup reads.
    Today and hours of the day are the store's local ones."""
    t = traffic_hourly.c
    columns = behavior_columns()
    lo, hi = bounds(rng, Bucket.HOUR)
    camera_rows = [t.store_id == store.store_id, t.zone_id == ""]
    per_hour = conn.execute(
        select(
            t.hour,
            func.sum(t.visits).label("visits"),
            func.sum(t.dwell_s).label("dwell_s"),
            *(func.sum(traffic_hourly.c[col]).label(col) for col in columns.values()),
        )
        .where(*camera_rows, t.hour >= lo, t.hour < hi)
        .group_by(t.hour)
    ).all()
    clock = store.clock
    today_start, today_end = today_bounds(clock, now)
    today = conn.execute(
        select(func.sum(t.visits).label("visits"), func.sum(t.dwell_s).label("dwell_s")).where(
            *camera_rows, t.hour >= today_start, t.hour < today_end
        )
    ).one()
    visits_col = func.sum(t.visits).label("visits")
    top = conn.execute(
        select(t.camera_id, t.zone_id, visits_col, func.sum(t.dwell_s).label("dwell_s"))
        .where(t.store_id == store.store_id, t.zone_id != "", t.hour >= lo, t.hour < hi)
        .group_by(t.camera_id, t.zone_id)
        .order_by(visits_col.desc(), t.camera_id, t.zone_id)
        .limit(TOP_ZONES)
    ).all()

    mix = dict.fromkeys(columns, 0)
    by_hour_of_day = [0] * 24
    busiest: tuple[int, int] | None = None
    visits, dwell_total = 0, 0.0
    for row in per_hour:
        n, hour = as_int(row.visits), int(row.hour)
        visits += n
        dwell_total += as_float(row.dwell_s)
        for label, col in columns.items():
            mix[label] += as_int(row._mapping[col])
        by_hour_of_day[clock.hour_of_day(hour)] += n
        if n > 0 and (busiest is None or n > busiest[1]):
            busiest = (hour, n)
    peak_of_day = max(range(24), key=lambda h: by_hour_of_day[h])
    today_visits, today_dwell = as_int(today.visits), as_float(today.dwell_s)
    return OverviewOut(
        store_id=store.store_id,
        name=store.name,
        timezone=store.timezone,
        generated_at=now,
        range=RangeOut.of(rng),
        today=VisitsSummary(
            visits=today_visits, total_dwell_s=today_dwell, mean_dwell_s=mean_of(today_dwell, today_visits)
        ),
        period=VisitsSummary(visits=visits, total_dwell_s=dwell_total, mean_dwell_s=mean_of(dwell_total, visits)),
        behavior=shares(mix),
        busiest_hour=BusiestHour(ts=busiest[0], time=iso(busiest[0]), local=clock.iso(busiest[0]), visits=busiest[1])
        if busiest
        else None,
        busiest_hour_of_day=(
            BusiestHourOfDay(hour_of_day=peak_of_day, visits=by_hour_of_day[peak_of_day]) if visits else None
        ),
        top_zones=[
            ZoneRank(
                camera_id=r.camera_id,
                zone_id=r.zone_id,
                visits=as_int(r.visits),
                mean_dwell_s=mean_of(as_float(r.dwell_s), as_int(r.visits)),
            )
            for r in top
        ],
    )

"""Traffic, dwell and behaviour series over the hourly rollup ``traffic_hourly``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.models import (
    BehaviorOut,
    BehaviorPoint,
    BehaviorShare,
    DwellBin,
    DwellOut,
    DwellPoint,
    GroupBy,
    RangeOut,
    TrafficOut,
    TrafficPoint,
    TrafficSeries,
)
from central.api.queries.columns import (
    UNCLASSIFIED,
    ResponseTooLargeError,
    as_float,
    as_int,
    bounds,
    bucket_expr,
    mean_of,
    series_cap,
    series_count,
    streamed,
    too_many_series,
)
from central.api.timerange import Bucket, TimeRange, iso
from central.db.schema import BEHAVIOR_COLUMNS, DWELL_BINS_S, DWELL_COLUMNS, UNCLASSIFIED_COLUMN, traffic_hourly


def _traffic_where(
    store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, zone_id: str | None, per_zone: bool
) -> list[ColumnElement[bool]]:
    t = traffic_hourly.c
    lo, hi = bounds(rng, bucket)
    where = [t.store_id == store_id, t.hour >= lo, t.hour < hi]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
    if zone_id is not None:
        where.append(t.zone_id == zone_id)
    elif per_zone:
        where.append(t.zone_id != "")
    else:
        where.append(t.zone_id == "")  # the camera rows: one visit per track
    return where


def traffic(
    conn: Connection,
    store_id: str,
    rng: TimeRange,
    bucket: Bucket,
    camera_id: str | None,
    zone_id: str | None,
    group_by: GroupBy,
    max_points: int,
) -> TrafficOut:
    """Visits per bucket in one series, or one per camera or zone; refused (:class:`ResponseTooLargeError`)
    when the series times the buckets would pass ``max_points``, having read no more rows than that."""
    t = traffic_hourly.c
    b = bucket_expr(t.hour, bucket).label("bucket")
    keys: list[KeyedColumnElement[Any]] = []
    if group_by in (GroupBy.CAMERA, GroupBy.ZONE):
        keys.append(t.camera_id)
    if group_by is GroupBy.ZONE:
        keys.append(t.zone_id)
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=group_by is GroupBy.ZONE)
    query = select(b, *keys, func.sum(t.visits).label("visits")).where(*where).group_by(b, *keys)
    starts = rng.buckets(bucket)
    most = series_cap(max_points, len(starts))
    narrow = "fewer days, bucket=day" if bucket is Bucket.HOUR else "fewer days"
    narrow += ", one camera_id" if camera_id is None else ""
    narrow += ", group_by=camera" if group_by is GroupBy.ZONE and camera_id is None else ""
    refusal = ResponseTooLargeError(
        too_many_series(f"traffic grouped by {group_by.value}", most, len(starts), bucket.value, max_points, narrow)
    )
    if keys and series_count(conn, keys, where, most) > most:
        raise refusal
    per_series: dict[tuple[str | None, str | None], dict[int, int]] = defaultdict(dict)
    for row in streamed(conn, query):
        cam = row.camera_id if group_by is not GroupBy.NONE else camera_id
        zone = row.zone_id if group_by is GroupBy.ZONE else zone_id
        if (cam, zone) not in per_series and len(per_series) >= most:  # stored since they were counted
            raise refusal
        per_series[cam, zone][int(row.bucket)] = as_int(row.visits)
    if group_by is GroupBy.NONE and not per_series:
        per_series[camera_id, zone_id] = {}
    series = []
    for (cam, zone), values in sorted(per_series.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        points = [TrafficPoint(ts=s, time=iso(s), visits=values.get(s, 0)) for s in starts]
        series.append(TrafficSeries(camera_id=cam, zone_id=zone, visits=sum(values.values()), points=points))
    return TrafficOut(
        store_id=store_id,
        range=RangeOut.of(rng),
        bucket=bucket,
        group_by=group_by,
        visits=sum(s.visits for s in series),
        series=series,
    )


def dwell(
    conn: Connection, store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, zone_id: str | None
) -> DwellOut:
    t = traffic_hourly.c
    b = bucket_expr(t.hour, bucket).label("bucket")
    sums = [func.sum(t.visits).label("visits"), func.sum(t.dwell_s).label("dwell_s")]
    sums += [func.sum(traffic_hourly.c[name]).label(name) for name in DWELL_COLUMNS]
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=False)
    rows = {int(r.bucket): r for r in conn.execute(select(b, *sums).where(*where).group_by(b))}
    points = []
    for s in rng.buckets(bucket):
        row = rows.get(s)
        visits, total = (as_int(row.visits), as_float(row.dwell_s)) if row is not None else (0, 0.0)
        points.append(DwellPoint(ts=s, time=iso(s), visits=visits, dwell_s=total, mean_dwell_s=mean_of(total, visits)))
    bounds = (0, *DWELL_BINS_S, None)
    bins = [
        DwellBin(
            bin=name.removeprefix("dwell_"),
            min_s=bounds[i],
            max_s=bounds[i + 1],
            visits=sum(as_int(r._mapping[name]) for r in rows.values()),
        )
        for i, name in enumerate(DWELL_COLUMNS)
    ]
    visits = sum(p.visits for p in points)
    total = sum(p.dwell_s for p in points)
    return DwellOut(
        store_id=store_id,
        range=RangeOut.of(rng),
        bucket=bucket,
        camera_id=camera_id,
        zone_id=zone_id,
        visits=visits,
        total_dwell_s=total,
        mean_dwell_s=mean_of(total, visits),
        bins=bins,
        points=points,
    )


def behavior_columns() -> dict[str, str]:
    return {**BEHAVIOR_COLUMNS, UNCLASSIFIED: UNCLASSIFIED_COLUMN}


def shares(counts: dict[str, int]) -> list[BehaviorShare]:
    total = sum(counts.values())
    return [BehaviorShare(behavior=label, count=n, share=n / total if total else 0.0) for label, n in counts.items()]


def behavior(
    conn: Connection, store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, zone_id: str | None
) -> BehaviorOut:
    t = traffic_hourly.c
    b = bucket_expr(t.hour, bucket).label("bucket")
    columns = behavior_columns()
    sums = [func.sum(traffic_hourly.c[col]).label(col) for col in columns.values()]
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=False)
    rows = {int(r.bucket): r for r in conn.execute(select(b, *sums).where(*where).group_by(b))}
    trend = []
    overall = dict.fromkeys(columns, 0)
    for s in rng.buckets(bucket):
        row = rows.get(s)
        counts = {label: as_int(row._mapping[col]) if row is not None else 0 for label, col in columns.items()}
        for label, n in counts.items():
            overall[label] += n
        trend.append(BehaviorPoint(ts=s, time=iso(s), total=sum(counts.values()), counts=counts))
    return BehaviorOut(
        store_id=store_id,
        range=RangeOut.of(rng),
        bucket=bucket,
        camera_id=camera_id,
        zone_id=zone_id,
        total=sum(overall.values()),
        distribution=shares(overall),
        trend=trend,
    )

"""Traffic, dwell and behaviour series over the hourly rollup ``traffic_hourly``, in the store's local hours
and days, with the buckets that are missing data (``central.api.queries.gaps``) null."""

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
    Buckets,
    ResponseTooLargeError,
    as_float,
    as_int,
    mean_of,
    series_cap,
    series_count,
    streamed,
    too_many_series,
)
from central.api.queries.series import SeriesRequest
from central.api.timerange import Bucket, iso
from central.db.schema import BEHAVIOR_COLUMNS, DWELL_BINS_S, DWELL_COLUMNS, UNCLASSIFIED_COLUMN, traffic_hourly


def _traffic_where(
    store_id: str, buckets: Buckets, camera_id: str | None, zone_id: str | None, per_zone: bool
) -> list[ColumnElement[bool]]:
    t = traffic_hourly.c
    where = [t.store_id == store_id, t.hour >= buckets.lo, t.hour < buckets.hi]
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
    req: SeriesRequest,
    camera_id: str | None,
    zone_id: str | None,
    group_by: GroupBy,
    max_points: int,
) -> TrafficOut:
    """Visits per bucket in one series, or one per camera or zone; refused (:class:`ResponseTooLargeError`)
    when the series times the buckets would pass ``max_points``, having read no more rows than that."""
    t = traffic_hourly.c
    buckets, bucket, store_id = req.buckets, req.bucket, req.store.store_id
    b = buckets.expr(t.hour).label("bucket")
    keys: list[KeyedColumnElement[Any]] = []
    if group_by in (GroupBy.CAMERA, GroupBy.ZONE):
        keys.append(t.camera_id)
    if group_by is GroupBy.ZONE:
        keys.append(t.zone_id)
    where = _traffic_where(store_id, buckets, camera_id, zone_id, per_zone=group_by is GroupBy.ZONE)
    query = select(b, *keys, func.sum(t.visits).label("visits")).where(*where).group_by(b, *keys)
    most = series_cap(max_points, len(buckets))
    narrow = "fewer days, bucket=day" if bucket is Bucket.HOUR else "fewer days"
    narrow += ", one camera_id" if camera_id is None else ""
    narrow += ", group_by=camera" if group_by is GroupBy.ZONE and camera_id is None else ""
    refusal = ResponseTooLargeError(
        too_many_series(f"traffic grouped by {group_by.value}", most, len(buckets), bucket.value, max_points, narrow)
    )
    if keys and series_count(conn, keys, where, most) > most:
        raise refusal
    per_series: dict[tuple[str | None, str | None], dict[int, int]] = defaultdict(dict)
    for row in streamed(conn, query):
        cam = row.camera_id if group_by is not GroupBy.NONE else camera_id
        zone = row.zone_id if group_by is GroupBy.ZONE else zone_id
        if (cam, zone) not in per_series and len(per_series) >= most:  # stored since they were counted
            raise refusal
        start = buckets.start_of(int(row.bucket))
        per_series[cam, zone][start] = per_series[cam, zone].get(start, 0) + as_int(row.visits)
    if group_by is GroupBy.NONE and not per_series:
        per_series[camera_id, zone_id] = {}
    gaps = req.coverage(conn, camera_id)
    series = []
    for (cam, zone), values in sorted(per_series.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        points = []
        for i, s in enumerate(buckets.starts):
            seen = gaps.at(i, None if cam is None else (cam,))
            points.append(
                TrafficPoint(
                    ts=s,
                    time=iso(s),
                    local=buckets.local(s),
                    missing=seen.missing,
                    coverage=seen.fraction,
                    visits=None if seen.missing else values.get(s, 0),
                )
            )
        series.append(
            TrafficSeries(camera_id=cam, zone_id=zone, visits=sum(p.visits or 0 for p in points), points=points)
        )
    return TrafficOut(
        store_id=store_id,
        timezone=req.store.timezone,
        range=RangeOut.of(req.rng),
        bucket=bucket,
        group_by=group_by,
        visits=sum(s.visits for s in series),
        series=series,
    )


def _rows_by_bucket(
    conn: Connection, req: SeriesRequest, sums: list[Any], where: list[ColumnElement[bool]]
) -> dict[int, dict[str, float]]:
    """``sums`` per bucket start (the rows of one local bucket added together)."""
    b = req.buckets.expr(traffic_hourly.c.hour).label("bucket")
    out: dict[int, dict[str, float]] = {}
    for r in conn.execute(select(b, *sums).where(*where).group_by(b)):
        into = out.setdefault(req.buckets.start_of(int(r.bucket)), {})
        for name, value in r._mapping.items():
            if name != "bucket":
                into[name] = into.get(name, 0) + (value or 0)
    return out


def dwell(conn: Connection, req: SeriesRequest, camera_id: str | None, zone_id: str | None) -> DwellOut:
    t = traffic_hourly.c
    sums = [func.sum(t.visits).label("visits"), func.sum(t.dwell_s).label("dwell_s")]
    sums += [func.sum(traffic_hourly.c[name]).label(name) for name in DWELL_COLUMNS]
    where = _traffic_where(req.store.store_id, req.buckets, camera_id, zone_id, per_zone=False)
    rows = _rows_by_bucket(conn, req, sums, where)
    gaps = req.coverage(conn, camera_id)
    points = []
    bins = dict.fromkeys(DWELL_COLUMNS, 0)
    for i, s in enumerate(req.buckets.starts):
        seen = gaps.at(i)
        row = rows.get(s, {})
        visits, total = as_int(row.get("visits")), as_float(row.get("dwell_s"))
        if not seen.missing:
            for name in DWELL_COLUMNS:
                bins[name] += as_int(row.get(name))
        points.append(
            DwellPoint(
                ts=s,
                time=iso(s),
                local=req.buckets.local(s),
                missing=seen.missing,
                coverage=seen.fraction,
                visits=None if seen.missing else visits,
                dwell_s=None if seen.missing else total,
                mean_dwell_s=None if seen.missing else mean_of(total, visits),
            )
        )
    edges = (0, *DWELL_BINS_S, None)
    out_bins = [
        DwellBin(bin=name.removeprefix("dwell_"), min_s=edges[i], max_s=edges[i + 1], visits=bins[name])
        for i, name in enumerate(DWELL_COLUMNS)
    ]
    visits = sum(p.visits or 0 for p in points)
    total = sum(p.dwell_s or 0.0 for p in points)
    return DwellOut(
        store_id=req.store.store_id,
        timezone=req.store.timezone,
        range=RangeOut.of(req.rng),
        bucket=req.bucket,
        camera_id=camera_id,
        zone_id=zone_id,
        visits=visits,
        total_dwell_s=total,
        mean_dwell_s=mean_of(total, visits),
        bins=out_bins,
        points=points,
    )


def behavior_columns() -> dict[str, str]:
    return {**BEHAVIOR_COLUMNS, UNCLASSIFIED: UNCLASSIFIED_COLUMN}


def shares(counts: dict[str, int]) -> list[BehaviorShare]:
    total = sum(counts.values())
    return [BehaviorShare(behavior=label, count=n, share=n / total if total else 0.0) for label, n in counts.items()]


def behavior(conn: Connection, req: SeriesRequest, camera_id: str | None, zone_id: str | None) -> BehaviorOut:
    columns = behavior_columns()
    sums = [func.sum(traffic_hourly.c[col]).label(col) for col in columns.values()]
    where = _traffic_where(req.store.store_id, req.buckets, camera_id, zone_id, per_zone=False)
    rows = _rows_by_bucket(conn, req, sums, where)
    gaps = req.coverage(conn, camera_id)
    trend = []
    overall = dict.fromkeys(columns, 0)
    for i, s in enumerate(req.buckets.starts):
        seen = gaps.at(i)
        row = rows.get(s, {})
        counts = {label: as_int(row.get(col)) for label, col in columns.items()}
        if not seen.missing:
            for label, n in counts.items():
                overall[label] += n
        trend.append(
            BehaviorPoint(
                ts=s,
                time=iso(s),
                local=req.buckets.local(s),
                missing=seen.missing,
                coverage=seen.fraction,
                total=None if seen.missing else sum(counts.values()),
                counts=None if seen.missing else counts,
            )
        )
    return BehaviorOut(
        store_id=req.store.store_id,
        timezone=req.store.timezone,
        range=RangeOut.of(req.rng),
        bucket=req.bucket,
        camera_id=camera_id,
        zone_id=zone_id,
        total=sum(overall.values()),
        distribution=shares(overall),
        trend=trend,
    )

"""The REST API's reads, as SQLAlchemy Core that runs on SQLite and PostgreSQL alike.

Aggregates read only the rollup tables (``traffic_hourly``, ``line_hourly``,
``heatmap_daily``) through their ``(store_id, hour|day)`` prefixes; only the
paged track listing touches ``track_summaries``, through its
``(store_id, start_ts)`` index. Day buckets are computed from the integer hour
column (``hour - hour % 86400``) with the constant inlined, so the GROUP BY
expression is the same text as the selected one on PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import ColumnElement, Connection, and_, case, func, literal_column, or_, select
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.models import (
    AgentCameraOut,
    AgentOut,
    BehaviorOut,
    BehaviorPoint,
    BehaviorShare,
    BusiestHour,
    BusiestHourOfDay,
    CameraOut,
    DwellBin,
    DwellOut,
    DwellPoint,
    FleetOut,
    GroupBy,
    HeartbeatOut,
    HeartbeatsOut,
    LinePoint,
    LineSeries,
    LinesOut,
    ModelOut,
    OverviewOut,
    RangeOut,
    StoreList,
    StoreOut,
    TrackOut,
    TrackPage,
    TrafficOut,
    TrafficPoint,
    TrafficSeries,
    VisitsSummary,
    ZoneDwellOut,
    ZoneRank,
)
from central.api.timerange import Bucket, TimeRange, floor_to, iso
from central.db import paths
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    DWELL_BINS_S,
    DWELL_COLUMNS,
    UNCLASSIFIED_COLUMN,
    agent_heartbeats,
    agents,
    cameras,
    heatmap_daily,
    line_hourly,
    lines,
    stores,
    track_summaries,
    traffic_hourly,
    written_columns,
    zones,
)
from central.timebuckets import DAY, HOUR

logger = logging.getLogger(__name__)

UNCLASSIFIED = "unclassified"
TOP_ZONES = 5


@dataclass(frozen=True)
class StoreRef:
    store_id: str
    name: str


# ``hour`` and ``day`` are 32-bit integers on PostgreSQL: bounds past 2038-01-19 are clamped to the largest one
_INT32_MAX = 2**31 - 1


def _bounds(rng: TimeRange, bucket: Bucket) -> tuple[int, int]:
    lo, hi = rng.bounds(bucket)
    return min(lo, _INT32_MAX), min(hi, _INT32_MAX)


class BadCursorError(ValueError):
    """A paging cursor this server did not make."""


def _bucket(hour: KeyedColumnElement[Any], bucket: Bucket) -> ColumnElement[Any]:
    if bucket is Bucket.HOUR:
        return hour
    day: ColumnElement[Any] = literal_column(str(DAY))
    return hour - hour % day


def _int(value: Any) -> int:
    return int(value or 0)


def _float(value: Any) -> float:
    return float(value or 0.0)


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _json(text: str | None, default: Any, what: str) -> Any:
    if not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        logger.warning("unreadable JSON in %s: %.80r", what, text)
        return default


# --- stores -------------------------------------------------------------------------------------


def find_store(conn: Connection, store_id: str) -> StoreRef | None:
    row = conn.execute(select(stores.c.store_id, stores.c.name).where(stores.c.store_id == store_id)).first()
    return StoreRef(row.store_id, row.name) if row is not None else None


def camera_exists(conn: Connection, store_id: str, camera_id: str) -> bool:
    query = select(cameras.c.camera_id).where(cameras.c.store_id == store_id, cameras.c.camera_id == camera_id)
    return conn.execute(query).first() is not None


def _stores(conn: Connection, store_ids: Sequence[str]) -> list[StoreOut]:
    if not store_ids:
        return []
    rows = conn.execute(
        select(stores.c.store_id, stores.c.name, stores.c.created_at)
        .where(stores.c.store_id.in_(store_ids))
        .order_by(stores.c.store_id)
    ).all()
    zone_ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for z in conn.execute(
        select(zones.c.store_id, zones.c.camera_id, zones.c.zone_id)
        .where(zones.c.store_id.in_(store_ids))
        .order_by(zones.c.zone_id)
    ):
        zone_ids[z.store_id, z.camera_id].append(z.zone_id)
    line_ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for li in conn.execute(
        select(lines.c.store_id, lines.c.camera_id, lines.c.line_id)
        .where(lines.c.store_id.in_(store_ids))
        .order_by(lines.c.line_id)
    ):
        line_ids[li.store_id, li.camera_id].append(li.line_id)
    cams: dict[str, list[CameraOut]] = defaultdict(list)
    for c in conn.execute(select(cameras).where(cameras.c.store_id.in_(store_ids)).order_by(cameras.c.camera_id)):
        key = (c.store_id, c.camera_id)
        cams[c.store_id].append(
            CameraOut(
                camera_id=c.camera_id,
                first_seen=c.first_seen,
                last_seen=c.last_seen,
                declared=bool(c.declared),
                zones=zone_ids.get(key, []),
                lines=line_ids.get(key, []),
            )
        )
    return [
        StoreOut(store_id=r.store_id, name=r.name, created_at=r.created_at, cameras=cams.get(r.store_id, []))
        for r in rows
    ]


def list_stores(conn: Connection, limit: int, offset: int) -> StoreList:
    total = _int(conn.execute(select(func.count()).select_from(stores)).scalar())
    ids = conn.execute(select(stores.c.store_id).order_by(stores.c.store_id).limit(limit).offset(offset)).scalars()
    return StoreList(stores=_stores(conn, list(ids)), total=total, limit=limit, offset=offset)


def get_store(conn: Connection, store_id: str) -> StoreOut:
    found = _stores(conn, [store_id])
    if not found:
        raise LookupError(store_id)
    return found[0]


# --- traffic_hourly reads -----------------------------------------------------------------------


def _traffic_where(
    store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, zone_id: str | None, per_zone: bool
) -> list[ColumnElement[bool]]:
    t = traffic_hourly.c
    lo, hi = _bounds(rng, bucket)
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
) -> TrafficOut:
    t = traffic_hourly.c
    b = _bucket(t.hour, bucket).label("bucket")
    keys: list[KeyedColumnElement[Any]] = []
    if group_by in (GroupBy.CAMERA, GroupBy.ZONE):
        keys.append(t.camera_id)
    if group_by is GroupBy.ZONE:
        keys.append(t.zone_id)
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=group_by is GroupBy.ZONE)
    query = select(b, *keys, func.sum(t.visits).label("visits")).where(*where).group_by(b, *keys)
    per_series: dict[tuple[str | None, str | None], dict[int, int]] = defaultdict(dict)
    for row in conn.execute(query):
        cam = row.camera_id if group_by is not GroupBy.NONE else camera_id
        zone = row.zone_id if group_by is GroupBy.ZONE else zone_id
        per_series[cam, zone][int(row.bucket)] = _int(row.visits)
    if group_by is GroupBy.NONE and not per_series:
        per_series[camera_id, zone_id] = {}
    starts = rng.buckets(bucket)
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
    b = _bucket(t.hour, bucket).label("bucket")
    sums = [func.sum(t.visits).label("visits"), func.sum(t.dwell_s).label("dwell_s")]
    sums += [func.sum(traffic_hourly.c[name]).label(name) for name in DWELL_COLUMNS]
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=False)
    rows = {int(r.bucket): r for r in conn.execute(select(b, *sums).where(*where).group_by(b))}
    points = []
    for s in rng.buckets(bucket):
        row = rows.get(s)
        visits, total = (_int(row.visits), _float(row.dwell_s)) if row is not None else (0, 0.0)
        points.append(DwellPoint(ts=s, time=iso(s), visits=visits, dwell_s=total, mean_dwell_s=_mean(total, visits)))
    bounds = (0, *DWELL_BINS_S, None)
    bins = [
        DwellBin(
            bin=name.removeprefix("dwell_"),
            min_s=bounds[i],
            max_s=bounds[i + 1],
            visits=sum(_int(r._mapping[name]) for r in rows.values()),
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
        mean_dwell_s=_mean(total, visits),
        bins=bins,
        points=points,
    )


def _behavior_columns() -> dict[str, str]:
    return {**BEHAVIOR_COLUMNS, UNCLASSIFIED: UNCLASSIFIED_COLUMN}


def _shares(counts: dict[str, int]) -> list[BehaviorShare]:
    total = sum(counts.values())
    return [BehaviorShare(behavior=label, count=n, share=n / total if total else 0.0) for label, n in counts.items()]


def behavior(
    conn: Connection, store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, zone_id: str | None
) -> BehaviorOut:
    t = traffic_hourly.c
    b = _bucket(t.hour, bucket).label("bucket")
    columns = _behavior_columns()
    sums = [func.sum(traffic_hourly.c[col]).label(col) for col in columns.values()]
    where = _traffic_where(store_id, rng, bucket, camera_id, zone_id, per_zone=False)
    rows = {int(r.bucket): r for r in conn.execute(select(b, *sums).where(*where).group_by(b))}
    trend = []
    overall = dict.fromkeys(columns, 0)
    for s in rng.buckets(bucket):
        row = rows.get(s)
        counts = {label: _int(row._mapping[col]) if row is not None else 0 for label, col in columns.items()}
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
        distribution=_shares(overall),
        trend=trend,
    )


def overview(conn: Connection, store: StoreRef, rng: TimeRange, now: float) -> OverviewOut:
    """Today's and the range's visits, dwell, behaviour mix, busiest hour and top zones: three indexed rollup reads."""
    t = traffic_hourly.c
    columns = _behavior_columns()
    lo, hi = _bounds(rng, Bucket.HOUR)
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
    today_start = floor_to(now, DAY)
    today = conn.execute(
        select(func.sum(t.visits).label("visits"), func.sum(t.dwell_s).label("dwell_s")).where(
            *camera_rows, t.hour >= today_start, t.hour < min(today_start + DAY, _INT32_MAX)
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
        n, hour = _int(row.visits), int(row.hour)
        visits += n
        dwell_total += _float(row.dwell_s)
        for label, col in columns.items():
            mix[label] += _int(row._mapping[col])
        by_hour_of_day[(hour % DAY) // HOUR] += n
        if n > 0 and (busiest is None or n > busiest[1]):
            busiest = (hour, n)
    peak_of_day = max(range(24), key=lambda h: by_hour_of_day[h])
    today_visits, today_dwell = _int(today.visits), _float(today.dwell_s)
    return OverviewOut(
        store_id=store.store_id,
        name=store.name,
        generated_at=now,
        range=RangeOut.of(rng),
        today=VisitsSummary(
            visits=today_visits, total_dwell_s=today_dwell, mean_dwell_s=_mean(today_dwell, today_visits)
        ),
        period=VisitsSummary(visits=visits, total_dwell_s=dwell_total, mean_dwell_s=_mean(dwell_total, visits)),
        behavior=_shares(mix),
        busiest_hour=BusiestHour(ts=busiest[0], time=iso(busiest[0]), visits=busiest[1]) if busiest else None,
        busiest_hour_of_day=(
            BusiestHourOfDay(hour_of_day=peak_of_day, visits=by_hour_of_day[peak_of_day]) if visits else None
        ),
        top_zones=[
            ZoneRank(
                camera_id=r.camera_id,
                zone_id=r.zone_id,
                visits=_int(r.visits),
                mean_dwell_s=_mean(_float(r.dwell_s), _int(r.visits)),
            )
            for r in top
        ],
    )


# --- lines, heatmaps ----------------------------------------------------------------------------


def line_counts(
    conn: Connection, store_id: str, rng: TimeRange, bucket: Bucket, camera_id: str | None, line_id: str | None
) -> LinesOut:
    t = line_hourly.c
    b = _bucket(t.hour, bucket).label("bucket")
    lo, hi = _bounds(rng, bucket)
    where = [t.store_id == store_id, t.hour >= lo, t.hour < hi]
    known = [lines.c.store_id == store_id]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
        known.append(lines.c.camera_id == camera_id)
    if line_id is not None:
        where.append(t.line_id == line_id)
        known.append(lines.c.line_id == line_id)
    per_line: dict[tuple[str, str], dict[int, tuple[int, int]]] = {
        (r.camera_id, r.line_id): {} for r in conn.execute(select(lines.c.camera_id, lines.c.line_id).where(*known))
    }
    query = (
        select(
            b,
            t.camera_id,
            t.line_id,
            func.sum(t.in_count).label("in_count"),
            func.sum(t.out_count).label("out_count"),
        )
        .where(*where)
        .group_by(b, t.camera_id, t.line_id)
    )
    for row in conn.execute(query):
        per_line.setdefault((row.camera_id, row.line_id), {})[int(row.bucket)] = (
            _int(row.in_count),
            _int(row.out_count),
        )
    starts = rng.buckets(bucket)
    series = []
    for (cam, line), values in sorted(per_line.items()):
        points = [
            LinePoint(ts=s, time=iso(s), in_count=values.get(s, (0, 0))[0], out_count=values.get(s, (0, 0))[1])
            for s in starts
        ]
        series.append(
            LineSeries(
                camera_id=cam,
                line_id=line,
                in_count=sum(v[0] for v in values.values()),
                out_count=sum(v[1] for v in values.values()),
                points=points,
            )
        )
    return LinesOut(store_id=store_id, range=RangeOut.of(rng), bucket=bucket, lines=series)


@dataclass(frozen=True)
class HeatmapGrid:
    cells: np.ndarray[Any, np.dtype[np.float32]]  # rows x cols person-seconds
    days: int
    days_skipped: int


def heatmap_grid(conn: Connection, store_id: str, camera_id: str, rng: TimeRange) -> HeatmapGrid | None:
    """The camera's daily grids over the range, summed; grids of another shape than the latest day's are skipped."""
    t = heatmap_daily.c
    lo, hi = _bounds(rng, Bucket.DAY)
    rows = conn.execute(
        select(t.rows, t.cols, t.cells)
        .where(t.store_id == store_id, t.camera_id == camera_id, t.day >= lo, t.day < hi)
        .order_by(t.day.desc())
    ).all()
    total: np.ndarray[Any, np.dtype[np.float32]] | None = None
    days = skipped = 0
    for row in rows:
        shape = (int(row.rows), int(row.cols))
        blob = bytes(row.cells)
        if len(blob) != shape[0] * shape[1] * 4 or (total is not None and total.shape != shape):
            skipped += 1
            continue
        grid = np.frombuffer(blob, dtype="<f4").reshape(shape)
        total = grid.astype(np.float32) if total is None else total + grid
        days += 1
    if total is None:
        return None
    total = np.nan_to_num(total, nan=0.0, posinf=0.0, neginf=0.0)
    return HeatmapGrid(total, days, skipped)


# --- track summaries ----------------------------------------------------------------------------


def encode_cursor(start_ts: float, track_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ts!r}|{track_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, sep, track_id = raw.partition("|")
        ts = float(ts_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursorError(cursor) from None
    if not sep or not track_id or not math.isfinite(ts) or "\x00" in track_id:
        raise BadCursorError(cursor)
    return ts, track_id


def _zone_needles(zone_id: str) -> set[str]:
    # zone_order is JSON text: the id appears quoted, escaped as json or orjson would write it
    return {json.dumps(zone_id), json.dumps(zone_id, ensure_ascii=False)}


def _contains(conn: Connection, column: KeyedColumnElement[Any], needle: str) -> ColumnElement[bool]:
    # exact, case-sensitive substring test (SQLite's LIKE ignores ASCII case)
    if conn.dialect.name == "postgresql":
        return func.strpos(column, needle) > 0
    return func.instr(column, needle) > 0


# what a summary row holds as ingest makes it (the database numbers the id)
TRACK_COLUMNS = frozenset(c.name for c in written_columns(track_summaries))


def _path(blob: bytes, where: str) -> list[list[float]]:
    try:
        return paths.readable(blob)
    except ValueError as e:
        logger.warning("%s: path not shown: %s", where, e)
        return []


def track_out(row: Mapping[Any, Any]) -> TrackOut:
    """A stored summary row (JSON columns as text) as the API shows it; also used for live events."""
    where = f"track {row['track_id']}"
    zone_dwell = [
        ZoneDwellOut(zone_id=str(z[0]), seconds=float(z[1]), visits=int(z[2]))
        for z in _json(row["zone_dwell"], [], where)
        if isinstance(z, list) and len(z) >= 3
    ]
    return TrackOut(
        track_id=row["track_id"],
        store_id=row["store_id"],
        camera_id=row["camera_id"],
        start_ts=row["start_ts"],
        end_ts=row["end_ts"],
        start=iso(row["start_ts"]),
        dwell_s=row["dwell_s"],
        distance_m=row["distance_m"],
        mean_speed_mps=row["mean_speed_mps"],
        max_speed_mps=row["max_speed_mps"],
        stop_count=row["stop_count"],
        behavior=row["behavior"],
        probabilities=_json(row["probabilities"], {}, where),
        zone_dwell=zone_dwell,
        zone_order=[str(z) for z in _json(row["zone_order"], [], where)],
        path=_path(row["path"], where),
        detector_model=row["detector_model"],
        behavior_model=row["behavior_model"],
        received_at=row["received_at"],
    )


def tracks(
    conn: Connection,
    store_id: str,
    rng: TimeRange,
    limit: int,
    cursor: str | None,
    camera_id: str | None,
    zone_id: str | None,
    behavior_label: str | None,
) -> TrackPage:
    """Newest first, keyset-paged on ``(start_ts, track_id)`` along the ``(store_id, start_ts)`` index."""
    t = track_summaries.c
    where: list[ColumnElement[bool]] = [t.store_id == store_id, t.start_ts >= rng.start, t.start_ts < rng.end]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
    if behavior_label == UNCLASSIFIED:
        where.append(t.behavior.is_(None))
    elif behavior_label is not None:
        where.append(t.behavior == behavior_label)
    if zone_id is not None:
        where.append(or_(*(_contains(conn, t.zone_order, needle) for needle in _zone_needles(zone_id))))
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        where.append(or_(t.start_ts < after_ts, and_(t.start_ts == after_ts, t.track_id < after_id)))
    rows = conn.execute(
        select(track_summaries).where(*where).order_by(t.start_ts.desc(), t.track_id.desc()).limit(limit + 1)
    ).all()
    items = [track_out(r._mapping) for r in rows[:limit]]
    more = len(rows) > limit
    return TrackPage(
        items=items, limit=limit, next_cursor=encode_cursor(items[-1].start_ts, items[-1].track_id) if more else None
    )


def track(conn: Connection, store_id: str, track_id: str) -> TrackOut | None:
    """The store's summary of that track. There is no index of track ids alone (it would put every insert at
    a random place): the store's part of the ``(store_id, start_ts, track_id)`` key is searched instead."""
    t = track_summaries.c
    row = conn.execute(
        select(track_summaries).where(t.store_id == store_id, t.track_id == track_id).order_by(t.start_ts).limit(1)
    ).first()
    return track_out(row._mapping) if row is not None else None


# --- fleet --------------------------------------------------------------------------------------


def _entries(text: str | None, model: type[ModelOut] | type[AgentCameraOut], what: str) -> list[Any]:
    return [model.model_validate(e) for e in _json(text, [], what) if isinstance(e, dict)]


def _agent(row: Any, now: float, online_window_s: float) -> AgentOut:
    where = f"agent {row.agent_id}"
    return AgentOut(
        agent_id=row.agent_id,
        store_id=row.store_id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        online=now - row.last_seen <= online_window_s,
        agent_version=row.agent_version,
        models=_entries(row.models, ModelOut, where),
        cameras=_entries(row.cameras, AgentCameraOut, where),
        outbox_backlog=row.outbox_backlog,
        last_error=row.last_error,
    )


def fleet(
    conn: Connection, store_id: str | None, limit: int, offset: int, now: float, online_window_s: float
) -> FleetOut:
    a = agents.c
    where = [a.store_id == store_id] if store_id is not None else []
    counts = conn.execute(
        select(
            func.count().label("total"),
            func.sum(case((a.last_seen >= now - online_window_s, 1), else_=0)).label("online"),
        ).where(*where)
    ).one()
    rows = conn.execute(select(agents).where(*where).order_by(a.store_id, a.agent_id).limit(limit).offset(offset))
    return FleetOut(
        agents=[_agent(r, now, online_window_s) for r in rows],
        total=_int(counts.total),
        online=_int(counts.online),
        online_window_s=online_window_s,
        limit=limit,
        offset=offset,
    )


def agent(conn: Connection, agent_id: str, now: float, online_window_s: float) -> AgentOut | None:
    row = conn.execute(select(agents).where(agents.c.agent_id == agent_id)).first()
    return _agent(row, now, online_window_s) if row is not None else None


def heartbeats(conn: Connection, agent_id: str, limit: int) -> HeartbeatsOut:
    h = agent_heartbeats.c
    rows = conn.execute(
        select(h.received_at, h.payload)
        .where(h.agent_id == agent_id)
        .order_by(h.received_at.desc(), h.id.desc())
        .limit(limit)
    )
    beats = []
    for r in rows:
        payload = _json(r.payload, {}, f"heartbeat of {agent_id}")
        beats.append(HeartbeatOut(received_at=r.received_at, payload=payload if isinstance(payload, dict) else {}))
    return HeartbeatsOut(agent_id=agent_id, heartbeats=beats)

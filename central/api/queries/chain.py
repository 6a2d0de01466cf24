"""The chain overview: every store of a page with its visits, change, dwell, behaviour mix, agents and gaps.

Six grouped reads for the whole page, whatever its size, never one per store and never a scan of raw
summaries: the page of stores; the camera rows of ``traffic_hourly`` over the range and the period before it
(one ``CASE`` per half); the same rows over each store's local today (the today of each time zone on the
page as one ``CASE``); the page's agents; its cameras; and the covered hours of ``uptime_hourly`` per camera.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from central.api.chain_models import AgentsStatus, ChainOverviewOut, StoreSummary
from central.api.models import AgentCameraOut, RangeOut, VisitsSummary
from central.api.queries.columns import as_float, as_int, bounds, mean_of, parse_json
from central.api.queries.overview import today_bounds
from central.api.queries.traffic import behavior_columns, shares
from central.api.timerange import Bucket, TimeRange
from central.config import GapConfig
from central.db.schema import agents, cameras, stores, traffic_hourly, uptime_hourly
from central.localtime import LocalClock
from central.timebuckets import HOUR, hour_of


@dataclass
class _Sums:
    visits: int = 0
    dwell_s: float = 0.0

    def out(self) -> VisitsSummary:
        return VisitsSummary(
            visits=self.visits, total_dwell_s=self.dwell_s, mean_dwell_s=mean_of(self.dwell_s, self.visits)
        )


@dataclass
class _Agents:
    agents: int = 0
    online: int = 0
    last_seen: float | None = None
    backlog: int = 0
    connected: set[str] = field(default_factory=set)


def _in_period(hour: Any, lo: int, hi: int, value: Any) -> ColumnElement[Any]:
    return func.sum(case((and_(hour >= lo, hour < hi), value), else_=0))


def chain_overview(
    conn: Connection,
    rng: TimeRange,
    limit: int,
    offset: int,
    now: float,
    online_window_s: float,
    gaps: GapConfig,
) -> ChainOverviewOut:
    """One page of stores (by id) with everything the chain overview shows of each."""
    s = stores.c
    total = as_int(conn.execute(select(func.count()).select_from(stores)).scalar())
    page = conn.execute(select(s.store_id, s.name, s.timezone).order_by(s.store_id).limit(limit).offset(offset)).all()
    ids = [r.store_id for r in page]
    lo, hi = bounds(rng, Bucket.HOUR)
    before = lo - (hi - lo)
    clocks = {r.store_id: LocalClock(r.timezone) for r in page}
    known = _cameras(conn, ids)
    # every camera with traffic has a row in ``cameras`` (ingest writes both in one transaction): naming them
    # lets the rollup's primary key reach the camera rows alone, not the zone rows between them
    names = sorted({camera for cams in known.values() for camera in cams})
    periods = _periods(conn, ids, names, before, lo, hi)
    today = _today(conn, clocks, names, now)
    status = _agents(conn, ids, now, online_window_s)
    gappy = _stores_with_gaps(conn, known, lo, hi, now, gaps)
    out = []
    for r in page:
        current, previous, mix = periods.get(r.store_id, (_Sums(), _Sums(), {}))
        a = status.get(r.store_id, _Agents())
        out.append(
            StoreSummary(
                store_id=r.store_id,
                name=r.name,
                timezone=r.timezone,
                today=today.get(r.store_id, _Sums()).out(),
                period=current.out(),
                previous=previous.out(),
                change=(current.visits - previous.visits) / previous.visits if previous.visits else None,
                behavior=shares({label: mix.get(label, 0) for label in behavior_columns()}),
                status=AgentsStatus(
                    agents=a.agents,
                    agents_online=a.online,
                    online=a.online > 0,
                    last_seen=a.last_seen,
                    backlog=a.backlog,
                    cameras_connected=len(a.connected),
                    cameras_total=len(known.get(r.store_id, {})),
                ),
                has_gaps=r.store_id in gappy,
            )
        )
    return ChainOverviewOut(
        generated_at=now,
        range=RangeOut.of(rng),
        previous_range=RangeOut.of(TimeRange(before, lo)),
        stores=out,
        total=total,
        limit=limit,
        offset=offset,
    )


def _periods(
    conn: Connection, ids: Sequence[str], camera_ids: Sequence[str], before: int, lo: int, hi: int
) -> dict[str, tuple[_Sums, _Sums, dict[str, int]]]:
    """Per store: visits and dwell over ``[lo, hi)`` and ``[before, lo)``, and the behaviour mix of the first."""
    if not ids or not camera_ids:
        return {}
    t = traffic_hourly.c
    columns = behavior_columns()
    query = (
        select(
            t.store_id,
            _in_period(t.hour, lo, hi, t.visits).label("visits"),
            _in_period(t.hour, lo, hi, t.dwell_s).label("dwell_s"),
            _in_period(t.hour, before, lo, t.visits).label("prev_visits"),
            _in_period(t.hour, before, lo, t.dwell_s).label("prev_dwell_s"),
            *(_in_period(t.hour, lo, hi, traffic_hourly.c[col]).label(col) for col in columns.values()),
        )
        .where(t.store_id.in_(ids), t.camera_id.in_(camera_ids), t.zone_id == "", t.hour >= before, t.hour < hi)
        .group_by(t.store_id)
    )
    out = {}
    for row in conn.execute(query):
        mix = {label: as_int(row._mapping[col]) for label, col in columns.items()}
        out[row.store_id] = (
            _Sums(as_int(row.visits), as_float(row.dwell_s)),
            _Sums(as_int(row.prev_visits), as_float(row.prev_dwell_s)),
            mix,
        )
    return out


def _today(conn: Connection, clocks: dict[str, LocalClock], camera_ids: Sequence[str], now: float) -> dict[str, _Sums]:
    """Per store: visits and dwell over its local today. Stores of one time zone share their today's hours, so
    the page's time zones (a handful) make one ``CASE`` of the query, whatever the number of stores."""
    if not clocks or not camera_ids:
        return {}
    by_zone: dict[tuple[int, int], list[str]] = defaultdict(list)
    for store_id, clock in clocks.items():
        by_zone[today_bounds(clock, now)].append(store_id)
    t = traffic_hourly.c
    today = or_(*(and_(t.store_id.in_(ids), t.hour >= a, t.hour < b) for (a, b), ids in by_zone.items()))
    query = (
        select(
            t.store_id,
            func.sum(case((today, t.visits), else_=0)).label("visits"),
            func.sum(case((today, t.dwell_s), else_=0)).label("dwell_s"),
        )
        .where(
            t.store_id.in_(list(clocks)),
            t.camera_id.in_(camera_ids),
            t.zone_id == "",
            t.hour >= min(a for a, _ in by_zone),
            t.hour < max(b for _, b in by_zone),
        )
        .group_by(t.store_id)
    )
    return {r.store_id: _Sums(as_int(r.visits), as_float(r.dwell_s)) for r in conn.execute(query)}


def _agents(conn: Connection, ids: Sequence[str], now: float, online_window_s: float) -> dict[str, _Agents]:
    """Per store: its agents, how many are online, their latest heartbeat, backlog and connected cameras."""
    if not ids:
        return {}
    a = agents.c
    out: dict[str, _Agents] = defaultdict(_Agents)
    query = select(a.store_id, a.agent_id, a.last_seen, a.outbox_backlog, a.cameras).where(a.store_id.in_(ids))
    for row in conn.execute(query):
        status = out[row.store_id]
        status.agents += 1
        status.last_seen = max(status.last_seen or row.last_seen, row.last_seen)
        status.backlog += as_int(row.outbox_backlog)
        if now - row.last_seen <= online_window_s:
            status.online += 1
            for entry in parse_json(row.cameras, [], f"agent {row.agent_id} of store {row.store_id}"):
                if isinstance(entry, dict):
                    camera = AgentCameraOut.model_validate(entry)
                    if camera.connected:
                        status.connected.add(camera.camera_id)
    return out


def _cameras(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """Per store: its cameras, each with the start of its first uptime report (None: it reports none)."""
    if not ids:
        return {}
    c = cameras.c
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    for row in conn.execute(select(c.store_id, c.camera_id, c.uptime_since).where(c.store_id.in_(ids))):
        out[row.store_id][row.camera_id] = row.uptime_since
    return out


def _stores_with_gaps(
    conn: Connection, known: dict[str, dict[str, float | None]], lo: int, hi: int, now: float, gaps: GapConfig
) -> set[str]:
    """Stores with a camera that has an hour in ``[lo, hi)`` it should have covered and did not (see
    :mod:`central.api.queries.gaps`): its covered hours counted per camera, against the hours it was judged."""
    end = min(hi, hour_of(now - gaps.pending_s))
    judged = {
        (store, camera): (end - max(lo, hour_of(since))) // HOUR
        for store, cams in known.items()
        for camera, since in cams.items()
        if since is not None and end > max(lo, hour_of(since))
    }
    if not judged:
        return set()
    u = uptime_hourly.c
    query = (
        select(u.store_id, u.camera_id, func.count().label("covered"))
        .where(
            u.store_id.in_(sorted({store for store, _ in judged})),
            u.hour >= lo,
            u.hour < end,
            u.seconds_up >= gaps.min_uptime_fraction * HOUR,
        )
        .group_by(u.store_id, u.camera_id)
    )
    covered = {(r.store_id, r.camera_id): as_int(r.covered) for r in conn.execute(query)}
    return {store for (store, camera), hours in judged.items() if covered.get((store, camera), 0) < hours}

"""What each dashboard view reads: the REST API's own query functions over the rollups, never raw scans.

Every function here takes a connection and returns plain values the views draw,
so the dashboard shows exactly the numbers the REST API gives for the same store
and range (the browser tests compare the two). The only read of raw summaries is
the store page's sample of recent trajectories: one page of the ``tracks``
query, newest first along its index, bounded by ``dashboard.max_trajectories``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from central.api.models import AgentOut, BehaviorOut, DwellBin, GroupBy, LinesOut, TrackOut, TrafficOut
from central.api.queries import fleet as fleet_queries
from central.api.queries import heatmap as heatmap_queries
from central.api.queries import lines as line_queries
from central.api.queries import stores as store_queries
from central.api.queries import tracks as track_queries
from central.api.queries import traffic as traffic_queries
from central.api.queries.columns import as_int
from central.api.timerange import Bucket, TimeRange
from central.db.schema import DWELL_BINS_S, DWELL_COLUMNS, stores, traffic_hourly

# a line whose id starts with one of these counts people through a store's door: occupancy is in minus out
DOOR_PREFIXES = ("door", "entrance", "entry")
MAX_STORES_LISTED = 5000


@dataclass(frozen=True)
class StoreChoice:
    store_id: str
    name: str


@dataclass(frozen=True)
class ZoneDwell:
    camera_id: str
    zone_id: str
    visits: int
    bins: list[DwellBin]


@dataclass(frozen=True)
class CameraHeatmap:
    camera_id: str
    cells: np.ndarray[tuple[int, int], np.dtype[np.float32]] | None
    days: int


@dataclass(frozen=True)
class StoreData:
    """Everything the store page draws for one store and range."""

    store: StoreChoice
    visits: int  # the store's visits over the range: one per track per camera, as ``GET /traffic`` counts them
    traffic: TrafficOut  # per zone
    dwell: list[ZoneDwell]
    behavior: BehaviorOut
    lines: LinesOut
    door_lines: list[str]
    heatmaps: list[CameraHeatmap]
    zones: list[tuple[str, str]]  # (camera_id, zone_id) pairs of the store
    cameras: list[str] = field(default_factory=list)


def store_choices(conn: Connection) -> list[StoreChoice]:
    s = stores.c
    rows = conn.execute(select(s.store_id, s.name).order_by(s.store_id).limit(MAX_STORES_LISTED)).all()
    return [StoreChoice(r.store_id, r.name) for r in rows]


def zone_dwell(conn: Connection, store_id: str, rng: TimeRange) -> list[ZoneDwell]:
    """Visits per dwell bin of each zone: one grouped read of the hourly rollup."""
    t = traffic_hourly.c
    lo, hi = rng.bounds(Bucket.HOUR)
    rows = conn.execute(
        select(
            t.camera_id,
            t.zone_id,
            func.sum(t.visits).label("visits"),
            *(func.sum(traffic_hourly.c[name]).label(name) for name in DWELL_COLUMNS),
        )
        .where(t.store_id == store_id, t.zone_id != "", t.hour >= lo, t.hour < hi)
        .group_by(t.camera_id, t.zone_id)
        .order_by(t.camera_id, t.zone_id)
    ).all()
    edges = (0, *DWELL_BINS_S, None)
    out = []
    for r in rows:
        bins = [
            DwellBin(
                bin=name.removeprefix("dwell_"), min_s=edges[i], max_s=edges[i + 1], visits=as_int(r._mapping[name])
            )
            for i, name in enumerate(DWELL_COLUMNS)
        ]
        out.append(ZoneDwell(r.camera_id, r.zone_id, as_int(r.visits), bins))
    return out


def store_data(conn: Connection, store_id: str, rng: TimeRange, bucket: Bucket, max_points: int) -> StoreData | None:
    ref = store_queries.find_store(conn, store_id)
    if ref is None:
        return None
    layout = store_queries.get_store(conn, store_id, max_ids=max_points)
    cameras = [c.camera_id for c in layout.cameras]
    zones = [(c.camera_id, z) for c in layout.cameras for z in c.zones]
    total = traffic_queries.traffic(conn, store_id, rng, Bucket.DAY, None, None, GroupBy.NONE, max_points)
    traffic = traffic_queries.traffic(conn, store_id, rng, bucket, None, None, GroupBy.ZONE, max_points)
    behavior = traffic_queries.behavior(conn, store_id, rng, Bucket.DAY, None, None)
    lines = line_queries.line_counts(conn, store_id, rng, Bucket.HOUR, None, None, max_points)
    doors = sorted({s.line_id for s in lines.lines if s.line_id.lower().startswith(DOOR_PREFIXES)})
    heatmaps = []
    for camera_id in cameras:
        grid = heatmap_queries.heatmap_grid(conn, store_id, camera_id, rng)
        heatmaps.append(CameraHeatmap(camera_id, grid.cells if grid else None, grid.days if grid else 0))
    return StoreData(
        store=StoreChoice(ref.store_id, ref.name),
        visits=total.visits,
        traffic=traffic,
        dwell=zone_dwell(conn, store_id, rng),
        behavior=behavior,
        lines=lines,
        door_lines=doors,
        heatmaps=heatmaps,
        zones=zones,
        cameras=cameras,
    )


def trajectories(
    conn: Connection,
    store_id: str,
    rng: TimeRange,
    camera_id: str | None,
    behavior: str | None,
    zone_id: str | None,
    limit: int,
) -> list[TrackOut]:
    """The newest ``limit`` track summaries of a camera, filtered like ``GET /tracks``."""
    page = track_queries.tracks(conn, store_id, rng, limit, None, camera_id, zone_id, behavior)
    return page.items


def fleet(conn: Connection, now: float, online_window_s: float, limit: int) -> list[AgentOut]:
    return fleet_queries.fleet(conn, None, limit, 0, now, online_window_s).agents


@dataclass(frozen=True)
class ChainRow:
    store_id: str
    name: str
    visitors: int
    visitors_previous: int
    visitors_today: int
    mean_dwell_s: float | None
    top_behavior: str
    agent_status: str
    last_seen: str
    backlog: int
    cameras_up: str
    has_gaps: bool

    @property
    def change(self) -> float | None:
        return (self.visitors - self.visitors_previous) / self.visitors_previous if self.visitors_previous else None


def _visits_by_store(conn: Connection, lo: int, hi: int) -> dict[str, Any]:
    t = traffic_hourly.c
    behaviors = traffic_queries.behavior_columns()
    rows = conn.execute(
        select(
            t.store_id,
            func.sum(t.visits).label("visits"),
            func.sum(t.dwell_s).label("dwell_s"),
            *(func.sum(traffic_hourly.c[col]).label(col) for col in behaviors.values()),
        )
        .where(t.zone_id == "", t.hour >= lo, t.hour < hi)
        .group_by(t.store_id)
    ).all()
    return {r.store_id: r for r in rows}


def chain_overview(conn: Connection, rng: TimeRange, now: float, online_window_s: float) -> list[ChainRow]:
    """Every store's row of the overview: three grouped reads of the hourly rollup and one of the agents."""
    lo, hi = rng.bounds(Bucket.HOUR)
    span = hi - lo
    current = _visits_by_store(conn, lo, hi)
    previous = _visits_by_store(conn, lo - span, lo)
    today_start = int(now // 86_400 * 86_400)
    today = _visits_by_store(conn, today_start, today_start + 86_400)
    agents_by_store: dict[str, list[AgentOut]] = {}
    for agent in fleet_queries.fleet(conn, None, MAX_STORES_LISTED, 0, now, online_window_s).agents:
        agents_by_store.setdefault(agent.store_id, []).append(agent)
    behaviors = traffic_queries.behavior_columns()
    out = []
    for choice in store_choices(conn):
        row = current.get(choice.store_id)
        visits = as_int(row.visits) if row is not None else 0
        dwell = float(row.dwell_s or 0.0) if row is not None else 0.0
        mix = {label: as_int(row._mapping[col]) for label, col in behaviors.items()} if row is not None else {}
        classified = {k: v for k, v in mix.items() if k != "unclassified" and v}
        top = max(classified, key=lambda k: classified[k]) if classified else ""
        total = sum(classified.values())
        agents = agents_by_store.get(choice.store_id, [])
        last_seen = max((a.last_seen for a in agents), default=None)
        cameras = [c for a in agents for c in a.cameras]
        prev = previous.get(choice.store_id)
        tod = today.get(choice.store_id)
        out.append(
            ChainRow(
                store_id=choice.store_id,
                name=choice.name,
                visitors=visits,
                visitors_previous=as_int(prev.visits) if prev is not None else 0,
                visitors_today=as_int(tod.visits) if tod is not None else 0,
                mean_dwell_s=dwell / visits if visits else None,
                top_behavior=f"{top} {classified[top] / total:.0%}" if top else "",
                agent_status=("online" if any(a.online for a in agents) else "offline") if agents else "no agent",
                last_seen=f"{(now - last_seen) / 60:.0f} min ago" if last_seen is not None else "never",
                backlog=sum(a.outbox_backlog for a in agents),
                cameras_up=f"{sum(c.connected for c in cameras)} of {len(cameras)}",
                has_gaps=False,
            )
        )
    return out

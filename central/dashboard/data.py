"""What each dashboard view reads: the REST API's own query functions over the rollups, never raw scans.

Every function here takes a connection and returns plain values the views draw,
so the dashboard shows exactly the numbers the REST API gives for the same store
and range (the browser tests compare the two). The only read of raw summaries is
the store page's sample of recent trajectories: one page of the ``tracks``
query, newest first along its index, bounded by ``dashboard.max_trajectories``.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import Connection, func, select

from central.api.chain_models import ChainOverviewOut
from central.api.models import AgentOut, BehaviorOut, DwellBin, GroupBy, LinesOut, TrackOut, TrafficOut
from central.api.queries import chain as chain_queries
from central.api.queries import fleet as fleet_queries
from central.api.queries import heatmap as heatmap_queries
from central.api.queries import lines as line_queries
from central.api.queries import stores as store_queries
from central.api.queries import tracks as track_queries
from central.api.queries import traffic as traffic_queries
from central.api.queries.columns import as_int
from central.api.queries.series import SeriesRequest
from central.api.timerange import Bucket, TimeRange
from central.backgrounds import get_background
from central.config import GapConfig
from central.db.schema import DWELL_BINS_S, DWELL_COLUMNS, camera_backgrounds, stores, traffic_hourly

# a line whose id starts with one of these counts people through a store's door: occupancy is in minus out
DOOR_PREFIXES = ("door", "entrance", "entry")
MAX_STORES_LISTED = 5000


@dataclass(frozen=True)
class StoreChoice:
    store_id: str
    name: str
    timezone: str = "UTC"


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
    background: np.ndarray[Any, np.dtype[np.uint32]] | None = None


@dataclass(frozen=True)
class StoreData:
    """Everything the store page draws for one store and range."""

    store: StoreChoice
    timezone: str
    visits: int  # the store's visits over the range: one per track per camera, as ``GET /traffic`` counts them
    missing_hours: int  # hours of the range with a camera disconnected or unreported
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
    rows = conn.execute(select(s.store_id, s.name, s.timezone).order_by(s.store_id).limit(MAX_STORES_LISTED)).all()
    return [StoreChoice(r.store_id, r.name, r.timezone) for r in rows]


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


def store_ref(conn: Connection, store_id: str) -> store_queries.StoreRef | None:
    return store_queries.find_store(conn, store_id)


def store_data(
    conn: Connection,
    ref: store_queries.StoreRef,
    rng: TimeRange,
    bucket: Bucket,
    now: float,
    gaps: GapConfig,
    max_points: int,
) -> StoreData:
    """The store page's reads, in the store's local hours and days, with missing buckets marked."""
    store_id = ref.store_id
    layout = store_queries.get_store(conn, store_id, max_ids=max_points)
    cameras = [c.camera_id for c in layout.cameras]
    zones = [(c.camera_id, z) for c in layout.cameras for z in c.zones]
    by_day = SeriesRequest(ref, rng, Bucket.DAY, now, gaps)
    by_hour = SeriesRequest(ref, rng, Bucket.HOUR, now, gaps)
    total = traffic_queries.traffic(conn, by_hour, None, None, GroupBy.NONE, max_points)
    traffic = traffic_queries.traffic(
        conn, by_hour if bucket is Bucket.HOUR else by_day, None, None, GroupBy.ZONE, max_points
    )
    behavior = traffic_queries.behavior(conn, by_day, None, None)
    lines = line_queries.line_counts(conn, by_hour, None, None, max_points)
    doors = sorted({s.line_id for s in lines.lines if s.line_id.lower().startswith(DOOR_PREFIXES)})
    heatmaps = []
    for camera_id in cameras:
        grid = heatmap_queries.heatmap_grid(conn, store_id, camera_id, rng)
        picture = background_rgba(conn, store_id, camera_id)
        heatmaps.append(CameraHeatmap(camera_id, grid.cells if grid else None, grid.days if grid else 0, picture))
    return StoreData(
        store=StoreChoice(ref.store_id, ref.name, ref.timezone),
        timezone=ref.timezone,
        visits=total.visits,
        missing_hours=sum(p.missing for series in total.series for p in series.points),
        traffic=traffic,
        dwell=zone_dwell(conn, store_id, rng),
        behavior=behavior,
        lines=lines,
        door_lines=doors,
        heatmaps=heatmaps,
        zones=zones,
        cameras=cameras,
    )


BACKGROUND_WIDTH_PX = 480  # a camera's picture is drawn this wide under its heatmap
_decoded: OrderedDict[str, np.ndarray[Any, np.dtype[np.uint32]]] = OrderedDict()
_DECODED_MAX = 64  # pictures kept decoded in this process, by their SHA-256 (about 0.9 MB each)
_decoded_lock = threading.Lock()  # pages read in worker threads


def background_rgba(conn: Connection, store_id: str, camera_id: str) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
    """The camera's uploaded picture as packed RGBA rows (top row first), or None; decoded once per picture."""
    b = camera_backgrounds.c
    sha = conn.execute(select(b.sha256).where(b.store_id == store_id, b.camera_id == camera_id)).scalar()
    if sha is None:
        return None
    with _decoded_lock:
        if sha in _decoded:
            _decoded.move_to_end(sha)
            return _decoded[sha]
    picture = get_background(conn, store_id, camera_id)
    if picture is None:
        return None
    with Image.open(io.BytesIO(picture.image)) as im:
        height = max(1, round(im.height * BACKGROUND_WIDTH_PX / im.width))
        rgba = np.asarray(im.convert("RGBA").resize((BACKGROUND_WIDTH_PX, height)), dtype=np.uint8)
    packed = rgba.view(np.uint32).reshape(rgba.shape[:2]).copy()
    with _decoded_lock:
        _decoded[sha] = packed
        while len(_decoded) > _DECODED_MAX:
            _decoded.popitem(last=False)
    return packed


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


def chain_overview(
    conn: Connection, rng: TimeRange, now: float, online_window_s: float, gaps: GapConfig
) -> ChainOverviewOut:
    """Every store's row of the overview, as ``GET /overview`` gives it (the first ``MAX_STORES_LISTED``)."""
    return chain_queries.chain_overview(conn, rng, MAX_STORES_LISTED, 0, now, online_window_s, gaps)

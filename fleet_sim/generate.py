"""A simulated retail fleet: stores, opening hours, traffic curves and their shoppers' tracks.

Pure generation (numpy; no gRPC, no database), reproducible from one seed. The
kinematics come from the behaviour simulator: a small library of its labelled
tracks (``training.simulate``) is measured once with the edge agent's own path
statistics, and every visit reuses one of them, rotated and moved onto the floor
of the camera that sees it. Zone dwell, heatmap tiles and door counts are then
computed from the placed paths and the shoppers' arrivals, so that they agree
with the summaries the way an agent's would.

A day of a store: shoppers arrive between opening and five minutes before
closing at a rate with a lunch and an evening peak, stay about a quarter of an
hour (log-normal), and leave by closing time. The entrance camera sees each one
come in (one track) and counts them in and out at its ``door`` line; each other
camera sees a share of them (its ``reach``) at some moment of their stay.

Cameras report their uptime for every hour of the local day; on some days one camera
is dead for a few hours and sees nobody (:mod:`fleet_sim.outages`).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import numpy as np

from edge_agent.trajectory.kinematics import downsample_indices, path_stats
from fleet_sim.outages import Outage, camera_uptimes, outage_of
from fleet_sim.stores import (
    BEHAVIOR_MODEL,
    BUCKET_S,
    DETECTOR_MODEL,
    DOOR,
    GRID_COLS,
    GRID_ROWS,
    LAST_ENTRY_S,
    VISITORS_PER_DAY,
    WEEKDAY_FACTOR,
    SimCamera,
    SimStore,
    traffic_intensity,
)
from retail_common.summary import MAX_PATH_POINTS, CameraUptime, HeatmapTile, LineCount, TrackSummary
from retail_common.taxonomy import LABELS
from training.simulate import simulate


@dataclass(frozen=True)
class TrackLibrary:
    """Labelled tracks of the behaviour simulator, downsampled and measured once; visits reuse them.

    Paths are padded to ``max_points`` by repeating their last point (zero-length
    steps, which add nothing to dwell or heatmaps) so that a day's visits are
    placed with array operations.
    """

    labels: np.ndarray  # (n,) index into LABELS
    t: np.ndarray  # (n, P) seconds since the track's start
    xy: np.ndarray  # (n, P, 2) metres, centred on the path's bounding box
    length: np.ndarray  # (n,) real points of each path
    duration: np.ndarray  # (n,) seconds
    distance: np.ndarray
    mean_speed: np.ndarray
    max_speed: np.ndarray
    stops: np.ndarray
    by_label: tuple[np.ndarray, ...] = field(repr=False)  # indices of each label's tracks

    @classmethod
    def build(cls, seed: int, per_label: int = 24, max_points: int = MAX_PATH_POINTS) -> TrackLibrary:
        if not 2 <= max_points <= MAX_PATH_POINTS:
            raise ValueError(f"max_points {max_points} is not within 2-{MAX_PATH_POINTS}")
        rows: list[tuple[int, np.ndarray, np.ndarray, float, float, float, int]] = []
        for track in simulate(per_label, seed):
            t = track.points[:, 0] - track.points[0, 0]
            xy = track.points[:, 1:3]
            stats = path_stats(t, xy)
            keep = downsample_indices(t, max_points)
            path_xy = xy[keep]
            centre = (path_xy.min(axis=0) + path_xy.max(axis=0)) / 2
            rows.append(
                (
                    LABELS.index(track.label),
                    t[keep],
                    path_xy - centre,
                    stats.distance_m,
                    stats.mean_speed_mps,
                    stats.max_speed_mps,
                    stats.stop_count,
                )
            )
        n = len(rows)
        t_pad = np.zeros((n, max_points))
        xy_pad = np.zeros((n, max_points, 2))
        length = np.zeros(n, dtype=np.int64)
        for i, (_, t, xy, *_rest) in enumerate(rows):
            k = len(t)
            length[i] = k
            t_pad[i, :k], t_pad[i, k:] = t, t[-1]
            xy_pad[i, :k], xy_pad[i, k:] = xy, xy[-1]
        labels = np.asarray([r[0] for r in rows], dtype=np.int64)
        return cls(
            labels=labels,
            t=t_pad,
            xy=xy_pad,
            length=length,
            duration=t_pad[:, -1].copy(),
            distance=np.asarray([r[3] for r in rows]),
            mean_speed=np.asarray([r[4] for r in rows]),
            max_speed=np.asarray([r[5] for r in rows]),
            stops=np.asarray([r[6] for r in rows], dtype=np.int64),
            by_label=tuple(np.flatnonzero(labels == i) for i in range(len(LABELS))),
        )

    def pick(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each wanted label, the index of one of its tracks, at random."""
        out = np.empty(len(labels), dtype=np.int64)
        for i, members in enumerate(self.by_label):
            wanted = np.flatnonzero(labels == i)
            if len(wanted):
                out[wanted] = members[rng.integers(0, len(members), len(wanted))]
        return out


@dataclass(frozen=True)
class StoreDay:
    """Everything one store's agent reports about one local day."""

    store_id: str
    day: date
    opens: float
    closes: float
    summaries: tuple[TrackSummary, ...]  # by start time
    tiles: tuple[HeatmapTile, ...]
    counts: tuple[LineCount, ...]
    uptimes: tuple[CameraUptime, ...] = ()  # every camera, every hour of the local day
    outage: Outage | None = None

    @property
    def line_in(self) -> int:
        return sum(c.in_count for c in self.counts)

    @property
    def line_out(self) -> int:
        return sum(c.out_count for c in self.counts)


def day_rng(seed: int, store_id: str, day: date) -> np.random.Generator:
    """The random stream of one store's day: any day can be generated alone and comes out the same."""
    return np.random.default_rng([seed, zlib.crc32(store_id.encode()), day.toordinal()])


def shoppers(store: SimStore, day: date, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Arrival and leaving times (Unix seconds, sorted by arrival) of the day's shoppers."""
    opens, closes = store.opening(day)
    expected = VISITORS_PER_DAY * store.size * WEEKDAY_FACTOR[day.weekday()] * rng.lognormal(0.0, 0.08)
    n = int(rng.poisson(expected))
    minutes = np.arange(opens, closes - LAST_ENTRY_S, 60.0)
    weights = traffic_intensity(store.local_hour(minutes + 30.0))
    arrivals = rng.choice(minutes, size=n, p=weights / weights.sum()) + rng.uniform(0.0, 60.0, n)
    arrivals = np.sort(np.minimum(np.round(arrivals, 3), closes - LAST_ENTRY_S))
    stays = np.clip(rng.lognormal(np.log(14 * 60.0), 0.55, n), 180.0, 4500.0)
    leaves = np.round(np.minimum(arrivals + stays, closes - 1.0), 3)
    return arrivals, leaves


def _uuid4s(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]


def _probabilities(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A classifier's output: the label at 0.5-0.97, the rest spread over the others; rows sum to 1."""
    n, k = len(labels), len(LABELS)
    top = rng.uniform(0.5, 0.97, n)
    rest = rng.dirichlet(np.ones(k - 1), n) * (1.0 - top)[:, None] if n else np.zeros((0, k - 1))
    out = np.zeros((n, k))
    others = np.ones((n, k), dtype=bool)
    others[np.arange(n), labels] = False
    out[others] = np.round(rest, 4).ravel()
    out[np.arange(n), labels] = 1.0 - out.sum(axis=1)
    return out


@dataclass(frozen=True)
class _Placed:
    """One camera's visits of a day, placed on its floor: arrays over visits."""

    start: np.ndarray  # (m,) Unix seconds
    lib: np.ndarray  # (m,) library index
    labels: np.ndarray  # (m,)
    t: np.ndarray  # (m, P)
    xy: np.ndarray  # (m, P, 2) floor metres, rounded to millimetres
    seconds: np.ndarray  # (m, Z) dwell per zone
    visits: np.ndarray  # (m, Z)
    first: np.ndarray  # (m, Z) step index of the first entry (P where never)


def _place(
    cam: SimCamera,
    start: np.ndarray,
    labels: np.ndarray,
    lib: np.ndarray,
    library: TrackLibrary,
    rng: np.random.Generator,
) -> _Placed:
    m = len(start)
    angle = rng.uniform(0.0, 2 * np.pi, m)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    base = library.xy[lib]
    xy = np.stack([base[..., 0] * cos - base[..., 1] * sin, base[..., 0] * sin + base[..., 1] * cos], axis=-1)
    lo, hi = -xy.min(axis=1), np.asarray([cam.width_m, cam.depth_m]) - xy.max(axis=1)
    # anywhere the whole path fits on the camera's floor; centred where it is larger than the floor
    offset = np.where(hi >= lo, lo + rng.random((m, 2)) * (hi - lo), (lo + hi) / 2)
    xy = np.round(xy + offset[:, None, :], 3)
    t = library.t[lib]
    dt = np.diff(t, axis=1)  # (m, P-1): each step's time counts where it starts
    steps = xy[:, :-1, :]
    if cam.zones:
        inside = np.stack([z.contains(steps) for z in cam.zones], axis=-1) & (dt > 0)[..., None]
    else:
        inside = np.zeros((*dt.shape, 0), dtype=bool)
    seconds = (inside * dt[..., None]).sum(axis=1)
    before = np.concatenate([np.zeros_like(inside[:, :1]), inside[:, :-1]], axis=1)
    visits = (inside & ~before).sum(axis=1)
    first = np.where(inside.any(axis=1), inside.argmax(axis=1), t.shape[1])
    return _Placed(start, lib, labels, t, xy, seconds, visits, first)


def _heat(
    placed: _Placed, cam: SimCamera, first_bucket: float, n_buckets: int
) -> np.ndarray:  # (n_buckets, rows * cols) person-seconds
    dt = np.diff(placed.t, axis=1)
    steps = placed.xy[:, :-1, :]
    col = np.clip((steps[..., 0] / cam.width_m * GRID_COLS).astype(np.int64), 0, GRID_COLS - 1)
    row = np.clip((steps[..., 1] / cam.depth_m * GRID_ROWS).astype(np.int64), 0, GRID_ROWS - 1)
    when = placed.start[:, None] + placed.t[:, :-1]
    bucket = np.clip(((when - first_bucket) // BUCKET_S).astype(np.int64), 0, n_buckets - 1)
    cells = GRID_ROWS * GRID_COLS
    flat = (bucket * GRID_ROWS + row) * GRID_COLS + col
    heat = np.bincount(flat.ravel(), weights=dt.ravel(), minlength=n_buckets * cells)
    return heat.reshape(n_buckets, cells)


def _summaries(
    store: SimStore, cam: SimCamera, placed: _Placed, library: TrackLibrary, rng: np.random.Generator
) -> list[TrackSummary]:
    m = len(placed.start)
    ids = _uuid4s(rng, m)
    probs = _probabilities(placed.labels, rng).tolist()
    lib = placed.lib
    start = placed.start.tolist()
    end = np.round(placed.start + library.duration[lib], 3).tolist()
    length = library.length[lib].tolist()
    path = np.concatenate([np.round(placed.t, 3)[..., None], placed.xy], axis=-1).tolist()
    distance = np.round(library.distance[lib], 3).tolist()
    mean_speed = np.round(library.mean_speed[lib], 3).tolist()
    max_speed = np.round(library.max_speed[lib], 3).tolist()
    stops = library.stops[lib].tolist()
    labels = placed.labels.tolist()
    seconds = np.round(placed.seconds, 3).tolist()
    visits = placed.visits.tolist()
    # zones in the order they were first entered, only those the visit spent time in
    order = np.argsort(placed.first, axis=1, kind="stable").tolist()
    zone_ids = cam.zone_ids
    out = []
    for k in range(m):
        entered = [z for z in order[k] if seconds[k][z] > 0]
        out.append(
            TrackSummary(
                track_id=ids[k],
                store_id=store.store_id,
                camera_id=cam.camera_id,
                start_time=start[k],
                end_time=end[k],
                path=tuple(map(tuple, path[k][: length[k]])),
                distance_m=distance[k],
                mean_speed_mps=mean_speed[k],
                max_speed_mps=max_speed[k],
                stop_count=stops[k],
                zone_dwell={zone_ids[z]: seconds[k][z] for z in entered},
                zone_visits={zone_ids[z]: visits[k][z] for z in entered},
                zone_order=tuple(zone_ids[z] for z in entered),
                detector_model=DETECTOR_MODEL,
                behavior=LABELS[labels[k]],
                behavior_probabilities=dict(zip(LABELS, probs[k], strict=True)),
                behavior_model=BEHAVIOR_MODEL,
            )
        )
    return out


@dataclass(frozen=True)
class CameraVisits:
    """One camera's visits of a day, before their paths are placed: arrays over visits."""

    camera: SimCamera
    start: np.ndarray  # Unix seconds
    labels: np.ndarray  # index into LABELS
    lib: np.ndarray  # the library track each visit reuses


@dataclass(frozen=True)
class DayPlan:
    """Who comes when and which camera sees them, for one store's local day."""

    store: SimStore
    day: date
    opens: float
    closes: float
    arrivals: np.ndarray  # shoppers, sorted by arrival
    leaves: np.ndarray
    visits: tuple[CameraVisits, ...]  # one per camera, the entrance first

    @property
    def buckets(self) -> np.ndarray:
        """Starts of the quarter hours from opening to closing: the agent's tiles and counts."""
        first = np.floor(self.opens / BUCKET_S) * BUCKET_S
        return np.asarray(first + BUCKET_S * np.arange(int(np.ceil((self.closes - first) / BUCKET_S))))


def plan_day(store: SimStore, day: date, library: TrackLibrary, rng: np.random.Generator) -> DayPlan:
    opens, closes = store.opening(day)
    arrivals, leaves = shoppers(store, day, rng)
    mix = np.asarray(store.behavior_mix)
    visits = []
    for c, cam in enumerate(store.cameras):
        seen = np.ones(len(arrivals), dtype=bool) if c == 0 else rng.random(len(arrivals)) < cam.reach
        m = int(seen.sum())
        labels = rng.choice(len(LABELS), size=m, p=mix / mix.sum())
        lib = library.pick(labels, rng)
        duration = library.duration[lib]
        came, left = arrivals[seen], leaves[seen]
        # in view of the entrance on arrival; of another camera at some moment of the stay
        if c == 0:
            start = came + rng.uniform(0.0, 3.0, m)
        else:
            start = came + 20.0 + rng.random(m) * np.maximum(left - came - 20.0 - duration, 0.0)
        start = np.round(np.minimum(start, closes - duration - 1.0), 3)  # nobody is in view after closing
        visits.append(CameraVisits(cam, start, labels, lib))
    return DayPlan(store, day, opens, closes, arrivals, leaves, tuple(visits))


def door_counts(plan: DayPlan) -> tuple[LineCount, ...]:
    """In and out at the entrance's door line per quarter hour, zeros included (the agent was running)."""
    buckets = plan.buckets
    ins = np.bincount(((plan.arrivals - buckets[0]) // BUCKET_S).astype(np.int64), minlength=len(buckets))
    outs = np.bincount(((plan.leaves - buckets[0]) // BUCKET_S).astype(np.int64), minlength=len(buckets))
    cam = plan.store.entrance.camera_id
    return tuple(
        LineCount(plan.store.store_id, cam, DOOR, float(b), BUCKET_S, int(i), int(o))
        for b, i, o in zip(buckets, ins[: len(buckets)], outs[: len(buckets)], strict=True)
    )


def generate_day(store: SimStore, day: date, library: TrackLibrary, seed: int) -> StoreDay:
    """One store's summaries, heatmap tiles and door counts for local ``day``."""
    rng = day_rng(seed, store.store_id, day)
    plan = plan_day(store, day, library, rng)
    outage = outage_of(store, day, seed)
    buckets = plan.buckets
    summaries: list[TrackSummary] = []
    tiles: list[HeatmapTile] = []
    for visits in plan.visits:
        cam = visits.camera
        if outage is not None and outage.camera_id == cam.camera_id:  # a dead camera sees nobody
            end = visits.start + library.duration[visits.lib]
            seen = (end <= outage.start) | (visits.start >= outage.end)
            visits = CameraVisits(cam, visits.start[seen], visits.labels[seen], visits.lib[seen])  # noqa: PLW2901
        placed = _place(cam, visits.start, visits.labels, visits.lib, library, rng)
        summaries.extend(_summaries(store, cam, placed, library, rng))
        heat = _heat(placed, cam, float(buckets[0]), len(buckets))
        tiles.extend(
            HeatmapTile(store.store_id, cam.camera_id, float(b), BUCKET_S, GRID_ROWS, GRID_COLS, tuple(grid.tolist()))
            for b, grid in zip(buckets, np.round(heat, 3), strict=True)
            if outage is None or outage.camera_id != cam.camera_id or not outage.start <= b < outage.end
        )
    summaries.sort(key=lambda s: (s.start_time, s.camera_id))
    uptimes = camera_uptimes(store, day, outage)
    days = (tuple(summaries), tuple(tiles), door_counts(plan), uptimes, outage)
    return StoreDay(store.store_id, day, plan.opens, plan.closes, *days)


def simulated_days(days: int, end: date | None = None) -> list[date]:
    """The ``days`` local days before ``end`` (default: today, UTC), oldest first: all of them are over."""
    if days < 1:
        raise ValueError(f"days {days} is not at least 1")
    last = (end or datetime.now(timezone.utc).date()) - timedelta(days=1)
    return [last - timedelta(days=d) for d in range(days - 1, -1, -1)]


def generate(stores: Sequence[SimStore], days: Sequence[date], library: TrackLibrary, seed: int) -> Iterator[StoreDay]:
    """Every store's every day, day by day."""
    for day in days:
        for store in stores:
            yield generate_day(store, day, library, seed)

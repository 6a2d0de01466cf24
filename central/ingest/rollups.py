"""How newly stored items change the rollup tables: pure sums, keyed by rollup row.

Each summary adds one visit to its camera's row (zone "") for the hour its track
started, with its dwell, dwell bin and behaviour; and for each zone it dwelt in,
that zone's visits and seconds to the zone's row of the same hour. Line counts
add to their hour; heatmap tiles add to their UTC day; a camera's uptime adds to its
hour (a bucket stored again with another value adds the difference).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from central.db.schema import BEHAVIOR_COLUMNS, DWELL_BINS_S, DWELL_COLUMNS, UNCLASSIFIED_COLUMN
from central.ingest.items import LineCountIn, SummaryColumns, TileIn, UptimeIn
from central.timebuckets import HOUR, day_of, hour_of

TRAFFIC_COUNTERS = ("visits", "dwell_s", *DWELL_COLUMNS, *BEHAVIOR_COLUMNS.values(), UNCLASSIFIED_COLUMN)

TrafficKey = tuple[str, str, str, int]  # store, camera, zone ("" = camera), hour
LineKey = tuple[str, str, str, int]  # store, camera, line, hour
DayKey = tuple[str, str, int]  # store, camera, day
UptimeKey = tuple[str, str, int]  # store, camera, hour


@dataclass
class Visits:
    """What the traffic rollup reads of newly stored summaries: entry ``i`` of each field is summary ``i``."""

    store_id: Sequence[str]
    camera_id: Sequence[str]
    start_ts: np.ndarray
    dwell_s: np.ndarray
    behavior: Sequence[str | None]
    zone_dwell: Sequence[Sequence[tuple[str, float, int]]]


def visits(columns: SummaryColumns, index: Sequence[int]) -> Visits:
    """The summaries at ``index`` of a push, as the traffic rollup reads them."""
    at = np.asarray(index, dtype=np.int64)
    return Visits(
        store_id=[columns.store_id[i] for i in index],
        camera_id=[columns.camera_id[i] for i in index],
        start_ts=columns.start_ts[at],
        dwell_s=columns.dwell_s[at],
        behavior=[columns.behavior[i] for i in index],
        zone_dwell=[columns.zone_dwell[i] for i in index],
    )


_DWELL_AT = TRAFFIC_COUNTERS.index(DWELL_COLUMNS[0])
_BEHAVIOR_AT = {label: TRAFFIC_COUNTERS.index(column) for label, column in BEHAVIOR_COLUMNS.items()}
_UNCLASSIFIED_AT = TRAFFIC_COUNTERS.index(UNCLASSIFIED_COLUMN)


def traffic_deltas(visits: Visits) -> dict[TrafficKey, dict[str, float]]:
    """Per rollup row, what the summaries add to each of :data:`TRAFFIC_COUNTERS`.

    One entry per summary (its camera's row, zone "") and one per zone it dwelt in (that zone's row), all
    summed by ``bincount`` over the entries' rows: entry by entry in the summaries' order, as a loop would.
    """
    n = len(visits.start_ts)
    if n == 0:
        return {}
    lengths = [len(z) for z in visits.zone_dwell]
    owner = np.repeat(np.arange(n), lengths)
    flat = [entry for zones in visits.zone_dwell for entry in zones]
    places: dict[tuple[str, str], int] = {}
    place = np.array(
        [places.setdefault(k, len(places)) for k in zip(visits.store_id, visits.camera_id, strict=True)],
        dtype=np.int64,
    ).reshape(n)
    zone_names: dict[str, int] = {"": 0}
    zone = np.array([zone_names.setdefault(z, len(zone_names)) for z, _, _ in flat], dtype=np.int64)
    hour = np.floor_divide(visits.start_ts, HOUR).astype(np.int64)  # hours since the epoch
    behavior = np.array(
        [_BEHAVIOR_AT.get(b, _UNCLASSIFIED_AT) if b else _UNCLASSIFIED_AT for b in visits.behavior], dtype=np.int64
    ).reshape(n)
    seconds = np.concatenate([visits.dwell_s, np.array([s for _, s, _ in flat], dtype=np.float64)])
    entry_visits = np.concatenate([np.ones(n, dtype=np.int64), np.array([v for _, _, v in flat], dtype=np.int64)])
    # one int64 per entry naming its rollup row: place, zone and hour (from the batch's first) in mixed radix
    hours = np.concatenate([hour, hour[owner]])
    first = int(hours.min())
    span = int(hours.max()) - first + 1
    keys = np.concatenate([place, place[owner]]) * len(zone_names) + np.concatenate([np.zeros(n, np.int64), zone])
    unique, row_of = np.unique(keys * span + (hours - first), return_inverse=True)
    rows = [(*divmod(k // span, len(zone_names)), (k % span + first) * HOUR) for k in unique.tolist()]
    width = len(TRAFFIC_COUNTERS)
    counts = np.zeros(len(rows) * width, dtype=np.int64)
    counts += np.bincount(
        row_of * width + _DWELL_AT + np.searchsorted(DWELL_BINS_S, seconds, side="right"), minlength=len(counts)
    )
    counts += np.bincount(row_of * width + np.concatenate([behavior, behavior[owner]]), minlength=len(counts))
    table = counts.reshape(len(rows), width).tolist()
    visit_sums = np.bincount(row_of, weights=entry_visits, minlength=len(rows)).astype(np.int64).tolist()
    dwell_sums = np.bincount(row_of, weights=seconds, minlength=len(rows)).tolist()
    place_names = list(places)
    zone_list = list(zone_names)
    out: dict[TrafficKey, dict[str, float]] = {}
    for (p, z, h), sums, total_visits, total_dwell in zip(rows, table, visit_sums, dwell_sums, strict=True):
        store, camera = place_names[p]
        counters: dict[str, float] = dict(zip(TRAFFIC_COUNTERS, sums, strict=True))
        counters["visits"], counters["dwell_s"] = total_visits, total_dwell
        out[(store, camera, zone_list[z], h)] = counters
    return out


def add_deltas(total: dict[TrafficKey, dict[str, float]], deltas: dict[TrafficKey, dict[str, float]]) -> None:
    """Add one push's :func:`traffic_deltas` to those of others."""
    for key, sums in deltas.items():
        into = total.get(key)
        if into is None:
            total[key] = dict(sums)
        else:
            for counter, value in sums.items():
                into[counter] += value


def line_deltas(counts: Iterable[LineCountIn]) -> dict[LineKey, dict[str, int]]:
    out: dict[LineKey, dict[str, int]] = defaultdict(lambda: {"in_count": 0, "out_count": 0})
    for item in counts:
        row = item.row
        sums = out[(row["store_id"], row["camera_id"], row["line_id"], hour_of(row["bucket_start"]))]
        sums["in_count"] += row["in_count"]
        sums["out_count"] += row["out_count"]
    return dict(out)


def heatmap_deltas(tiles: Iterable[TileIn]) -> dict[DayKey, np.ndarray]:
    """Per camera and day, the sum of the new tiles' (rows, cols) float32 grids."""
    out: dict[DayKey, np.ndarray] = {}
    for item in tiles:
        row = item.row
        grid = np.frombuffer(row["cells"], dtype=np.float32).reshape(row["rows"], row["cols"])
        key = (row["store_id"], row["camera_id"], day_of(row["bucket_start"]))
        out[key] = out[key] + grid if key in out else grid.copy()
    return out


def uptime_deltas(changes: Iterable[tuple[UptimeIn, float]]) -> dict[UptimeKey, dict[str, float]]:
    """Per camera and hour, how much its stored uptime changes: each ``(bucket, seconds)`` adds its seconds
    (a new bucket's uptime, or what a bucket sent again changed by)."""
    out: dict[UptimeKey, dict[str, float]] = defaultdict(lambda: {"seconds_up": 0.0})
    for item, seconds in changes:
        row = item.row
        out[(row["store_id"], row["camera_id"], hour_of(row["bucket_start"]))]["seconds_up"] += seconds
    return dict(out)

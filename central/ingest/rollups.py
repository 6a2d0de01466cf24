"""How newly stored items change the rollup tables: pure sums, keyed by rollup row.

Each summary adds one visit to its camera's row (zone "") for the hour its track
started, with its dwell, dwell bin and behaviour; and for each zone it dwelt in,
that zone's visits and seconds to the zone's row of the same hour. Line counts
add to their hour; heatmap tiles add to their UTC day.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from central.api.timerange import DAY, HOUR
from central.db.schema import BEHAVIOR_COLUMNS, DWELL_BINS_S, DWELL_COLUMNS, UNCLASSIFIED_COLUMN
from central.ingest.items import LineCountIn, SummaryIn, TileIn

TRAFFIC_COUNTERS = ("visits", "dwell_s", *DWELL_COLUMNS, *BEHAVIOR_COLUMNS.values(), UNCLASSIFIED_COLUMN)

TrafficKey = tuple[str, str, str, int]  # store, camera, zone ("" = camera), hour
LineKey = tuple[str, str, str, int]  # store, camera, line, hour
DayKey = tuple[str, str, int]  # store, camera, day


def hour_of(ts: float) -> int:
    return int(ts // HOUR) * HOUR


def day_of(ts: float) -> int:
    return int(ts // DAY) * DAY


def dwell_column(seconds: float) -> str:
    return DWELL_COLUMNS[bisect.bisect_right(DWELL_BINS_S, seconds)]


def traffic_deltas(summaries: Iterable[SummaryIn]) -> dict[TrafficKey, dict[str, float]]:
    out: dict[TrafficKey, dict[str, float]] = {}
    for item in summaries:
        row = item.row
        store, camera = row["store_id"], row["camera_id"]
        hour = hour_of(row["start_ts"])
        label = row["behavior"]
        behavior = BEHAVIOR_COLUMNS.get(label, UNCLASSIFIED_COLUMN) if label else UNCLASSIFIED_COLUMN
        dwell = row["dwell_s"]
        cam = out.get((store, camera, "", hour))
        if cam is None:
            cam = out[(store, camera, "", hour)] = dict.fromkeys(TRAFFIC_COUNTERS, 0)
        cam["visits"] += 1
        cam["dwell_s"] += dwell
        cam[dwell_column(dwell)] += 1
        cam[behavior] += 1
        for zone_id, seconds, visits in item.zone_dwell:
            zone = out.get((store, camera, zone_id, hour))
            if zone is None:
                zone = out[(store, camera, zone_id, hour)] = dict.fromkeys(TRAFFIC_COUNTERS, 0)
            zone["visits"] += visits
            zone["dwell_s"] += seconds
            zone[dwell_column(seconds)] += 1
            zone[behavior] += 1
    return out


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

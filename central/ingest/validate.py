"""Per-item checks of pushed data: each bad item gets the reason it was refused; good items go on.

Pure functions over ingest rows (no database, no protobuf): the writer passes in
what the database knows (a camera's declared zones and lines, a day's grid shape).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from central.config import IngestLimits
from central.ingest.items import LineCountIn, SummaryColumns, SummaryIn, TileIn, UptimeIn
from central.timebuckets import HOUR
from retail_common.fields import SUMMARY_FIELDS, Kind, text_problem
from retail_common.ids import id_problem, is_id, is_track_id
from retail_common.summary import MAX_PATH_POINTS
from retail_common.taxonomy import LABELS

EARLIEST_TS = 946_684_800.0  # 2000-01-01: nothing this product recorded is older
_LABELS = frozenset(LABELS)
_MAX_COORD_M = 10_000.0
_MAX_STOPS = 100_000
_MAX_PERSONS_PER_CELL = 1_000
# free-text fields (model names) with the longest value their columns hold
_TEXTS = tuple((f.name, f.max_length or 0) for f in SUMMARY_FIELDS if f.kind is Kind.TEXT)
_MAX_VISITS = next(f.maximum or 0 for f in SUMMARY_FIELDS if f.name == "zone_visits")
# a visit is an entry and an exit, each seen in a frame of its own: at 30 fps at most 15 a second
_VISITS_PER_S = 15
_UPTIME_SLACK_S = 0.01  # seconds_up is a float32 on the wire


def _most_visits(duration: np.ndarray | float) -> np.ndarray:
    """The most zone visits a track of ``duration`` seconds can make, within the column's bound."""
    most: np.ndarray = np.minimum(1 + _VISITS_PER_S * np.maximum(duration, 0.0), _MAX_VISITS)
    return most


@dataclass(frozen=True)
class Layout:
    """The zones and lines an agent declared for one camera (heartbeat); None fields: not declared."""

    zones: frozenset[str] | None = None
    lines: frozenset[str] | None = None


def _time_problem(what: str, ts: float, now: float, limits: IngestLimits) -> str | None:
    if math.isnan(ts):
        return f"{what} is missing"
    if ts < EARLIEST_TS:
        return f"{what} {ts:.0f} is before 2000-01-01"
    if ts > now + limits.max_future_s:
        return f"{what} is {ts - now:.0f} s in the future (at most {limits.max_future_s:.0f} s allowed)"
    return None


def _number_problem(what: str, value: float, upper: float) -> str | None:
    if not math.isfinite(value):
        return f"{what} is not a finite number"
    if value < 0:
        return f"{what} {value} is negative"
    if value > upper:
        return f"{what} {value:g} is implausible (more than {upper:g})"
    return None


def check_summaries(
    columns: SummaryColumns, store_id: str, now: float, limits: IngestLimits, layouts: Mapping[str, Layout]
) -> list[str | None]:
    """:func:`check_summary` of each summary, which only the summaries :func:`summaries_sound` doubts go through."""
    paths = paths_sound(columns)
    sound = summaries_sound(columns, store_id, now, limits, layouts, paths)
    return [
        None if ok else check_summary(columns.item(i), store_id, now, limits, layouts, path_sound=bool(paths[i]))
        for i, ok in enumerate(sound.tolist())
    ]


def _owners(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """For a list of lists flattened, the index of the list each entry came from."""
    return np.repeat(np.arange(len(lengths)), lengths)


def summaries_sound(
    columns: SummaryColumns,
    store_id: str,
    now: float,
    limits: IngestLimits,
    layouts: Mapping[str, Layout],
    paths: np.ndarray,
) -> np.ndarray:
    """For each summary, True when :func:`check_summary` certainly finds nothing; False: let it say what.

    Each rule runs over the whole batch at once: the numbers as arrays (NaN fails every comparison, so a
    missing time or a non-finite number is doubted too), each distinct id once, and the zones and
    probabilities of all summaries as flat lists. No message is written.
    """
    c = columns
    start, end, mean, top = c.start_ts, c.end_ts, c.mean_speed_mps, c.max_speed_mps
    duration = end - start
    latest = now + limits.max_future_s
    with np.errstate(invalid="ignore"):
        ok = (start >= EARLIEST_TS) & (start <= latest) & (end >= EARLIEST_TS) & (end <= latest)
        ok &= (duration >= 0) & (duration <= limits.max_track_s)
        ok &= (c.distance_m >= 0) & (c.distance_m <= limits.max_distance_m)
        ok &= (c.stop_count >= 0) & (c.stop_count <= _MAX_STOPS)
        ok &= (mean >= 0) & (mean <= limits.max_speed_mps) & (top >= 0) & (top <= limits.max_speed_mps)
        ok &= mean <= top + 1e-3
    ok &= paths
    ok &= np.array([s == store_id for s in c.store_id], dtype=bool)
    ok &= np.array([is_track_id(t) for t in c.track_id], dtype=bool)
    ok &= _ids_sound(c.camera_id)
    for name, longest in _TEXTS:
        ok &= _texts_sound(getattr(c, name), longest)
    ok &= _zones_sound(c, duration, layouts)
    ok &= _behaviors_sound(c)
    return ok


def _ids_sound(values: Sequence[str]) -> np.ndarray:
    good = {v: is_id(v) for v in set(values)}
    return np.array([good[v] for v in values], dtype=bool)


def _texts_sound(values: Sequence[str], longest: int) -> np.ndarray:
    good = {v: text_problem("", v, longest) is None for v in set(values)}
    return np.array([good[v] for v in values], dtype=bool)


def _zones_sound(c: SummaryColumns, duration: np.ndarray, layouts: Mapping[str, Layout]) -> np.ndarray:
    """Zone dwell entries with a valid id, seconds within the track (+1 s) and a visit, in a zone the camera
    declared (if it declared any); zone_order naming only zones dwelt in."""
    n = len(c)
    lengths = [len(z) for z in c.zone_dwell]
    if not any(lengths) and not any(c.zone_order):
        return np.ones(n, dtype=bool)
    owner = _owners(lengths)
    flat = [entry for zones in c.zone_dwell for entry in zones]
    zone_ids = [z for z, _, _ in flat]
    seconds = np.array([s for _, s, _ in flat], dtype=np.float64)
    visits = np.array([v for _, _, v in flat], dtype=np.int64)
    cameras = [c.camera_id[o] for o in owner.tolist()]
    known = {}
    for camera, zone in set(zip(cameras, zone_ids, strict=True)):
        layout = layouts.get(camera)
        declared = layout.zones if layout is not None else None
        known[(camera, zone)] = (declared is None or zone in declared) and is_id(zone)
    with np.errstate(invalid="ignore"):
        entry_ok = (seconds >= 0.0) & (seconds <= duration[owner] + 1.0) & (visits >= 1)
        entry_ok &= visits <= _most_visits(duration[owner])
    entry_ok &= np.array([known[k] for k in zip(cameras, zone_ids, strict=True)], dtype=bool)
    ok: np.ndarray = np.bincount(owner[~entry_ok], minlength=n) == 0
    dwelt = set(zip(owner.tolist(), zone_ids, strict=True))
    for i, order in enumerate(c.zone_order):
        if order and not all((i, z) in dwelt for z in order):
            ok[i] = False
    return ok


def _behaviors_sound(c: SummaryColumns) -> np.ndarray:
    """A known label or none; probabilities only beside a label, over known labels, each within 0-1,
    summing to 1 within 0.01."""
    n = len(c)
    labelled = np.array([b is not None for b in c.behavior], dtype=bool)
    ok = np.array([b is None or b in _LABELS for b in c.behavior], dtype=bool)
    lengths = np.array([len(p) for p in c.probabilities], dtype=np.int64)
    if not lengths.any():
        return ok
    owner = _owners(lengths)
    values = np.array([v for p in c.probabilities for v in p.values()], dtype=np.float64)
    names = [k for p in c.probabilities for k in p]
    unknown = np.array([k not in _LABELS for k in names], dtype=bool)
    with np.errstate(invalid="ignore"):
        bad = unknown | ~((values >= 0.0) & (values <= 1.0))  # NaN fails both
        total = np.bincount(owner, weights=values, minlength=n)
        ok &= (lengths == 0) | (np.abs(total - 1.0) <= 0.01)
    ok &= np.bincount(owner[bad], minlength=n) == 0
    ok &= (lengths == 0) | labelled
    return ok


def check_summary(
    item: SummaryIn,
    store_id: str,
    now: float,
    limits: IngestLimits,
    layouts: Mapping[str, Layout],
    path_sound: bool = False,
) -> str | None:
    """None when the summary can be stored, else the reason it cannot.

    ``path_sound``: :func:`paths_sound` found nothing wrong with the path, which is then not checked again.
    """
    row = item.row
    if not is_track_id(row["track_id"]):
        try:
            parsed = uuid.UUID(row["track_id"])
        except ValueError:
            return f"track_id {row['track_id']!r} is not a UUID"
        if parsed.version != 4 or str(parsed) != row["track_id"]:
            return f"track_id {row['track_id']!r} is not a random UUID4 in canonical form"
    if row["store_id"] != store_id:
        return f"store_id {row['store_id']!r} differs from the batch's {store_id!r}"
    problem = id_problem("camera_id", row["camera_id"]) or _time_problem("start_time", row["start_ts"], now, limits)
    problem = problem or _time_problem("end_time", row["end_ts"], now, limits)
    if problem:
        return problem
    duration = row["dwell_s"]
    if duration < 0:
        return f"end_time is {-duration:.3f} s before start_time"
    if duration > limits.max_track_s:
        return f"track lasts {duration:.0f} s (at most {limits.max_track_s:.0f} s)"
    problem = (
        _number_problem("distance_m", row["distance_m"], limits.max_distance_m)
        or _number_problem("mean_speed_mps", row["mean_speed_mps"], limits.max_speed_mps)
        or _number_problem("max_speed_mps", row["max_speed_mps"], limits.max_speed_mps)
        or _number_problem("stop_count", row["stop_count"], _MAX_STOPS)
    )
    if problem:
        return problem
    for name, longest in _TEXTS:
        problem = text_problem(name, row[name], longest)
        if problem:
            return problem
    if row["mean_speed_mps"] > row["max_speed_mps"] + 1e-3:
        return f"mean_speed_mps {row['mean_speed_mps']:g} exceeds max_speed_mps {row['max_speed_mps']:g}"
    return (
        (None if path_sound else _path_problem(item, duration))
        or _zone_problem(item, duration, layouts.get(row["camera_id"]))
        or _behavior_problem(row["behavior"], item.probabilities)
    )


def paths_sound(columns: SummaryColumns) -> np.ndarray:
    """For each summary, True when :func:`_path_problem` certainly finds nothing; False: let it say what.

    The same rules over all the batch's points at once (the per-point loop costs
    more than the rest of a summary's checks together).
    """
    lengths = columns.path_counts
    n = len(lengths)
    points = columns.points
    owner = _owners(lengths)
    duration = columns.dwell_s
    t, x, y = points[:, 0], points[:, 1], points[:, 2]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(points).all(axis=1) & (t >= 0) & (t <= duration[owner] + 1.0)
        ok &= (np.abs(x) <= _MAX_COORD_M) & (np.abs(y) <= _MAX_COORD_M)
        rising = np.ones(len(t), dtype=bool)
        rising[1:] = t[1:] >= t[:-1]
        rising[(np.cumsum(lengths) - lengths)[lengths > 0]] = True  # each path's first point has no predecessor
        ok &= rising
    broken = np.bincount(owner[~ok], minlength=n) > 0
    sound: np.ndarray = (lengths <= MAX_PATH_POINTS) & ~broken
    return sound


def _path_problem(item: SummaryIn, duration: float) -> str | None:
    if len(item.path) > MAX_PATH_POINTS:
        return f"path has {len(item.path)} points (at most {MAX_PATH_POINTS})"
    last = -math.inf
    for i, (t, x, y) in enumerate(item.path):
        if not (math.isfinite(t) and math.isfinite(x) and math.isfinite(y)):
            return f"path point {i} is not finite"
        if t < last or t < 0 or t > duration + 1.0:
            return f"path point {i} has t={t:g}, outside the track's 0-{duration:.1f} s or not increasing"
        if abs(x) > _MAX_COORD_M or abs(y) > _MAX_COORD_M:
            return f"path point {i} lies {max(abs(x), abs(y)):.0f} m from the origin"
        last = t
    return None


def _zone_problem(item: SummaryIn, duration: float, layout: Layout | None) -> str | None:
    known = layout.zones if layout is not None else None
    for zone_id, seconds, visits in item.zone_dwell:
        problem = id_problem("zone_id", zone_id) or _number_problem(f"zone {zone_id} seconds", seconds, duration + 1.0)
        if problem:
            return problem
        most = int(_most_visits(duration))
        if not 1 <= visits <= most:
            return f"zone {zone_id} has {visits} visits (1 to {most} in a {duration:.0f} s track)"
        if known is not None and zone_id not in known:
            return (
                f"unknown zone {zone_id!r} for camera {item.row['camera_id']!r} (declared: {', '.join(sorted(known))})"
            )
    dwelt = {z for z, _, _ in item.zone_dwell}
    for zone_id in item.zone_order:
        if zone_id not in dwelt:
            return f"zone_order names {zone_id!r}, which has no zone_dwell entry"
    return None


def _behavior_problem(behavior: str | None, probabilities: Mapping[str, float]) -> str | None:
    if behavior is not None and behavior not in _LABELS:
        return f"unknown behaviour {behavior!r} (known: {', '.join(LABELS)})"
    if not probabilities:
        return None
    unknown = sorted(set(probabilities) - _LABELS)
    if unknown:
        return f"behavior_probabilities has unknown label(s) {', '.join(unknown)}"
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities.values()):
        return "behavior_probabilities must lie between 0 and 1"
    total = sum(probabilities.values())
    if abs(total - 1.0) > 0.01:
        return f"behavior_probabilities sum to {total:.3f}, not 1"
    if behavior is None:
        return "behavior_probabilities given without a behavior"
    return None


def _bucket_problem(row: Mapping[str, float], now: float, limits: IngestLimits) -> str | None:
    problem = id_problem("camera_id", str(row["camera_id"])) or _time_problem(
        "bucket_start", row["bucket_start"], now, limits
    )
    if problem:
        return problem
    if not 0 < row["bucket_seconds"] <= 86_400:
        return f"bucket_seconds {row['bucket_seconds']} is not within 1-86400"
    if row["bucket_start"] % row["bucket_seconds"]:  # agents align buckets; it also bounds the buckets per hour
        return f"bucket_start {row['bucket_start']:.3f} is not a multiple of bucket_seconds {row['bucket_seconds']}"
    return None


def check_tile(
    item: TileIn, store_id: str, now: float, limits: IngestLimits, day_shape: tuple[int, int] | None
) -> str | None:
    row = item.row
    if row["store_id"] != store_id:
        return f"store_id {row['store_id']!r} differs from the batch's {store_id!r}"
    problem = _bucket_problem(row, now, limits)
    if problem:
        return problem
    rows, cols = row["rows"], row["cols"]
    if rows < 1 or cols < 1 or rows * cols > limits.max_grid_cells:
        return f"grid {rows}x{cols} is empty or larger than {limits.max_grid_cells} cells"
    if len(item.values) != rows * cols:
        return f"person_seconds has {len(item.values)} values for a {rows}x{cols} grid"
    if day_shape is not None and day_shape != (rows, cols):
        return (
            f"grid {rows}x{cols} differs from the {day_shape[0]}x{day_shape[1]} already stored for that camera and day"
        )
    upper = row["bucket_seconds"] * _MAX_PERSONS_PER_CELL
    for value in item.values:
        if not (math.isfinite(value) and 0.0 <= value <= upper):
            return f"person_seconds value {value:g} is negative, not finite or implausible"
    return None


def check_line_count(
    item: LineCountIn, store_id: str, now: float, limits: IngestLimits, layouts: Mapping[str, Layout]
) -> str | None:
    row = item.row
    if row["store_id"] != store_id:
        return f"store_id {row['store_id']!r} differs from the batch's {store_id!r}"
    problem = _bucket_problem(row, now, limits) or id_problem("line_id", row["line_id"])
    if problem:
        return problem
    for what in ("in_count", "out_count"):
        # per second of the bucket too, so that an hour's sum stays far within the rollup's 32-bit column
        most = min(limits.max_count_per_bucket, int(limits.max_crossings_per_s * row["bucket_seconds"]))
        if row[what] > most:
            return f"{what} {row[what]} is implausible (more than {most} in {row['bucket_seconds']} s)"
    layout = layouts.get(row["camera_id"])
    if layout is not None and layout.lines is not None and row["line_id"] not in layout.lines:
        declared = ", ".join(sorted(layout.lines))
        return f"unknown line {row['line_id']!r} for camera {row['camera_id']!r} (declared: {declared})"
    return None


def check_uptime(item: UptimeIn, now: float, limits: IngestLimits) -> str | None:
    """A camera's uptime in a bucket that lies within one hour (uptime is kept per hour), at most its length."""
    row = item.row
    if row["bucket_seconds"] > 0 and HOUR % row["bucket_seconds"]:
        return f"bucket_seconds {row['bucket_seconds']} does not divide an hour: uptime is kept per hour"
    problem = _bucket_problem(row, now, limits)
    if problem:
        return problem
    up = row["seconds_up"]
    if not (math.isfinite(up) and 0.0 <= up <= row["bucket_seconds"] + _UPTIME_SLACK_S):
        return f"seconds_up {up:g} is not within 0-{row['bucket_seconds']} (the bucket's length)"
    return None

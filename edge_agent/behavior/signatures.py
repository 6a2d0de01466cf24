"""The kinematic signature of a track, measured exactly as BEHAVIORS.md defines its terms.

Used to check that the simulator produces what it claims, and by the rule
baseline. Pure numpy on the smoothed 0.25 s resampling the model's features
use, so all three read a track the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge_agent.behavior.features import FineTrack, fine_track
from retail_common.taxonomy import (
    REVERSAL_DEG,
    REVERSAL_TRAVEL_M,
    SHARP_TURN_DEG,
    SHARP_TURN_WITHIN_S,
    STOP_MIN_S,
    STOP_SPEED_MPS,
)

NEAR_RADIUS_M = 1.5
NEAR_SPEED_MPS = 0.3
HEADING_SEGMENT_M = 0.5  # headings for reversals are taken over 0.5 m of travel, not per sample
STOP_NOISE_GAP_S = 0.5  # a stop survives a blip of apparent motion this short (jitter, not a step)
BLOCK_ROWS = 32  # rows of a distance matrix computed at once


@dataclass(frozen=True)
class Signature:
    duration_s: float
    path_length_m: float
    efficiency: float  # straight-line first-to-last over path length
    extent_m: float  # largest distance between two points of the path
    moving_speed_mps: float  # median speed while not stopped
    speed_p10: float
    speed_p90: float
    stops: tuple[float, ...]  # durations of stops (speed < 0.15 m/s for >= 1 s)
    reversals: int
    sharp_turns: int
    max_abs_accel: float
    near_fraction: float  # largest share of time spent within 1.5 m of one point, moving under 0.3 m/s
    near_seconds: float

    @property
    def stop_count(self) -> int:
        return len(self.stops)

    @property
    def longest_stop_s(self) -> float:
        return max(self.stops, default=0.0)


def _close_gaps(flags: np.ndarray, max_gap: int) -> np.ndarray:
    """Join runs of True separated by at most ``max_gap`` False samples (noise spikes inside a stop)."""
    out = flags.copy()
    runs = _runs(flags)
    for (_, end), (start, _) in itertools.pairwise(runs):
        if start - end <= max_gap:
            out[end:start] = True
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _reversals(xy: np.ndarray) -> int:
    """Heading changes above 135 degrees followed by at least 2 m of travel, on a 0.5 m polyline."""
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] < 2 * HEADING_SEGMENT_M:
        return 0
    marks = np.arange(0.0, along[-1], HEADING_SEGMENT_M)
    pts = np.stack([np.interp(marks, along, xy[:, 0]), np.interp(marks, along, xy[:, 1])], axis=1)
    heading = np.arctan2(*np.diff(pts, axis=0).T[::-1])
    limit = np.deg2rad(REVERSAL_DEG)
    window = 4  # compare headings up to 2 m apart so a tight U-turn counts
    n = len(heading)
    # first[i]: the first j in i+1 .. i+window whose heading turned more than the limit from heading i (0: none)
    first = np.zeros(n, dtype=np.int64)
    for d in range(window, 0, -1):
        change = np.abs((heading[d:] - heading[:-d] + np.pi) % (2 * np.pi) - np.pi)
        hit = np.flatnonzero(change > limit)
        first[hit] = hit + d
    candidates = np.flatnonzero(first[: n - 1]).tolist()
    count, i, k = 0, 0, 0
    skip = int(REVERSAL_TRAVEL_M / HEADING_SEGMENT_M)
    while k < len(candidates):  # walk the headings, jumping straight to the next one that turns
        if candidates[k] < i:
            k += 1
            continue
        j = int(first[candidates[k]])
        if (len(marks) - 1 - j) * HEADING_SEGMENT_M >= REVERSAL_TRAVEL_M:
            count += 1
        i = j + skip
    return count


def _sharp_turns(fine: FineTrack) -> int:
    """Heading changes above 90 degrees within 1 s, counted once per turn."""
    n = max(1, round(SHARP_TURN_WITHIN_S / float(fine.t[1] - fine.t[0])))
    cum = np.concatenate([[0.0], np.cumsum(fine.turn)])
    change = np.abs(cum[n:] - cum[:-n])
    flags = change > np.deg2rad(SHARP_TURN_DEG)
    return len(_runs(flags))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
    """Squared distances from each point of ``a`` to each of ``b``, ``BLOCK_ROWS`` rows of ``a`` at a time.

    ``dx * dx + dy * dy`` of the coordinate differences: within a rounding of ``np.hypot``'s squares, about
    five times faster, and in blocks whose temporaries stay far below the size the allocator maps fresh
    pages for (a whole (300, 300) matrix at once is several times slower).
    """
    for start in range(0, len(a), BLOCK_ROWS):
        rows = a[start : start + BLOCK_ROWS]
        dx = rows[:, None, 0] - b[None, :, 0]
        dy = rows[:, None, 1] - b[None, :, 1]
        dx *= dx
        dy *= dy
        dx += dy
        yield dx


def _near(fine: FineTrack) -> tuple[float, float]:
    slow = fine.speed < NEAR_SPEED_MPS
    if not slow.any():
        return 0.0, 0.0
    dt = float(fine.t[1] - fine.t[0])
    xy = fine.xy[slow]  # only slow samples count, so only they are compared
    centres = xy[:: max(1, len(xy) // 200)]
    counts = np.concatenate([(d2 <= NEAR_RADIUS_M**2).sum(axis=1) for d2 in _squared_distances(centres, xy)])
    best = int(counts.max())
    return best / len(fine.t), best * dt


def signature(t: np.ndarray, xy: np.ndarray) -> Signature:
    fine = fine_track(np.asarray(t, dtype=np.float64), np.asarray(xy, dtype=np.float64))
    dt = float(fine.t[1] - fine.t[0])
    seg = np.linalg.norm(np.diff(fine.xy, axis=0), axis=1)
    length = float(seg.sum())
    slow = _close_gaps(fine.speed < STOP_SPEED_MPS, max_gap=round(STOP_NOISE_GAP_S / dt))
    stops = tuple((b - a) * dt for a, b in _runs(slow) if (b - a) * dt >= STOP_MIN_S - 1e-9)
    moving = fine.speed[fine.speed >= STOP_SPEED_MPS]
    hull = fine.xy[:: max(1, len(fine.xy) // 300)]
    extent = float(np.sqrt(np.max([d2.max() for d2 in _squared_distances(hull, hull)])))
    p10, p90 = np.quantile(fine.speed, [0.1, 0.9])
    near_fraction, near_seconds = _near(fine)
    return Signature(
        duration_s=float(fine.t[-1] - fine.t[0]),
        path_length_m=length,
        efficiency=float(np.linalg.norm(fine.xy[-1] - fine.xy[0]) / length) if length > 0 else 1.0,
        extent_m=extent,
        moving_speed_mps=float(np.median(moving)) if len(moving) else 0.0,
        speed_p10=float(p10),
        speed_p90=float(p90),
        stops=stops,
        reversals=_reversals(fine.xy),
        sharp_turns=_sharp_turns(fine),
        max_abs_accel=float(np.abs(fine.accel).max()),
        near_fraction=near_fraction,
        near_seconds=near_seconds,
    )

"""Path statistics of a floor trajectory, with the definitions of BEHAVIORS.md.

Raw tracker positions jitter by 5-15 cm; summing raw steps would inflate the
distance by metres per minute. Positions are therefore resampled every 0.25 s
and smoothed over 1 s before distances and speeds are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_S = 0.25
SMOOTH_S = 1.0
STOP_SPEED_MPS = 0.15
STOP_MIN_S = 1.0


@dataclass(frozen=True)
class PathStats:
    distance_m: float
    mean_speed_mps: float
    max_speed_mps: float
    stop_count: int


def resample(t: np.ndarray, xy: np.ndarray, step: float = STEP_S) -> tuple[np.ndarray, np.ndarray]:
    """Positions every ``step`` seconds by linear interpolation (gaps are bridged in a straight line)."""
    grid = np.arange(t[0], t[-1] + 1e-9, step)
    if len(grid) < 2:
        grid = np.array([t[0], t[-1]])
    return grid, np.stack([np.interp(grid, t, xy[:, 0]), np.interp(grid, t, xy[:, 1])], axis=1)


def smooth(xy: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over an odd ``window``.

    The ends are padded by point reflection (``2 * x[0] - x[k]``), which keeps a
    straight walk straight up to its end points instead of pulling them inwards.
    """
    half = window // 2
    if half < 1 or len(xy) <= half:
        return xy
    left = 2 * xy[0] - xy[half:0:-1]
    right = 2 * xy[-1] - xy[-2 : -half - 2 : -1]
    padded = np.concatenate([left, xy, right])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], axis=1)


def stop_count(speeds: np.ndarray, step: float, threshold: float = STOP_SPEED_MPS, min_s: float = STOP_MIN_S) -> int:
    """Runs of speed below ``threshold`` lasting at least ``min_s``."""
    slow = np.concatenate([[False], speeds < threshold, [False]])
    edges = np.flatnonzero(np.diff(slow.astype(np.int8)))
    lengths = (edges[1::2] - edges[::2]) * step
    return int(np.count_nonzero(lengths >= min_s - 1e-9))


def path_stats(t: np.ndarray, xy: np.ndarray) -> PathStats:
    t = np.asarray(t, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(t) < 2 or t[-1] <= t[0]:
        return PathStats(0.0, 0.0, 0.0, 0)
    grid, pos = resample(t, xy)
    step = float(grid[1] - grid[0])
    pos = smooth(pos, max(1, round(SMOOTH_S / step)))
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    speeds = steps / step
    distance = float(steps.sum())
    return PathStats(
        distance_m=distance,
        mean_speed_mps=distance / float(t[-1] - t[0]),
        max_speed_mps=float(speeds.max()) if len(speeds) else 0.0,
        stop_count=stop_count(speeds, step),
    )


def downsample_indices(t: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` samples evenly spread in time, first and last always kept."""
    n = len(t)
    if n <= max_points:
        return np.arange(n)
    targets = np.linspace(t[0], t[-1], max_points)
    idx = np.searchsorted(t, targets).clip(0, n - 1)
    idx[0], idx[-1] = 0, n - 1
    return np.unique(idx)

"""A track in metres and seconds to the behaviour model's input sequence; shared by training and the edge.

The track is resampled every 0.25 s as the mean of the raw points within
0.5 s of each sample time (a straight line across gaps and sparse stretches),
so 15 cm of tracker jitter does not look like walking, then summarised per step
of ``STEP_S`` seconds: the features do not depend on the camera's sampling rate. Every feature is built
from speeds, turning angles and distances, never from absolute coordinates or
headings: the features are invariant to translating and rotating the floor
plan. Tracks longer than ``MAX_STEPS`` steps use proportionally longer steps.
Padded steps are zero and masked. No torch here: the edge runs this too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retail_common.taxonomy import LABELS, MIN_POINTS, STOP_SPEED_MPS

FINE_S = 0.25
STEP_S = 2.0
MAX_STEPS = 90
SMOOTH_HALF_S = 0.5
REVISIT_AFTER_S = 5.0
FEATURE_BATCH = 192
FEATURE_NAMES = (
    "mean_speed",
    "max_speed",
    "speed_std",
    "max_abs_accel",
    "turn_sum",
    "turn_max",
    "stop_fraction",
    "net_speed",
    "dist_from_start",
    "dist_from_centroid",
    "revisit_dist",
    "elapsed",
)
N_FEATURES = len(FEATURE_NAMES)
# divisors that bring every feature to roughly [0, 1]
_SCALE = np.array([2.0, 3.0, 1.0, 5.0, 2.0, 1.0, 1.0, 2.0, 10.0, 5.0, 5.0, 180.0], dtype=np.float32)


class TrackError(ValueError):
    """A track that cannot be classified; the message is the reason given to the user."""


def _all_triples(points: list[object]) -> bool:
    try:
        return set(map(len, points)) == {3}  # type: ignore[arg-type]
    except TypeError:  # an element without a length, e.g. a number
        return False


def validate_points(points: object) -> tuple[np.ndarray, np.ndarray]:
    """``[[t, x, y], ...]`` to (t, xy) arrays, or :class:`TrackError` saying what is wrong."""
    if isinstance(points, list) and _all_triples(points):
        # the common case, read without numpy's slower nested-list path
        try:
            flat = np.fromiter(itertools.chain.from_iterable(points), dtype=np.float64, count=3 * len(points))
        except (TypeError, ValueError) as e:
            raise TrackError("points must be a list of [t, x, y] numbers") from e
        arr = flat.reshape(-1, 3)
    else:
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TrackError("points must be a list of [t, x, y] numbers") from e
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise TrackError(f"points must be a list of [t, x, y] triples, got shape {arr.shape}")
    return check_points(arr)


def check_points(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An (N, 3) float64 array of ``[t, x, y]`` rows to (t, xy), or :class:`TrackError` saying what is wrong."""
    if len(arr) < MIN_POINTS:
        raise TrackError(f"at least {MIN_POINTS} points are needed, got {len(arr)}")
    if not np.isfinite(arr).all():
        raise TrackError("points contain NaN or infinite values")
    t = arr[:, 0]
    if not (np.diff(t) > 0).all():
        i = int(np.argmin(np.diff(t) > 0))
        raise TrackError(f"time must increase: point {i + 1} has t={t[i + 1]} after t={t[i]}")
    return t, arr[:, 1:]


@dataclass(frozen=True)
class FineTrack:
    """The track resampled every ``FINE_S`` seconds and smoothed, with its per-sample kinematics."""

    t: np.ndarray  # (M,)
    xy: np.ndarray  # (M, 2)
    speed: np.ndarray  # (M,), m/s
    turn: np.ndarray  # (M,), signed heading change since the previous sample, radians
    accel: np.ndarray  # (M,), m/s^2


@dataclass(frozen=True)
class FineBatch:
    """Tracks resampled every ``FINE_S`` seconds and smoothed, concatenated, with per-sample kinematics.

    Track ``k`` occupies ``[starts[k], starts[k + 1])`` of every array.
    """

    t: np.ndarray  # (M,) seconds since the track's first point
    xy: np.ndarray  # (M, 2)
    speed: np.ndarray  # (M,), m/s
    turn: np.ndarray  # (M,), signed heading change since the previous sample, radians
    accel: np.ndarray  # (M,), m/s^2
    starts: np.ndarray  # (K + 1,)
    duration: np.ndarray  # (K,)

    def track(self, k: int) -> FineTrack:
        a, b = self.starts[k], self.starts[k + 1]
        return FineTrack(self.t[a:b], self.xy[a:b], self.speed[a:b], self.turn[a:b], self.accel[a:b])


def fine_batch(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> FineBatch:
    """Resample and differentiate many tracks at once: numpy work per batch, not per track.

    Each sample is the mean of the raw points within ``half`` seconds (0.5 s, or 1.5
    sampling intervals for sparse tracks), interpolated where fewer than two fall in
    the window, then a 3-sample moving average whose ends are left in place.
    """
    k_count = len(tracks)
    n = np.fromiter((len(t) for t, _ in tracks), dtype=np.int64, count=k_count)
    t_raw = np.concatenate([t for t, _ in tracks])
    xy_raw = np.concatenate([xy for _, xy in tracks])
    x_raw, y_raw = np.ascontiguousarray(xy_raw[:, 0]), np.ascontiguousarray(xy_raw[:, 1])
    raw_start = np.concatenate([[0], np.cumsum(n)])
    t_first, t_last = t_raw[raw_start[:-1]], t_raw[raw_start[1:] - 1]
    duration = t_last - t_first
    # sparse sampling (2-5 Hz) needs a wider window to average out the same jitter
    half = np.maximum(SMOOTH_HALF_S, 1.5 * duration / np.maximum(n - 1, 1))
    # lay the tracks end to end on one clock, far enough apart that no window reaches a neighbour
    span = duration + 2 * half + 1.0
    offset = np.concatenate([[0.0], np.cumsum(span[:-1])])
    clock = t_raw - np.repeat(t_first, n) + np.repeat(offset, n)
    regular = duration >= 2 * FINE_S
    m = np.where(regular, np.floor(duration / FINE_S + 1e-9).astype(np.int64) + 1, 3)
    step = np.where(regular, FINE_S, duration / 2)
    starts = np.concatenate([[0], np.cumsum(m)])
    first, last = starts[:-1], starts[1:] - 1
    local = np.arange(starts[-1]) - np.repeat(first, m)
    dt = np.repeat(step, m)
    t_local = local * dt
    grid = t_local + np.repeat(offset, m)
    h = np.repeat(half, m)
    lo = np.searchsorted(clock, grid - h, side="left")
    hi = np.searchsorted(clock, grid + h, side="right")
    count = np.maximum(hi - lo, 1)
    sparse = hi - lo < 2
    x, y = _window_mean(x_raw, lo, hi, count), _window_mean(y_raw, lo, hi, count)
    if sparse.any():
        x[sparse] = np.interp(grid[sparse], clock, x_raw)
        y[sparse] = np.interp(grid[sparse], clock, y_raw)
    x, y = _smooth3(x, first, last), _smooth3(y, first, last)
    dx, dy = np.zeros_like(x), np.zeros_like(y)
    dx[1:], dy[1:] = x[1:] - x[:-1], y[1:] - y[:-1]
    v = np.hypot(dx, dy) / dt
    speed = v.copy()
    speed[first] = v[first + 1]
    heading = np.arctan2(dy, dx)
    turn = np.zeros(len(v))
    turn[1:] = (heading[1:] - heading[:-1] + np.pi) % (2 * np.pi) - np.pi
    slow = v < STOP_SPEED_MPS
    slow[1:] |= slow[:-1]
    turn[(local < 2) | slow] = 0.0  # a standing person's heading is noise
    accel = np.zeros(len(v))
    accel[1:] = (speed[1:] - speed[:-1]) / dt[1:]
    accel[first] = 0.0
    smooth_pos = np.column_stack([x, y])
    return FineBatch(t_local, smooth_pos, speed, turn, accel, starts, duration)


def _window_mean(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, count: np.ndarray) -> np.ndarray:
    csum = np.empty(len(values) + 1)
    csum[0] = 0.0
    np.cumsum(values, out=csum[1:])
    mean: np.ndarray = (csum[hi] - csum[lo]) / count
    return mean


def _smooth3(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """3-sample moving average within each track; each track's first and last samples stay in place."""
    out = values.copy()
    out[1:-1] = (values[:-2] + values[1:-1] + values[2:]) / 3.0
    out[first], out[last] = values[first], values[last]
    return out


def fine_track(t: np.ndarray, xy: np.ndarray) -> FineTrack:
    return fine_batch([(t, xy)]).track(0)


def sequences(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """One (T_k, N_FEATURES) float32 sequence per valid track, T_k <= MAX_STEPS, computed in batches.

    Batches of ``FEATURE_BATCH`` tracks keep numpy's temporaries small enough to stay
    in cache, which is faster than one batch of everything.
    """
    out: list[np.ndarray] = []
    for start in range(0, len(tracks), FEATURE_BATCH):
        out.extend(_sequences(tracks[start : start + FEATURE_BATCH]))
    return out


def _sequences(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    fine = fine_batch(tracks)
    m = np.diff(fine.starts)
    per = np.maximum(1, np.ceil(np.maximum(fine.duration / MAX_STEPS, STEP_S) / FINE_S - 1e-9)).astype(np.int64)
    steps = -(-m // per)
    padded = steps * per
    pad_start = np.concatenate([[0], np.cumsum(padded)])
    pad_track = np.repeat(np.arange(len(m)), padded)
    pad_local = np.arange(pad_start[-1]) - pad_start[pad_track]
    src = fine.starts[pad_track] + np.minimum(pad_local, m[pad_track] - 1)  # pad by repeating the last sample
    win_start_of = np.concatenate([[0], np.cumsum(steps)])
    win_track = np.repeat(np.arange(len(m)), steps)
    win_local = np.arange(win_start_of[-1]) - win_start_of[win_track]
    first = pad_start[win_track] + win_local * per[win_track]
    width = per[win_track].astype(np.float64)
    step_s = width * FINE_S

    speed, turn, accel = fine.speed[src], np.abs(fine.turn[src]), np.abs(fine.accel[src])
    mean_speed = np.add.reduceat(speed, first) / width
    spread = np.sqrt(np.maximum(np.add.reduceat(speed * speed, first) / width - mean_speed**2, 0.0))
    begins = fine.xy[src[first]]
    ends = fine.xy[src[first + per[win_track] - 1]]
    start_xy = fine.xy[fine.starts[:-1]]
    centroid = np.add.reduceat(fine.xy, fine.starts[:-1], axis=0) / m[:, None]
    feats = np.empty((len(first), N_FEATURES), dtype=np.float64)
    feats[:, 0] = mean_speed
    feats[:, 1] = np.maximum.reduceat(speed, first)
    feats[:, 2] = spread
    feats[:, 3] = np.maximum.reduceat(accel, first)
    feats[:, 4] = np.add.reduceat(turn, first) / np.pi
    feats[:, 5] = np.maximum.reduceat(turn, first) / np.pi
    feats[:, 6] = np.add.reduceat((speed < STOP_SPEED_MPS).astype(np.float64), first) / width
    feats[:, 7] = np.hypot(*(ends - begins).T) / step_s
    feats[:, 8] = np.hypot(*(ends - start_xy[win_track]).T)
    feats[:, 9] = np.hypot(*(ends - centroid[win_track]).T)
    feats[:, 10] = _revisit(ends, win_start_of, step_s)
    feats[:, 11] = (win_local + 1) * step_s
    out = (feats / _SCALE).astype(np.float32)
    return np.split(out, win_start_of[1:-1])


def _revisit(ends: np.ndarray, bounds: np.ndarray, step_s: np.ndarray) -> np.ndarray:
    """Per step, the distance to where the person was at least REVISIT_AFTER_S earlier (small when they return).

    Tracks with the same number and length of steps are handled together as one (G, S, S) array.
    """
    out = np.full(len(ends), 5.0)
    sizes = np.diff(bounds)
    firsts = bounds[:-1]
    keys = sizes * 100_000 + np.round(step_s[np.minimum(firsts, len(step_s) - 1)] * 100).astype(np.int64)
    for key in np.unique(keys):
        members = firsts[keys == key]
        size = int(sizes[keys == key][0])
        lag = max(1, math.ceil(REVISIT_AFTER_S / float(step_s[members[0]]) - 1e-9))  # at least that long ago
        if size <= lag:
            continue
        idx = members[:, None] + np.arange(size)[None, :]  # (G, S)
        x, y = ends[idx, 0].astype(np.float32), ends[idx, 1].astype(np.float32)
        # squared distances (one square root per step instead of per pair), computed in place
        d2 = np.subtract(x[:, :, None], x[:, None, :])
        np.multiply(d2, d2, out=d2)
        dy = np.subtract(y[:, :, None], y[:, None, :])
        np.multiply(dy, dy, out=dy)
        d2 += dy
        d2 += np.where(np.tri(size, size, k=-lag, dtype=bool), np.float32(0), np.float32(np.inf))
        out[idx] = np.minimum(np.sqrt(d2.min(axis=2)), 5.0)
    return out


def track_features(t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(T, N_FEATURES) float32 sequence for one valid track."""
    return sequences([(t, xy)])[0]


def feature_config() -> dict[str, object]:
    """Everything that must match between a model's training and the edge for its answers to mean anything."""
    return {
        "feature_names": list(FEATURE_NAMES),
        "fine_s": FINE_S,
        "step_s": STEP_S,
        "max_steps": MAX_STEPS,
        "labels": list(LABELS),
    }


def batch_features(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded (N, T, F) features and (N, T) mask (1 for real steps) for a batch of valid tracks."""
    return pad(sequences(tracks))


def pad(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sequences zero-padded to the longest, with a mask of 1 on real steps."""
    longest = max((len(s) for s in seqs), default=1)
    x = np.zeros((len(seqs), longest, N_FEATURES), dtype=np.float32)
    mask = np.zeros((len(seqs), longest), dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        mask[i, : len(s)] = 1.0
    return x, mask

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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.behavior.taxonomy import MIN_POINTS, STOP_SPEED_MPS
from edge_agent.trajectory.kinematics import smooth

FINE_S = 0.25
STEP_S = 1.0
MAX_STEPS = 180
SMOOTH_HALF_S = 0.5
SMOOTH_SAMPLES = 3
REVISIT_AFTER_S = 5.0
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


def validate_points(points: object) -> tuple[np.ndarray, np.ndarray]:
    """``[[t, x, y], ...]`` to (t, xy) arrays, or :class:`TrackError` saying what is wrong."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TrackError("points must be a list of [t, x, y] numbers") from e
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise TrackError(f"points must be a list of [t, x, y] triples, got shape {arr.shape}")
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


def window_mean(t: np.ndarray, xy: np.ndarray, grid: np.ndarray, half: float) -> np.ndarray:
    """Mean of the points within ``half`` seconds of each grid time; interpolated where there are fewer than 2."""
    lo = np.searchsorted(t, grid - half, side="left")
    hi = np.searchsorted(t, grid + half, side="right")
    count = hi - lo
    csum = np.vstack([np.zeros((1, 2)), np.cumsum(xy, axis=0)])
    pos: np.ndarray = (csum[hi] - csum[lo]) / np.maximum(count, 1)[:, None]
    sparse = count < 2
    if sparse.any():
        pos[sparse, 0] = np.interp(grid[sparse], t, xy[:, 0])
        pos[sparse, 1] = np.interp(grid[sparse], t, xy[:, 1])
    return pos


def fine_track(t: np.ndarray, xy: np.ndarray) -> FineTrack:
    grid = np.arange(t[0], t[-1] + 1e-9, FINE_S)
    if len(grid) < 3:
        grid = np.linspace(t[0], t[-1], 3)
    # sparse sampling (2-5 Hz) needs a wider window to average out the same jitter
    half = max(SMOOTH_HALF_S, 1.5 * float(np.median(np.diff(t))))
    pos = smooth(window_mean(t, xy, grid, half), SMOOTH_SAMPLES)
    step = np.diff(pos, axis=0)
    dt = np.diff(grid)
    speed = np.hypot(step[:, 0], step[:, 1]) / dt
    heading = np.arctan2(step[:, 1], step[:, 0])
    turn = np.diff(heading)
    turn = (turn + np.pi) % (2 * np.pi) - np.pi
    turn[(speed[1:] < STOP_SPEED_MPS) | (speed[:-1] < STOP_SPEED_MPS)] = 0.0  # headings of a standing person are noise
    speed = np.concatenate([[speed[0]], speed])
    turn = np.concatenate([[0.0, 0.0], turn])
    accel = np.concatenate([[0.0], np.diff(speed) / np.diff(grid)])
    return FineTrack(grid, pos, speed, turn, accel)


def track_features(t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(T, N_FEATURES) float32 sequence for one valid track, T <= MAX_STEPS."""
    fine = fine_track(t, xy)
    duration = float(fine.t[-1] - fine.t[0])
    per_step = max(1, int(np.ceil(max(duration / MAX_STEPS, STEP_S) / FINE_S - 1e-9)))
    m = len(fine.t)
    steps = -(-m // per_step)
    pad = steps * per_step - m

    def windows(values: np.ndarray) -> np.ndarray:
        padded = np.concatenate([values, np.repeat(values[-1:], pad, axis=0)]) if pad else values
        return padded.reshape(steps, per_step, *values.shape[1:])

    speed, turn, accel, pos = windows(fine.speed), windows(np.abs(fine.turn)), windows(fine.accel), windows(fine.xy)
    step_s = per_step * FINE_S
    start, centroid = fine.xy[0], fine.xy.mean(axis=0)
    ends = pos[:, -1]
    # distance to where the person was at least REVISIT_AFTER_S earlier: small when they come back
    lag = max(1, round(REVISIT_AFTER_S / step_s))
    d = np.hypot(ends[:, None, 0] - ends[None, :, 0], ends[:, None, 1] - ends[None, :, 1])
    earlier = np.tril(np.ones((steps, steps), dtype=bool), k=-lag)
    revisit = np.where(earlier, d, np.inf).min(axis=1)
    revisit[~np.isfinite(revisit)] = 5.0
    feats = np.stack(
        [
            speed.mean(axis=1),
            speed.max(axis=1),
            speed.std(axis=1),
            np.abs(accel).max(axis=1),
            turn.sum(axis=1) / np.pi,
            turn.max(axis=1) / np.pi,
            (speed < STOP_SPEED_MPS).mean(axis=1),
            np.hypot(*(pos[:, -1] - pos[:, 0]).T) / step_s,
            np.hypot(*(ends - start).T),
            np.hypot(*(ends - centroid).T),
            np.minimum(revisit, 5.0),
            np.arange(1, steps + 1) * step_s,
        ],
        axis=1,
    )
    return (feats / _SCALE).astype(np.float32)


def batch_features(tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded (N, T, F) features and (N, T) mask (1 for real steps) for a batch of valid tracks."""
    seqs = [track_features(t, xy) for t, xy in tracks]
    longest = max((len(s) for s in seqs), default=1)
    x = np.zeros((len(seqs), longest, N_FEATURES), dtype=np.float32)
    mask = np.zeros((len(seqs), longest), dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        mask[i, : len(s)] = 1.0
    return x, mask

"""Path statistics with BEHAVIORS.md's definitions, robust to tracker jitter."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.trajectory.kinematics import downsample_indices, path_stats


def walk(speed: float, seconds: float, hz: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, seconds + 1e-9, 1 / hz)
    return t, np.stack([t * speed, np.zeros_like(t)], axis=1)


def test_straight_walk() -> None:
    t, xy = walk(1.2, 10)
    s = path_stats(t, xy)
    assert s.distance_m == pytest.approx(12.0, rel=0.02)
    assert s.mean_speed_mps == pytest.approx(1.2, rel=0.02)
    assert s.stop_count == 0


def test_jitter_does_not_inflate_distance() -> None:
    rng = np.random.default_rng(0)
    t, xy = walk(1.0, 20)
    noisy = xy + rng.normal(0, 0.1, xy.shape)  # 10 cm jitter, as real tracker output
    assert path_stats(t, noisy).distance_m == pytest.approx(20.0, rel=0.15)


def test_stops_are_counted_once_each() -> None:
    # walk 3 s, stand 4 s, walk 3 s, stand 0.5 s (too short), walk 3 s, stand 2 s
    pieces, x, t0 = [], 0.0, 0.0
    for speed, dur in [(1.0, 3), (0.0, 4), (1.0, 3), (0.0, 0.5), (1.0, 3), (0.0, 2)]:
        t = np.arange(0, dur, 0.1)
        pieces.append(np.stack([t0 + t, x + speed * t], axis=1))
        x, t0 = x + speed * dur, t0 + dur
    arr = np.concatenate(pieces)
    s = path_stats(arr[:, 0], np.stack([arr[:, 1], np.zeros(len(arr))], axis=1))
    assert s.stop_count == 2  # smoothing over 1 s hides the 0.5 s pause; the 2 s stop at the end counts


@pytest.mark.parametrize(("n", "max_points"), [(10, 64), (64, 64), (500, 64), (3, 2)])
def test_downsample_keeps_ends_and_limit(n: int, max_points: int) -> None:
    t = np.cumsum(np.random.default_rng(1).uniform(0.05, 0.2, n))
    idx = downsample_indices(t, max_points)
    assert len(idx) <= max_points
    assert idx[0] == 0
    assert idx[-1] == n - 1
    assert np.all(np.diff(idx) > 0)

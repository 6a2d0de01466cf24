"""Model features: invariant to where the floor plan puts a track, and to the sampling rate within reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.behavior.features import (
    FEATURE_NAMES,
    FINE_S,
    MAX_STEPS,
    N_FEATURES,
    REVISIT_AFTER_S,
    STEP_S,
    TrackError,
    batch_features,
    fine_track,
    sequences,
    track_features,
    validate_points,
)
from training.simulate import clean_track, observe

RNG = np.random.default_rng(5)


def sample_track(label: str = "confused") -> tuple[np.ndarray, np.ndarray]:
    return clean_track(label, np.random.default_rng(3))


@pytest.mark.parametrize("angle", [0.3, 1.7, np.pi, 5.0])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (250.0, -40.0)])
def test_invariant_to_rotation_and_translation(angle: float, shift: tuple[float, float]) -> None:
    t, xy = sample_track()
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = xy @ rot.T + np.asarray(shift)
    np.testing.assert_allclose(track_features(t, moved), track_features(t, xy), atol=1e-4)


def test_invariant_to_the_clock_offset() -> None:
    t, xy = sample_track()
    np.testing.assert_allclose(track_features(t + 1.7e9, xy), track_features(t, xy), atol=1e-4)


@pytest.mark.parametrize("label", ["decisive", "hesitant", "frustrated"])
def test_sampling_rate_changes_features_little(label: str) -> None:
    t, xy = sample_track(label)
    fast, slow = t[::2], t[::8]  # 10 Hz and 2.5 Hz views of the same motion
    f_fast = track_features(fast, xy[::2])
    f_slow = track_features(slow, xy[::8])
    n = min(len(f_fast), len(f_slow))
    # levels (speeds, stop share, distances) agree closely; peaks (speed spread, max acceleration,
    # sharpest turn) are naturally blunter at 2.5 Hz and only roughly agree
    diff = dict(zip(FEATURE_NAMES, np.abs(f_fast[:n].mean(axis=0) - f_slow[:n].mean(axis=0)), strict=True))
    peaks = {"speed_std", "max_abs_accel", "turn_max", "turn_sum"}
    assert max(v for k, v in diff.items() if k not in peaks) < 0.06, diff
    assert max(v for k, v in diff.items() if k in peaks) < 0.25, diff


def test_shape_padding_and_mask() -> None:
    tracks = [sample_track("disinterested"), sample_track("interested")]
    x, mask = batch_features(tracks)
    lengths = mask.sum(axis=1).astype(int)
    assert x.shape == (2, lengths.max(), N_FEATURES)
    assert (x[0, lengths[0] :] == 0).all()
    assert lengths.max() <= MAX_STEPS


def test_long_tracks_fit_max_steps() -> None:
    t = np.arange(0, 600, 0.5)  # ten minutes
    xy = np.stack([np.sin(t / 30), np.cos(t / 30)], axis=1) * 3
    assert len(track_features(t, xy)) <= MAX_STEPS


def test_noisy_observation_is_valid() -> None:
    t, xy = sample_track()
    pts = observe(t, xy, RNG)
    tt, pxy = validate_points(pts.tolist())
    assert track_features(tt, pxy).dtype == np.float32


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0, 0, 0], [1, 1, 1]], "at least 3 points"),
        ([[0, 0, 0], [1, 1, 1], [1, 2, 2]], "time must increase"),
        ([[0, 0, 0], [1, float("nan"), 1], [2, 2, 2]], "NaN"),
        ([[0, 0], [1, 1], [2, 2]], "triples"),
        ("not a list", r"\[t, x, y\]"),
        ([["a", 0, 0], [1, 1, 1], [2, 2, 2]], "numbers"),
    ],
)
def test_invalid_tracks_are_named(points: object, message: str) -> None:
    with pytest.raises(TrackError, match=message):
        validate_points(points)


def test_batched_revisit_matches_the_definition() -> None:
    """The revisit feature, computed for many tracks at once, equals the plain per-track formula."""
    tracks = [sample_track(label) for label in ("confused", "hesitant", "interested")]
    rng = np.random.default_rng(9)
    tracks += [(t + 5.0, xy + rng.normal(0, 0.05, xy.shape)) for t, xy in tracks]  # same lengths: one group
    for (t, xy), seq in zip(tracks, sequences(tracks), strict=True):
        ends_from_start = seq[:, FEATURE_NAMES.index("dist_from_start")] * 10.0
        revisit = seq[:, FEATURE_NAMES.index("revisit_dist")] * 5.0
        fine = fine_track(t, xy)
        per = round(STEP_S / FINE_S)  # fine samples per step (these tracks are shorter than MAX_STEPS steps)
        lag = math.ceil(REVISIT_AFTER_S / STEP_S)
        ends = fine.xy[np.minimum(np.arange(1, len(seq) + 1) * per - 1, len(fine.xy) - 1)]
        np.testing.assert_allclose(np.hypot(*(ends - fine.xy[0]).T), ends_from_start, atol=1e-3)
        for j in range(len(seq)):
            earlier = ends[: max(0, j - lag + 1)]
            want = min(5.0, float(np.hypot(*(earlier - ends[j]).T).min())) if len(earlier) else 5.0
            assert revisit[j] == pytest.approx(want, abs=1e-3)

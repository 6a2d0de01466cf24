"""Perturbations of real tracker output, applied to plain tracks: each does what it says and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.behavior.signatures import signature
from training import perturb

DT = 0.05


def visit(leg_m: float = 5.0, stand_s: float = 12.0, speed: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``leg_m`` in along x, stand ``stand_s``, walk ``leg_m`` out along y: a decisive visit at 20 Hz."""
    walk = np.arange(0.0, leg_m, speed * DT)
    xy = np.concatenate(
        [
            np.column_stack([walk, np.zeros_like(walk)]),
            np.tile([leg_m, 0.0], (round(stand_s / DT), 1)),
            np.column_stack([np.full_like(walk, leg_m), walk]),
        ]
    )
    return np.arange(len(xy)) * DT, xy


def path_length(xy: np.ndarray) -> float:
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())


@pytest.mark.parametrize("leg", [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)])
def test_crop_visit_keeps_the_stop_and_legs_of_the_asked_length(leg: tuple[float, float]) -> None:
    t, xy = visit()
    ct, cxy = perturb.crop_visit(t, xy, np.random.default_rng(0), leg)
    s = signature(ct, cxy)
    assert 11.0 <= s.longest_stop_s <= 12.5, "the stop is kept whole"
    # the smoothed stop starts and ends a little inside the real one, so up to 0.5 m more is kept per leg
    assert 2 * leg[0] - 0.1 <= path_length(cxy) <= 2 * leg[0] + 1.0


def test_crop_without_stops_cuts_each_end_by_at_most_the_share() -> None:
    t = np.arange(0.0, 20.0, DT)
    xy = np.column_stack([1.5 * t, np.zeros_like(t)])
    for seed in range(5):
        ct, _ = perturb.crop_visit(t, xy, np.random.default_rng(seed), (0.0, 2.0), edge_share=0.3)
        assert ct[0] <= 6.0
        assert ct[-1] >= 20.0 - 6.0 - DT
        assert ct[-1] - ct[0] < 20.0


@pytest.mark.parametrize("factor", [0.7, 1.4])
def test_retime_changes_walking_speed_and_keeps_standing_time(factor: float) -> None:
    t, xy = visit()
    before = signature(t, xy)
    rt, rxy = perturb.retime(t, xy, factor)
    after = signature(rt, rxy)
    assert after.moving_speed_mps == pytest.approx(factor * before.moving_speed_mps, rel=0.12)
    assert after.longest_stop_s == pytest.approx(before.longest_stop_s, abs=0.6)
    assert (np.diff(rt) > 0).all()


def test_rescale_multiplies_every_distance() -> None:
    t, xy = visit()
    _, sxy = perturb.rescale(t, xy, 0.7)
    assert path_length(sxy) == pytest.approx(0.7 * path_length(xy))
    assert np.allclose(sxy[0], xy[0])


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda t, xy: perturb.retime(t, xy, 0.0), "speed factor"), (lambda t, xy: perturb.rescale(t, xy, -1), "scale")],
)
def test_nonsense_factors_are_refused(call: object, message: str) -> None:
    t, xy = visit()
    with pytest.raises(ValueError, match=message):
        call(t, xy)  # type: ignore[operator]


def test_dropouts_leave_gaps_of_the_asked_length_and_keep_the_ends() -> None:
    t, xy = visit()
    dt, _ = perturb.drop(t, xy, np.random.default_rng(3), (2.0, 4.0))
    gaps = np.diff(dt)
    assert gaps.max() >= 2.0
    assert gaps.max() <= 4.0 * 3  # a few dropouts may touch
    assert (dt[0], dt[-1]) == (t[0], t[-1])


def test_split_cuts_one_visit_into_two_tracks_that_cover_it() -> None:
    t, xy = visit()
    (at, _), (bt, _) = perturb.split(t, xy, np.random.default_rng(1))
    assert len(at) + len(bt) == len(t)
    assert at[-1] < bt[0]
    assert 0.3 * t[-1] <= bt[0] <= 0.7 * t[-1] + DT


def test_sway_moves_a_standing_person_without_making_them_walk() -> None:
    t, xy = visit()
    st, sxy = perturb.sway(t, xy, np.random.default_rng(2), (0.06, 0.06), (2.0, 2.0))
    moved = np.hypot(*(sxy - xy).T)
    assert 0.04 <= moved.max() <= 0.07
    assert signature(st, sxy).longest_stop_s >= 10.0, "still a stop once smoothed"


def test_window_keeps_the_asked_seconds() -> None:
    t, xy = visit()
    wt, _ = perturb.window(t, xy, np.random.default_rng(4), 9.0)
    assert wt[-1] - wt[0] == pytest.approx(9.0, abs=DT)

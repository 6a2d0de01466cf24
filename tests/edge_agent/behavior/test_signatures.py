"""The kinematic signature's fast distance code gives what the plain definition gives."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.behavior.features import fine_track
from edge_agent.behavior.signatures import NEAR_RADIUS_M, NEAR_SPEED_MPS, signature
from training.simulate import simulate


def reference_extent_and_near(t: np.ndarray, xy: np.ndarray) -> tuple[float, float]:
    """Largest distance between two points of the 0.25 s path, and the largest share of time within 1.5 m of one
    slow point while slow: one whole distance matrix each, with ``np.hypot``."""
    fine = fine_track(t, xy)
    hull = fine.xy[:: max(1, len(fine.xy) // 300)]
    extent = float(np.hypot(hull[:, None, 0] - hull[None, :, 0], hull[:, None, 1] - hull[None, :, 1]).max())
    slow = fine.speed < NEAR_SPEED_MPS
    if not slow.any():
        return extent, 0.0
    centres = fine.xy[slow][:: max(1, int(slow.sum() // 200))]
    d = np.hypot(fine.xy[None, :, 0] - centres[:, None, 0], fine.xy[None, :, 1] - centres[:, None, 1])
    return extent, int(((d <= NEAR_RADIUS_M) & slow[None, :]).sum(axis=1).max()) / len(fine.t)


def test_extent_and_lingering_match_the_plain_definition() -> None:
    for tr in simulate(8, seed=31):  # every behaviour, with the nuisances: long, short, sparse and dense tracks
        t, xy = tr.points[:, 0], tr.points[:, 1:]
        extent, near = reference_extent_and_near(t, xy)
        got = signature(t, xy)
        assert got.extent_m == pytest.approx(extent, rel=1e-12), tr.track_id
        assert got.near_fraction == near, tr.track_id

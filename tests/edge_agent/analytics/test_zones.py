"""Zones: point-in-polygon and visit state with debounce, as tables."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.zones import ZoneMonitor, ZoneVisit, points_in_polygon
from edge_agent.config.models import ZoneConfig

SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
L_SHAPE = [(0, 0), (10, 0), (10, 4), (4, 4), (4, 10), (0, 10)]


@pytest.mark.parametrize(
    ("polygon", "point", "inside"),
    [
        (SQUARE, (5, 5), True),
        (SQUARE, (15, 5), False),
        (SQUARE, (-0.1, 5), False),
        (SQUARE, (9.9, 9.9), True),
        (L_SHAPE, (2, 8), True),
        (L_SHAPE, (8, 8), False),  # the notch of the L
        (L_SHAPE, (8, 2), True),
    ],
)
def test_points_in_polygon(polygon: list[tuple[float, float]], point: tuple[float, float], inside: bool) -> None:
    assert points_in_polygon(np.array([point]), np.array(polygon)).tolist() == [inside]


def run(samples: list[tuple[float, bool]], enter: float = 0.5, exit_: float = 1.5) -> list[ZoneVisit]:
    monitor = ZoneMonitor(ZoneConfig(id="z", polygon=SQUARE, enter_after_s=enter, exit_after_s=exit_))
    visits = [v for t, is_in in samples if (v := monitor.observe(7, t, is_in)) is not None]
    last = monitor.close(7)
    return [*visits, *([last] if last else [])]


def frames(start: float, end: float, inside: bool, step: float = 0.1) -> list[tuple[float, bool]]:
    return [(round(t, 2), inside) for t in np.arange(start, end - 1e-9, step)]


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # walks in at 1.0, stays until 6.0, walks out: one visit from first to last inside frame
        (frames(0, 1, False) + frames(1, 6, True) + frames(6, 9, False), [(1.0, 5.9)]),
        # a 0.3 s brush with the zone is shorter than enter_after_s: no visit
        (frames(0, 1, False) + frames(1, 1.3, True) + frames(1.3, 4, False), []),
        # flicker outside for 1 s (shorter than exit_after_s) does not split the visit
        (frames(0, 2, True) + frames(2, 3, False) + frames(3, 5, True) + frames(5, 8, False), [(0.0, 4.9)]),
        # outside for 2 s (longer than exit_after_s): two visits
        (frames(0, 2, True) + frames(2, 4, False) + frames(4, 6, True) + frames(6, 9, False), [(0.0, 1.9), (4.0, 5.9)]),
        # track ends while inside: the visit closes at the last inside observation
        (frames(0, 1, False) + frames(1, 3, True), [(1.0, 2.9)]),
    ],
)
def test_visits(samples: list[tuple[float, bool]], expected: list[tuple[float, float]]) -> None:
    got = [(round(v.start, 2), round(v.end, 2)) for v in run(samples)]
    assert got == expected


def test_update_tracks_people_independently() -> None:
    monitor = ZoneMonitor(ZoneConfig(id="z", polygon=SQUARE, enter_after_s=0.0, exit_after_s=0.0))
    ended = []
    for t in range(5):
        # person 1 inside throughout; person 2 inside for t < 2, then outside
        feet = np.array([[5.0, 5.0], [5.0, 5.0] if t < 2 else [50.0, 5.0]])
        ended += monitor.update(float(t), [1, 2], feet)
    assert [(tid, v.start, v.end) for tid, v in ended] == [(2, 0.0, 1.0)]
    assert monitor.is_inside(1)
    assert not monitor.is_inside(2)

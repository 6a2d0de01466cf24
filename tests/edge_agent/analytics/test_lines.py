"""Counting lines: direction, once per crossing, no count for wobble within the hysteresis band."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.lines import LineMonitor
from edge_agent.config.models import LineConfig

# a horizontal line from (0, 100) to (200, 100); in image coordinates y grows downwards, so looking
# from start to end (rightwards) the right-hand side is below the line (y > 100)
LINE = LineConfig(id="door", start=(0, 100), end=(200, 100), hysteresis_px=10)


def count(path_y: list[float], x: float = 100.0, line: LineConfig = LINE) -> tuple[int, int]:
    monitor = LineMonitor(line)
    crossings = []
    for t, y in enumerate(path_y):
        crossings += monitor.update(float(t), [1], np.array([[x, y]]))
    return sum(c.direction == "in" for c in crossings), sum(c.direction == "out" for c in crossings)


@pytest.mark.parametrize(
    ("path_y", "expected"),
    [
        ([150, 130, 110, 90, 70, 50], (1, 0)),  # from below (right side) to above: in
        ([50, 70, 90, 110, 130, 150], (0, 1)),  # from above to below: out
        ([150, 130, 105, 95, 104, 96, 103, 97, 130], (0, 0)),  # wobbles inside the band, returns: nothing
        ([150, 80, 120, 80, 120, 80], (3, 2)),  # truly crosses back and forth beyond the band: every crossing
        ([150, 140, 130], (0, 0)),  # never reaches the line
        ([150, 95, 98, 92, 60], (1, 0)),  # jitter on the far side near the line: one crossing only
    ],
)
def test_crossings(path_y: list[float], expected: tuple[int, int]) -> None:
    assert count(path_y) == expected


def test_crossing_outside_the_segment_does_not_count() -> None:
    assert count([150, 50], x=300.0) == (0, 0)


def test_tracks_are_independent_and_forgotten() -> None:
    monitor = LineMonitor(LINE)
    assert monitor.update(0.0, [1, 2], np.array([[50, 150], [60, 50]])) == []
    got = monitor.update(1.0, [1, 2], np.array([[50, 50], [60, 150]]))
    assert sorted((c.track_id, c.direction) for c in got) == [(1, "in"), (2, "out")]
    monitor.forget(1)
    assert monitor.update(2.0, [1], np.array([[50, 150]])) == []  # no memory of track 1's side

"""Heatmap tiles: person-seconds per cell per bucket."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.heatmap import HeatmapAccumulator


def make(bucket: int = 60) -> HeatmapAccumulator:
    return HeatmapAccumulator("s", "c", width=100, height=50, rows=5, cols=10, bucket_seconds=bucket)


def test_person_seconds_land_in_the_right_cell() -> None:
    acc = make()
    for i in range(11):  # 10 fps for one second, one person at (25, 5) and one at (95, 45)
        acc.add(1000.0 + i / 10, np.array([[25.0, 5.0], [95.0, 45.0]]))
    grid = acc.total()
    assert grid[0, 2] == pytest.approx(1.0)
    assert grid[4, 9] == pytest.approx(1.0)
    assert grid.sum() == pytest.approx(2.0)


def test_buckets_split_on_wall_clock_boundaries() -> None:
    acc = make(bucket=60)
    for t in np.arange(50.0, 70.0 + 1e-9, 0.5):
        acc.add(float(t), np.array([[10.0, 10.0]]))
    tiles = acc.tiles()
    assert [t.bucket_start for t in tiles] == [0.0, 60.0]
    assert sum(tiles[0].person_seconds) == pytest.approx(9.5)
    assert sum(tiles[1].person_seconds) == pytest.approx(10.5)
    assert all(len(t.person_seconds) == 50 for t in tiles)


def test_a_stall_does_not_count_as_hours_of_presence() -> None:
    acc = make(bucket=3600)
    acc.add(0.0, np.array([[10.0, 10.0]]))
    acc.add(600.0, np.array([[10.0, 10.0]]))  # the stream stalled for ten minutes
    assert acc.total().sum() == pytest.approx(1.0)

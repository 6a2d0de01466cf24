"""The traffic rollup sums of a push, worked out column by column, equal a plain loop over its summaries."""

from __future__ import annotations

import bisect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.db.schema import BEHAVIOR_COLUMNS, DWELL_BINS_S, DWELL_COLUMNS, UNCLASSIFIED_COLUMN
from central.ingest import rollups
from central.ingest.rollups import TRAFFIC_COUNTERS, Visits

HOUR_START = 1_767_225_600.0  # 2026-01-01T00:00Z


def loop_deltas(v: Visits) -> dict[rollups.TrafficKey, dict[str, float]]:
    """The rollup rule, summary by summary, as the docstring of :mod:`central.ingest.rollups` states it."""
    out: dict[rollups.TrafficKey, dict[str, float]] = {}

    def add(key: rollups.TrafficKey, visits: int, seconds: float, behavior: str) -> None:
        sums = out.setdefault(key, dict.fromkeys(TRAFFIC_COUNTERS, 0))
        sums["visits"] += visits
        sums["dwell_s"] += seconds
        sums[DWELL_COLUMNS[bisect.bisect_right(DWELL_BINS_S, seconds)]] += 1
        sums[behavior] += 1

    for i in range(len(v.start_ts)):
        hour = int(v.start_ts[i] // 3600) * 3600
        label = v.behavior[i]
        behavior = BEHAVIOR_COLUMNS.get(label, UNCLASSIFIED_COLUMN) if label else UNCLASSIFIED_COLUMN
        add((v.store_id[i], v.camera_id[i], "", hour), 1, float(v.dwell_s[i]), behavior)
        for zone, seconds, visits in v.zone_dwell[i]:
            add((v.store_id[i], v.camera_id[i], zone, hour), visits, seconds, behavior)
    return out


summaries = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["cam1", "cam2", "door"]),
        st.floats(HOUR_START, HOUR_START + 50 * 3600),
        st.sampled_from([0.0, 29.999, 30.0, 119.0, 120.0, 300.0, 899.5, 900.0, 3600.0]),
        st.sampled_from([None, "interested", "hesitant", "confused"]),
        st.lists(
            st.tuples(st.sampled_from(["till", "z1", "entrance"]), st.floats(0, 1000), st.integers(1, 4)), max_size=3
        ),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(summaries)
def test_column_sums_equal_the_loop(
    rows: list[tuple[str, str, float, float, str | None, list[tuple[str, float, int]]]],
) -> None:
    visits = Visits(
        [r[0] for r in rows],
        [r[1] for r in rows],
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.float64),
        [r[4] for r in rows],
        [r[5] for r in rows],
    )
    got = rollups.traffic_deltas(visits)
    expected = loop_deltas(visits)
    assert got.keys() == expected.keys()
    for key, sums in expected.items():
        assert got[key] == pytest.approx(sums, rel=1e-12), key


def test_pushes_add_up() -> None:
    one = Visits(["s1"], ["cam1"], np.array([HOUR_START]), np.array([45.0]), ["interested"], [[("till", 20.0, 1)]])
    two = Visits(["s1"], ["cam1"], np.array([HOUR_START + 60]), np.array([10.0]), [None], [[]])
    total = rollups.traffic_deltas(one)
    rollups.add_deltas(total, rollups.traffic_deltas(two))
    camera = total[("s1", "cam1", "", int(HOUR_START))]
    assert (camera["visits"], camera["dwell_s"], camera["dwell_under_30s"], camera["dwell_30s_2m"]) == (2, 55.0, 1, 1)
    assert (camera["n_interested"], camera[UNCLASSIFIED_COLUMN]) == (1, 1)
    assert total[("s1", "cam1", "till", int(HOUR_START))]["visits"] == 1

"""The batch checks of ingest agree with the per-item reference, whatever the item holds."""

from __future__ import annotations

import math
import time

from grpc_fixtures import HOUR_START, columns_of, summary
from hypothesis import example, given, settings
from hypothesis import strategies as st

from central.config import IngestLimits
from central.ingest import convert, validate
from central.ingest.validate import Layout

NOW = time.time()
LIMITS = IngestLimits()
LAYOUTS = {"cam2": Layout(zones=frozenset({"z1", "till"}))}

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1e-9, 1e-3, 11.999, 12.0, 12.0005, 12.001, 50_000.0, 50_000.5, math.nan]),
)
times = st.one_of(
    st.sampled_from([math.nan, 0.0, validate.EARLIEST_TS - 1, HOUR_START, NOW + LIMITS.max_future_s + 1]),
    st.floats(min_value=HOUR_START - 60, max_value=HOUR_START + 13 * 3600),
)
edits = st.fixed_dictionaries(
    {},
    optional={
        "start_ts": times,
        "end_ts": times,
        "distance_m": numbers,
        "mean_speed_mps": numbers,
        "max_speed_mps": numbers,
        "stop_count": st.sampled_from([0, -1, 3, 100_000, 100_001]),
        "track_id": st.sampled_from(["person-42", "0B7C1F4E-0000-4000-8000-000000000001", ""]),
        "store_id": st.sampled_from(["s1", "s2"]),
        "camera_id": st.sampled_from(["cam1", "cam2", "", "bad id", "-x"]),
        "behavior": st.sampled_from([None, "interested", "angry"]),
        "zone_dwell": st.lists(
            st.tuples(st.sampled_from(["z1", "till", "stock room", ""]), numbers, st.integers(-1, 3)), max_size=3
        ),
        "zone_order": st.lists(st.sampled_from(["z1", "till", "nowhere"]), max_size=3),
        "probabilities": st.dictionaries(st.sampled_from(["interested", "hesitant", "angry"]), numbers, max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(edits, min_size=1, max_size=6))
@example([{"mean_speed_mps": 12.0005, "max_speed_mps": 12.0}])  # within 1 mm/s of the top, above the limit
@example([{"probabilities": {"interested": math.nan}}, {"zone_dwell": [("z1", math.inf, 1)]}])
def test_batch_checks_give_the_per_item_answers(changes: list[dict[str, object]]) -> None:
    columns = convert.columns_in(columns_of([summary("s1", camera_id="cam2") for _ in changes]), "s1", NOW)
    for i, change in enumerate(changes):
        for key, value in change.items():
            field = getattr(columns, key)
            if isinstance(value, list | dict):
                field[i] = type(value)(value)
            else:
                field[i] = value
    expected = [validate.check_summary(columns.item(i), "s1", NOW, LIMITS, LAYOUTS) for i in range(len(changes))]
    assert validate.check_summaries(columns, "s1", NOW, LIMITS, LAYOUTS) == expected

"""The fast simdjson reader of ``classify`` gives the same answer as the general one, or declines."""

from __future__ import annotations

import json

import numpy as np
import simdjson
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.behavior.track_reader import ParsedLine, fast_parse, parse_line

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(2**70), max_value=2**70),
)
values = st.one_of(numbers, st.text(max_size=3), st.booleans(), st.none())
rows = st.one_of(
    st.tuples(numbers, numbers, numbers).map(list),
    st.lists(values, max_size=4),
    values,
)
increasing = st.lists(
    st.tuples(st.floats(0.01, 5), st.floats(-50, 50), st.floats(-50, 50)), min_size=1, max_size=40
).map(lambda steps: [[round(sum(s[0] for s in steps[: i + 1]), 3), x, y] for i, (_, x, y) in enumerate(steps)])
track_ids = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.integers(), max_size=2))


def same(a: ParsedLine, b: ParsedLine) -> bool:
    if a.track_id != b.track_id or a.error != b.error or (a.track is None) != (b.track is None):
        return False
    if a.track is None or b.track is None:
        return True
    return bool(np.array_equal(a.track[0], b.track[0]) and np.array_equal(a.track[1], b.track[1]))


@settings(max_examples=400, deadline=None)
@given(
    track_id=track_ids,
    points=st.one_of(increasing, st.lists(rows, max_size=6), values),
    points_first=st.booleans(),
    extra=st.dictionaries(st.sampled_from(["camera", "note", "[x]"]), values, max_size=2),
)
def test_fast_reader_agrees_or_declines(track_id: object, points: object, points_first: bool, extra: dict) -> None:
    obj = {"points": points, "track_id": track_id} if points_first else {"track_id": track_id, "points": points}
    line = json.dumps({**obj, **extra}).encode()
    fast = fast_parse(simdjson.Parser(), line)
    if fast is not None:
        assert same(fast, parse_line(line)), (line, fast, parse_line(line))


def test_the_common_line_takes_the_fast_path() -> None:
    line = b'{"track_id": "t1", "points": [[0, 1.2, 3.4], [0.1, 1.31, 3.42], [0.2, 1.4, 3.5]]}'
    parser = simdjson.Parser()
    assert fast_parse(parser, b"not json") is None
    for _ in range(3):  # the parser is reused, line after line
        fast = fast_parse(parser, line)
        assert fast is not None
        assert fast.track is not None
    assert fast.track_id == "t1"
    np.testing.assert_array_equal(fast.track[1], [[1.2, 3.4], [1.31, 3.42], [1.4, 3.5]])


def test_a_line_that_is_not_triples_is_left_to_the_general_reader() -> None:
    parser = simdjson.Parser()
    for line in (
        b'{"track_id": "t", "points": [[0, 1, 2, 3], [1, 2], [2, 3, 4]]}',  # 9 numbers, wrong shape
        b'{"track_id": "t", "points": [[0, 1, [2]], [1, 2, 3], [2, 3, 4]]}',
        b'{"track_id": "t", "points": [[0, 1, NaN], [1, 2, 3], [2, 3, 4]]}',
        b'{"track_id": "a[b", "points": [[0, 1, 2], [1, 2, 3], [2, 3, 4]]}',
    ):
        assert fast_parse(parser, line) is None, line
    assert parse_line(b'{"track_id": "t", "points": [[0, 1, 2, 3], [1, 2], [2, 3, 4]]}').error is not None

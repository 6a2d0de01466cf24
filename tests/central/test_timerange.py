"""Time ranges of REST queries: parsing, defaults, errors and caps, as tables."""

from __future__ import annotations

import pytest

from central.api.timerange import (
    MAX_SPAN_S,
    Bucket,
    InvalidTimeError,
    TimeRange,
    iso,
    parse_time,
    resolve_range,
)
from central.timebuckets import DAY, HOUR

T = 1_795_132_800.0  # 2026-11-20T00:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795132800", T),
        ("1795132800.25", T + 0.25),
        ("2026-11-20", T),
        ("2026-11-20T08:00", T + 8 * HOUR),
        ("2026-11-20T08:00:00Z", T + 8 * HOUR),
        ("2026-11-20T08:00:00z", T + 8 * HOUR),
        ("2026-11-20T08:00:00+02:00", T + 6 * HOUR),
        ("2026-11-20 08:00:00.5-01:00", T + 9 * HOUR + 0.5),
        (" 2026-11-20 ", T),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, "from") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "neither epoch seconds nor an ISO-8601"),
        ("2026-02-30", "ISO-8601"),
        ("-5", "outside 1970-01-01"),
        ("1e300", "outside"),
        ("nan", "outside"),
        ("inf", "outside"),
        ("2100-01-02", "outside"),
        ("9999-12-31T23:59:59-14:00", "outside"),
    ],
)
def test_parse_time_refuses(text: str, message: str) -> None:
    with pytest.raises(InvalidTimeError, match=message) as caught:
        parse_time(text, "to")
    assert caught.value.param == "to"


@pytest.mark.parametrize(
    ("start", "end", "expected", "capped"),
    [
        (None, None, (T - 7 * DAY, T), False),
        ("2026-11-19", None, (T - DAY, T), False),
        (None, "2026-11-10", (T - 17 * DAY, T - 10 * DAY), False),
        ("0", None, (T - MAX_SPAN_S[Bucket.DAY], T), True),
        ("2026-11-20", "2026-11-20", (T, T), False),
    ],
)
def test_resolve_range(start: str | None, end: str | None, expected: tuple[float, float], capped: bool) -> None:
    rng = resolve_range(start, end, now=T, max_span_s=MAX_SPAN_S[Bucket.DAY])
    assert (rng.start, rng.end, rng.capped) == (*expected, capped)


def test_from_after_to_names_from() -> None:
    with pytest.raises(InvalidTimeError, match=r"from \(2026-11-20T00:00:00Z\) is after to") as caught:
        resolve_range("2026-11-20", "2026-11-19", now=T, max_span_s=DAY)
    assert caught.value.param == "from"


@pytest.mark.parametrize(
    ("rng", "bucket", "starts"),
    [
        (TimeRange(T + 30 * 60, T + 2 * HOUR), Bucket.HOUR, [T, T + HOUR]),
        (TimeRange(T + 30 * 60, T + 2 * HOUR + 1), Bucket.HOUR, [T, T + HOUR, T + 2 * HOUR]),
        (TimeRange(T + HOUR, T + DAY + 1), Bucket.DAY, [T, T + DAY]),
        (TimeRange(T, T), Bucket.HOUR, []),
    ],
)
def test_buckets_overlapping_a_range_are_whole(rng: TimeRange, bucket: Bucket, starts: list[float]) -> None:
    assert rng.buckets(bucket) == starts


def test_iso() -> None:
    assert iso(T) == "2026-11-20T00:00:00Z"
    assert iso(T + 0.5) == "2026-11-20T00:00:00.500000Z"

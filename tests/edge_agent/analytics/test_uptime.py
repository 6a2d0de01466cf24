"""A camera's connected seconds per bucket: plain tables of connects, disconnects and takes."""

from __future__ import annotations

import pytest

from edge_agent.analytics.uptime import UptimeMeter

B = 900  # bucket seconds
T0 = 1_800_000_000.0  # a multiple of 900


@pytest.mark.parametrize(
    ("events", "take_at", "expected"),
    [
        ([], T0 + B, [0.0]),  # never connected: a bucket of zero, not nothing
        ([(T0, True)], T0 + 2 * B, [900.0, 900.0]),
        ([(T0, True), (T0 + 300, False), (T0 + 600, True)], T0 + B, [600.0]),
        ([(T0 + 100, True), (T0 + 1000, False)], T0 + 2 * B, [800.0, 100.0]),  # spans a bucket edge
        ([(T0, True), (T0, True), (T0 + 450, False), (T0 + 450, False)], T0 + B, [450.0]),  # repeats change nothing
        ([(T0, True)], T0 + B - 1, []),  # the bucket has not ended
    ],
)
def test_connected_seconds_per_bucket(events: list[tuple[float, bool]], take_at: float, expected: list[float]) -> None:
    meter = UptimeMeter("cam1", B, T0)
    for at, connected in events:
        meter.set_connected(connected, at)
    taken = meter.take_closed(take_at)
    assert [u.seconds_up for u in taken] == expected
    assert [u.bucket_start for u in taken] == [T0 + i * B for i in range(len(expected))]
    assert meter.take_closed(take_at) == []  # each bucket once


def test_a_meter_started_mid_bucket_counts_only_what_it_saw_and_closing_takes_the_current_bucket() -> None:
    meter = UptimeMeter("cam1", B, T0 + 600)
    meter.set_connected(True, T0 + 600)
    assert [(u.bucket_start, u.seconds_up) for u in meter.take_closed(T0 + B + 100)] == [(T0, 300.0)]
    assert [(u.bucket_start, u.seconds_up) for u in meter.take_all(T0 + B + 100)] == [(T0 + B, 100.0)]


@pytest.mark.parametrize("seconds", [0, 7200, 700])
def test_buckets_that_do_not_divide_an_hour_are_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match="does not divide an hour"):
        UptimeMeter("cam1", seconds, T0)

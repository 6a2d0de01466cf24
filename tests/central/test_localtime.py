"""A store's local hours and days over UTC-hour rollups: plain tables, no database."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timezone

import pytest

from central.localtime import LocalClock, zone_problem
from central.timebuckets import HOUR


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Europe/Paris", None),
        ("Asia/Kolkata", None),
        ("UTC", None),
        ("Mars/Olympus_Mons", "is not an IANA time zone name"),
        ("", "is not an IANA time zone name"),
        ("europe/paris", "is not an IANA time zone name"),
        ("../../etc/passwd", "is not an IANA time zone name"),
    ],
)
def test_zone_names_are_checked(name: str, problem: str | None) -> None:
    found = zone_problem(name)
    assert found is None if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        ("UTC", date(2026, 11, 20), "2026-11-20T00:00", 24),
        ("Europe/Paris", date(2026, 11, 20), "2026-11-19T23:00", 24),
        ("Europe/Paris", date(2026, 3, 29), "2026-03-28T23:00", 23),  # clocks go forward at 02:00
        ("Europe/Paris", date(2026, 10, 25), "2026-10-24T22:00", 25),  # and back at 03:00
        ("America/New_York", date(2026, 11, 1), "2026-11-01T04:00", 25),
        ("Asia/Kolkata", date(2026, 11, 20), "2026-11-19T19:00", 24),  # 00:30 local: the first whole UTC hour
        ("Australia/Adelaide", date(2026, 11, 20), "2026-11-19T14:00", 24),  # +10:30 in summer: 00:30 local
        ("Australia/Adelaide", date(2026, 4, 5), "2026-04-04T14:00", 25),  # +10:30 -> +09:30
        ("Australia/Adelaide", date(2026, 10, 4), "2026-10-03T15:00", 23),  # +09:30 -> +10:30
    ],
)
def test_local_days_are_unions_of_utc_hours(zone: str, day: date, start: str, hours: int) -> None:
    clock = LocalClock(zone)
    first = clock.day_start(day)
    assert first == utc(start)
    assert clock.day_start(date.fromordinal(day.toordinal() + 1)) - first == hours * HOUR
    assert {clock.date_of(h) for h in range(first, first + hours * HOUR, HOUR)} == {day}


@pytest.mark.parametrize(
    ("zone", "hour", "local", "hour_of_day"),
    [
        ("Europe/Paris", "2026-10-25T00:00", "2026-10-25T02:00:00+02:00", 2),
        ("Europe/Paris", "2026-10-25T01:00", "2026-10-25T02:00:00+01:00", 2),  # the repeated hour, told apart
        ("Asia/Kolkata", "2026-11-20T04:00", "2026-11-20T09:30:00+05:30", 9),  # 09:30-10:30 local
        ("Asia/Kolkata", "2026-11-19T18:00", "2026-11-19T23:30:00+05:30", 23),  # the last hour of the 19th
        ("Asia/Kathmandu", "2026-11-20T04:00", "2026-11-20T09:45:00+05:45", 9),
    ],
)
def test_hours_are_labelled_by_their_local_start(zone: str, hour: str, local: str, hour_of_day: int) -> None:
    clock = LocalClock(zone)
    assert clock.iso(utc(hour)) == local
    assert clock.hour_of_day(utc(hour)) == hour_of_day


def test_day_starts_cover_a_range_and_the_day_after() -> None:
    clock = LocalClock("Europe/Paris")
    starts = clock.day_starts(utc("2026-10-24T12:00"), utc("2026-10-26T12:00"))
    assert starts == [
        utc("2026-10-23T22:00"),
        utc("2026-10-24T22:00"),
        utc("2026-10-25T23:00"),
        utc("2026-10-26T23:00"),
    ]


@pytest.mark.parametrize(
    ("zone", "lo", "hi", "cuts"),
    [
        ("UTC", "2026-01-01T00:00", "2027-01-01T00:00", [("2026-01-01T00:00", 0)]),
        (
            "Europe/Paris",
            "2026-03-01T00:00",
            "2026-11-01T00:00",
            [("2026-03-01T00:00", 3600), ("2026-03-29T01:00", 7200), ("2026-10-25T01:00", 3600)],
        ),
        ("Asia/Kolkata", "2026-01-01T00:00", "2026-12-01T00:00", [("2026-01-01T00:00", 19800)]),
    ],
)
def test_offsets_change_at_the_transitions_only(zone: str, lo: str, hi: str, cuts: list[tuple[str, int]]) -> None:
    segments = LocalClock(zone).segments(utc(lo), utc(hi))
    assert [(s.start, s.offset) for s in segments] == [(utc(t), off) for t, off in cuts]
    assert segments[-1].end == utc(hi)
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))

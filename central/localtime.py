"""A store's local hours and days over rollups kept per UTC hour (pure logic: zoneinfo, no database).

Rollups are summed per UTC hour, so every local bucket is a union of whole UTC hours:

- **hour**: each UTC hour is one bucket, labelled by the local time it starts at. In zones whose offset is a
  whole number of hours this is exactly the local hour. In zones offset by a fraction of an hour
  (Asia/Kolkata +05:30, Australia/Adelaide +09:30/+10:30, Asia/Kathmandu +05:45) the bucket keeps its UTC
  edges and is labelled by its local start: 09:30-10:30 in Kolkata. Splitting an hour's visits between two
  local hours would invent numbers the rollup does not hold.
- **day**: the UTC hours whose local start falls on that local date. A day has 23 hours on the day clocks go
  forward and 25 on the day they go back. Where the offset is a fraction of an hour the day runs from the
  first hour starting after local midnight: 00:30-00:30 in Kolkata.
- **hour of day** (the overview's busiest hour): the local hour of each bucket's start (9 for 09:30).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from central.timebuckets import DAY, HOUR

DEFAULT_ZONE: Final = "UTC"
ZONE_NAME_MAX: Final = 64


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone this server knows, or None."""
    if not name or len(name) > ZONE_NAME_MAX or name not in _known_zones():
        return (
            f"time zone {name[:80]!r} is not an IANA time zone name this server knows "
            "(such as Europe/Paris, America/New_York, Asia/Kolkata or UTC)"
        )
    return None


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The zone of a stored name; UTC for one this server's tzdata no longer knows (a store keeps answering)."""
    try:
        return ZoneInfo(name) if zone_problem(name) is None else ZoneInfo(DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _ceil_hour(ts: float) -> int:
    return -int(-ts // HOUR) * HOUR


@dataclass(frozen=True)
class Segment:
    """Hours ``[start, end)`` (UTC epoch seconds) over which the zone's offset stays ``offset`` seconds."""

    start: int
    end: int
    offset: int


@dataclass(frozen=True)
class LocalClock:
    """A store's clock: which local hour and day each UTC hour of the rollups belongs to."""

    name: str

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.name)

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz=self.tz)

    def offset(self, ts: float) -> int:
        """Seconds the local clock is ahead of UTC at ``ts``."""
        delta = self.local(ts).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def iso(self, ts: float) -> str:
        """``2026-11-20T09:30:00+05:30``: the local time with its offset."""
        return self.local(ts).isoformat(timespec="seconds")

    def hour_of_day(self, hour: int) -> int:
        """0-23: the local hour the UTC hour starting at ``hour`` starts in."""
        return self.local(hour).hour

    def date_of(self, hour: int) -> date:
        """The local date of the day the UTC hour starting at ``hour`` belongs to."""
        return self.local(hour).date()

    def day_start(self, day: date) -> int:
        """The first UTC hour whose local start falls on ``day`` (epoch seconds)."""
        midnight = datetime.combine(day, time(0), tzinfo=self.tz).timestamp()
        start = _ceil_hour(midnight)
        while self.date_of(start) < day:  # a midnight that did not happen (clocks went forward at 00:00)
            start += HOUR
        while self.date_of(start - HOUR) >= day:
            start -= HOUR
        return start

    def day_of(self, ts: float) -> int:
        """UTC start of the local day ``ts`` lies in (the day of the UTC hour it lies in)."""
        return self.day_start(self.date_of(int(ts // HOUR) * HOUR))

    def day_starts(self, start: float, end: float) -> list[int]:
        """UTC starts of the local days that overlap ``[start, end)``, and of the day after the last."""
        first = self.date_of(int(start // HOUR) * HOUR)
        last_hour = _ceil_hour(end) - HOUR if end > start else int(start // HOUR) * HOUR
        last = self.date_of(last_hour)
        days = (last - first).days
        return [self.day_start(first + timedelta(days=i)) for i in range(days + 2)]

    def segments(self, lo: int, hi: int) -> list[Segment]:
        """Hours ``[lo, hi)`` cut where the offset changes; offsets are sampled daily and each change is
        searched to the hour (zones change offset at most a few times a year)."""
        out: list[Segment] = []
        seg_start, current = lo, self.offset(lo)
        probe = lo
        while probe + HOUR < hi:
            nxt = min(probe + DAY, hi - HOUR)
            if self.offset(nxt) == current:
                probe = nxt
                continue
            a, b = probe, nxt  # offset(a) is the current one, offset(b) is not: find the first hour that changed
            while b - a > HOUR:
                mid = a + (b - a) // HOUR // 2 * HOUR
                a, b = (mid, b) if self.offset(mid) == current else (a, mid)
            out.append(Segment(seg_start, b, current))
            seg_start, current, probe = b, self.offset(b), b
        out.append(Segment(seg_start, hi, current))
        return out


UTC_CLOCK: Final = LocalClock(DEFAULT_ZONE)


def utc_date(local_midnight: int) -> date:
    """The date of a local-epoch day label (``local seconds - local seconds % 86400``)."""
    return datetime.fromtimestamp(local_midnight, tz=timezone.utc).date()

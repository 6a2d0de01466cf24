"""Time ranges of REST queries: ISO-8601 or epoch seconds in, a validated, capped UTC range out.

Pure logic (no FastAPI, no database) so the rules are tested with plain tables.
A range is half-open, ``[start, end)``; a rollup bucket belongs to it when the
bucket overlaps it, so ``from=10:30`` still shows the 10:00 hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Final

from central.timebuckets import DAY, HOUR

MIN_TS: Final = 0.0  # 1970-01-01
MAX_TS: Final = 4_102_444_800.0  # 2100-01-01: nothing this service stores lies later
DEFAULT_SPAN_S: Final = 7 * DAY


class Bucket(str, Enum):
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return HOUR if self is Bucket.HOUR else DAY


# Longest range a query covers; a longer one keeps its end and is cut at the start (``capped``).
MAX_SPAN_S: Final = {Bucket.HOUR: 92 * DAY, Bucket.DAY: 1096 * DAY}


class InvalidTimeError(ValueError):
    """A time or range that cannot be used; ``param`` names the query parameter at fault."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def parse_time(value: str, param: str) -> float:
    """Epoch seconds (``1763596800``, ``1763596800.5``) or ISO-8601 (``2026-11-20``, ``2026-11-20T08:00:00Z``).

    A time without an offset is UTC.
    """
    text = value.strip()
    try:
        ts = float(text)
    except ValueError:
        ts = _parse_iso(text, param)
    if not math.isfinite(ts) or not MIN_TS <= ts <= MAX_TS:
        raise InvalidTimeError(param, f"{param}={value!r} lies outside 1970-01-01 .. 2100-01-01")
    return ts


def _parse_iso(text: str, param: str) -> float:
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
    except ValueError:
        raise InvalidTimeError(
            param, f"{param}={text!r} is neither epoch seconds nor an ISO-8601 time such as 2026-11-20T08:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        raise InvalidTimeError(param, f"{param}={text!r} lies outside 1970-01-01 .. 2100-01-01") from None


def floor_to(ts: float, seconds: int) -> int:
    return int(ts // seconds) * seconds


def iso(ts: float) -> str:
    """``2026-11-20T08:00:00Z``; fractions of a second only where there are some."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float
    capped: bool = False

    def bounds(self, bucket: Bucket) -> tuple[int, int]:
        """``[lo, hi)`` made of whole buckets: every bucket that overlaps the range.

        Integers, so that comparisons with the integer ``hour``/``day`` columns use their indexes.
        """
        return floor_to(self.start, bucket.seconds), -floor_to(-self.end, bucket.seconds)

    def buckets(self, bucket: Bucket) -> list[int]:
        """Starts of every bucket that overlaps the range, in order."""
        lo, hi = self.bounds(bucket)
        return list(range(lo, hi, bucket.seconds))


def resolve_range(
    start: str | None, end: str | None, now: float, max_span_s: float, default_span_s: float = DEFAULT_SPAN_S
) -> TimeRange:
    """The range a query asked for: ``to`` defaults to now, ``from`` to ``default_span_s`` before ``to``.

    ``from`` after ``to`` is an error; a span over ``max_span_s`` is cut at its start.
    """
    end_ts = parse_time(end, "to") if end is not None else min(now, MAX_TS)
    start_ts = parse_time(start, "from") if start is not None else max(end_ts - default_span_s, MIN_TS)
    if start_ts > end_ts:
        raise InvalidTimeError("from", f"from ({iso(start_ts)}) is after to ({iso(end_ts)})")
    if end_ts - start_ts > max_span_s:
        return TimeRange(end_ts - max_span_s, end_ts, capped=True)
    return TimeRange(start_ts, end_ts)

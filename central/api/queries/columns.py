"""What every rollup read shares: bucket bounds and expressions over the integer ``hour`` column, and
NULL-safe numbers and stored JSON read back from rows."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Executable, Row, case, func, literal_column, select
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.timerange import Bucket, TimeRange
from central.localtime import LocalClock
from central.timebuckets import DAY, HOUR
from retail_common.fields import INT32_MAX

logger = logging.getLogger(__name__)


UNCLASSIFIED = "unclassified"
STREAM_ROWS = 2000  # rows fetched at a time by reads that may stop early


class ResponseTooLargeError(ValueError):
    """The response would pass a bound of :class:`~central.config.ResponseLimits`; the message names the bound
    and how to narrow the request."""


def streamed(conn: Connection, query: Executable) -> Iterator[Row[Any]]:
    """The query's rows a few thousand at a time (a server-side cursor on PostgreSQL), so that a read that
    stops at a bound has not fetched the rest."""
    result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
    try:
        yield from result
    finally:
        result.close()


def series_count(
    conn: Connection, keys: Sequence[KeyedColumnElement[Any]], where: Sequence[ColumnElement[bool]], most: int
) -> int:
    """How many distinct ``keys`` (series) the rows matching ``where`` have, counted up to ``most + 1``: the
    database stops reading there, so that a request past the bound is refused before anything is grouped."""
    distinct = select(*keys).where(*where).distinct().limit(most + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(distinct)).scalar_one())


def series_cap(max_points: int, buckets: int) -> int:
    """How many series of ``buckets`` points fit in ``max_points`` (at least one)."""
    return max(1, max_points // max(buckets, 1))


def too_many_series(what: str, series: int, buckets: int, bucket_name: str, max_points: int, narrow: str) -> str:
    return (
        f"{what} would return more than {series} series x {buckets} {bucket_name}s, over the {max_points} points "
        f"one response may hold (responses.max_points): narrow the request ({narrow})"
    )


def bounds(rng: TimeRange, bucket: Bucket) -> tuple[int, int]:
    """The range's bounds in ``bucket``s; ``hour`` and ``day`` are 32-bit integers on PostgreSQL, so bounds
    past 2038-01-19 are clamped to the largest one."""
    lo, hi = rng.bounds(bucket)
    return min(lo, INT32_MAX), min(hi, INT32_MAX)


def _int(value: int) -> ColumnElement[Any]:
    """An integer inlined in the SQL text, so that GROUP BY repeats the selected expression exactly."""
    return literal_column(str(int(value)))


def _day_label(day: date) -> int:
    """The label :meth:`Buckets.expr` gives a local day: its midnight counted in local seconds since 1970."""
    return (day - date(1970, 1, 1)).days * DAY


@dataclass(frozen=True)
class Buckets:
    """The buckets of one series in a store's local time (see :mod:`central.localtime`), over rollups keyed by
    UTC hour: ``starts`` are the UTC starts of the buckets that overlap the range, ``[lo, hi)`` the hours they
    cover (integers, so that comparisons with the ``hour`` columns use their indexes)."""

    bucket: Bucket
    clock: LocalClock
    starts: list[int]
    lo: int
    hi: int
    _start_of_label: dict[int, int] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, rng: TimeRange, bucket: Bucket, clock: LocalClock) -> Buckets:
        if bucket is Bucket.HOUR:
            lo, hi = bounds(rng, bucket)
            return cls(bucket, clock, list(range(lo, hi, HOUR)), lo, hi)
        days = clock.day_starts(rng.start, rng.end)
        starts = days[:-1]
        labels = {_day_label(clock.date_of(s)): s for s in starts}
        return cls(bucket, clock, starts, min(days[0], INT32_MAX), min(days[-1], INT32_MAX), labels)

    def __len__(self) -> int:
        return len(self.starts)

    def end_of(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.hi

    def spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` of each bucket, UTC epoch seconds."""
        return [(s, self.end_of(i)) for i, s in enumerate(self.starts)]

    def expr(self, hour: KeyedColumnElement[Any]) -> ColumnElement[Any]:
        """The bucket label of a rollup row's UTC ``hour``: the hour itself, or its local day's midnight in local
        seconds (the offset of each stretch of hours inlined as a CASE; :meth:`start_of` maps it back)."""
        if self.bucket is Bucket.HOUR:
            return hour
        segments = self.clock.segments(self.lo, self.hi)
        if len(segments) == 1:
            shifted = hour + _int(segments[0].offset) if segments[0].offset else hour
        else:
            offset = case(
                *((hour < _int(seg.end), _int(seg.offset)) for seg in segments[:-1]), else_=_int(segments[-1].offset)
            )
            shifted = hour + offset
        return shifted - shifted % _int(DAY)

    def start_of(self, label: int) -> int:
        """The UTC start of the bucket a row labelled ``label`` by :meth:`expr` belongs to."""
        return label if self.bucket is Bucket.HOUR else self._start_of_label[label]

    def local(self, start: int) -> str:
        """A bucket's start in local time, with its offset."""
        return self.clock.iso(start)


def as_int(value: Any) -> int:
    return int(value or 0)


def as_float(value: Any) -> float:
    return float(value or 0.0)


def mean_of(total: float, count: int) -> float | None:
    return total / count if count else None


def parse_json(text: str | None, default: Any, what: str) -> Any:
    if not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        logger.warning("unreadable JSON in %s: %.80r", what, text)
        return default

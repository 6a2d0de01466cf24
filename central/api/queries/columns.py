"""What every rollup read shares: bucket bounds and expressions over the integer ``hour`` column, and
NULL-safe numbers and stored JSON read back from rows."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Executable, Row, func, literal_column, select
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.timerange import Bucket, TimeRange
from central.timebuckets import DAY
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


def bucket_expr(hour: KeyedColumnElement[Any], bucket: Bucket) -> ColumnElement[Any]:
    if bucket is Bucket.HOUR:
        return hour
    day: ColumnElement[Any] = literal_column(str(DAY))
    return hour - hour % day


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

"""What every rollup read shares: bucket bounds and expressions over the integer ``hour`` column, and
NULL-safe numbers and stored JSON read back from rows."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.timerange import Bucket, TimeRange
from central.timebuckets import DAY

logger = logging.getLogger(__name__)


UNCLASSIFIED = "unclassified"


# ``hour`` and ``day`` are 32-bit integers on PostgreSQL: bounds past 2038-01-19 are clamped to the largest one
INT32_MAX = 2**31 - 1


def bounds(rng: TimeRange, bucket: Bucket) -> tuple[int, int]:
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

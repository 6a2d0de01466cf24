"""Counting lines: people in and out per hour or day, from the rollup ``line_hourly``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from central.api.deps import ID_MAX, ID_PATTERN, CameraId, Conn, Context, Series, too_large
from central.api.errors import responses
from central.api.models import LinesOut
from central.api.queries import lines as line_queries
from central.api.queries.columns import ResponseTooLargeError

router = APIRouter(prefix="/stores/{store_id}", tags=["analytics"])


@router.get("/lines", responses=responses(404), summary="In and out counts per line and bucket")
def line_counts(
    conn: Conn,
    ctx: Context,
    series: Series,
    camera_id: CameraId,
    line_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX, description="one line only")] = None,
) -> LinesOut:
    """Lines times buckets past ``responses.max_points`` are refused with a 422 saying how to narrow the request.
    Hours and days are the store's local ones; a bucket in which the line's camera was down has null counts."""
    most = ctx.settings.responses.max_points
    try:
        return line_queries.line_counts(conn, series, camera_id, line_id, most)
    except ResponseTooLargeError as e:
        raise too_large(e) from None

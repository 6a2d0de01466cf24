"""Counting lines: people in and out per hour or day, from the rollup ``line_hourly``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from central.api.deps import ID_MAX, ID_PATTERN, CameraId, Conn, Store, Window
from central.api.errors import responses
from central.api.models import LinesOut
from central.api.queries import lines as line_queries

router = APIRouter(prefix="/stores/{store_id}", tags=["analytics"])


@router.get("/lines", responses=responses(404), summary="In and out counts per line and bucket")
def line_counts(
    conn: Conn,
    store: Store,
    window: Window,
    camera_id: CameraId,
    line_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX, description="one line only")] = None,
) -> LinesOut:
    return line_queries.line_counts(conn, store.store_id, window.range, window.bucket, camera_id, line_id)

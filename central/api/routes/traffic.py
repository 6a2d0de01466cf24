"""Traffic, dwell and behaviour of a store: series over the hourly rollup ``traffic_hourly``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from central.api.deps import CameraId, Conn, Context, Series, ZoneFilter, too_large
from central.api.errors import responses
from central.api.models import BehaviorOut, DwellOut, GroupBy, TrafficOut
from central.api.queries import traffic as traffic_queries
from central.api.queries.columns import ResponseTooLargeError

router = APIRouter(prefix="/stores/{store_id}", tags=["analytics"])

GroupByParam = Annotated[
    GroupBy,
    Query(description="`none`: one series; `camera`: one per camera; `zone`: one per camera and zone"),
]


@router.get("/traffic", responses=responses(404), summary="Visits per hour or day")
def traffic(
    conn: Conn,
    ctx: Context,
    series: Series,
    camera_id: CameraId,
    zone_id: ZoneFilter = None,
    group_by: GroupByParam = GroupBy.NONE,
) -> TrafficOut:
    """A visit is a track seen by a camera (whole view) or one entry into a zone (``zone_id``, ``group_by=zone``).

    Series times buckets past the configured maximum (``responses.max_points``) are refused with a 422 that
    says how to narrow the request: fewer days, ``bucket=day`` or one camera.

    Hours and days are the store's local ones. A bucket in which a camera the series sums was disconnected or
    unreported is ``missing`` with ``visits`` null, never 0."""
    most = ctx.settings.responses.max_points
    try:
        return traffic_queries.traffic(conn, series, camera_id, zone_id, group_by, most)
    except ResponseTooLargeError as e:
        raise too_large(e) from None


@router.get("/dwell", responses=responses(404), summary="Dwell: mean, total and distribution, with a series")
def dwell(conn: Conn, series: Series, camera_id: CameraId, zone_id: ZoneFilter = None) -> DwellOut:
    """Missing buckets (a camera down) have null values and are left out of the totals and bins."""
    return traffic_queries.dwell(conn, series, camera_id, zone_id)


@router.get("/behavior", responses=responses(404), summary="Behaviour distribution and its trend per bucket")
def behavior(conn: Conn, series: Series, camera_id: CameraId, zone_id: ZoneFilter = None) -> BehaviorOut:
    """Missing buckets (a camera down) have null counts and are left out of the distribution."""
    return traffic_queries.behavior(conn, series, camera_id, zone_id)

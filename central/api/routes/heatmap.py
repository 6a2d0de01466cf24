"""Heatmaps of a camera: person-seconds per cell summed over the days of a range, as JSON or as a PNG."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Response

from central.api.deps import ID_MAX, ID_PATTERN, Conn, Context, Range, Store
from central.api.errors import ApiError, not_found, responses
from central.api.models import HeatmapOut, RangeOut
from central.api.queries import heatmap as heatmap_queries
from central.api.queries import stores as store_queries
from central.api.render import heatmap_over, heatmap_png
from central.api.timerange import TimeRange, iso
from central.backgrounds import get_background

router = APIRouter(prefix="/stores/{store_id}", tags=["heatmap"])

CameraParam = Annotated[str, Query(pattern=ID_PATTERN, max_length=ID_MAX, description="the camera whose view it is")]


def _grid(
    conn: Conn, store: store_queries.StoreRef, camera_id: str, rng: TimeRange
) -> heatmap_queries.HeatmapGrid | None:
    if not store_queries.camera_exists(conn, store.store_id, camera_id):
        raise not_found(f"camera {camera_id!r} of store {store.store_id!r}")
    return heatmap_queries.heatmap_grid(conn, store.store_id, camera_id, rng)


@router.get("/heatmap", responses=responses(404), summary="A camera's heatmap grid summed over the range's days")
def heatmap(conn: Conn, store: Store, rng: Range, camera_id: CameraParam) -> HeatmapOut:
    """Days are UTC; every day that overlaps the range counts whole. No tiles: an empty 0 x 0 grid."""
    grid = _grid(conn, store, camera_id, rng)
    cells = grid.cells if grid is not None else None
    return HeatmapOut(
        store_id=store.store_id,
        camera_id=camera_id,
        range=RangeOut.of(rng),
        rows=cells.shape[0] if cells is not None else 0,
        cols=cells.shape[1] if cells is not None else 0,
        days=grid.days if grid is not None else 0,
        days_skipped=grid.days_skipped if grid is not None else 0,
        max=float(cells.max()) if cells is not None and cells.size else 0.0,
        total_person_s=float(cells.sum(dtype="f8")) if cells is not None else 0.0,
        cells=cells.astype(np.float64).round(3).tolist() if cells is not None else [],
    )


@router.get(
    "/heatmap.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "the grid, one block per cell"},
        **responses(404, 503),
    },
    summary="A camera's heatmap as a PNG",
)
def heatmap_image(
    ctx: Context,
    conn: Conn,
    store: Store,
    rng: Range,
    camera_id: CameraParam,
    scale: Annotated[
        int, Query(ge=1, le=64, description="pixels per cell (lowered to keep sides within http.max_png_side_px)")
    ] = 16,
    background: Annotated[
        bool,
        Query(description="over the camera's background picture where an admin uploaded one (`scale` then unused)"),
    ] = True,
) -> Response:
    """The grid stretched over the camera's background picture (an admin's upload: a floor plan, or the
    background plate ``retail-edge analyze`` writes to ``heatmap.png``), or over a plain grid of cells."""
    grid = _grid(conn, store, camera_id, rng)
    if grid is None:
        raise not_found(
            f"heatmap of camera {camera_id!r} of store {store.store_id!r} between {iso(rng.start)} and {iso(rng.end)}"
        )
    if not ctx.png_slots.acquire(blocking=False):
        raise ApiError(
            503,
            f"{ctx.settings.max_png_renders} heatmap PNGs are being rendered already; retry shortly",
            headers={"Retry-After": "1"},
        )
    picture = get_background(conn, store.store_id, camera_id) if background else None
    try:
        if picture is not None:
            png = heatmap_over(grid.cells, picture.image, ctx.settings.max_png_side_px)
        else:
            png = heatmap_png(grid.cells, scale, ctx.settings.max_png_side_px)
    finally:
        ctx.png_slots.release()
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

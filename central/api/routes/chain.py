"""``GET /overview``: every store of the chain on one page, as the dashboard's chain overview shows them."""

from __future__ import annotations

import time

from fastapi import APIRouter

from central.api.chain_models import ChainOverviewOut
from central.api.deps import Conn, Context, Limit, Offset, Range
from central.api.queries import chain as chain_queries

router = APIRouter(tags=["stores"])


@router.get("/overview", summary="Every store: visits today and over the range, change, dwell, mix, agents, gaps")
def chain_overview(conn: Conn, ctx: Context, rng: Range, limit: Limit = 100, offset: Offset = 0) -> ChainOverviewOut:
    """One page of stores by id, each with its visits over its local today and over ``[from, to)`` (whole UTC
    hours), over the period of the same length before it and the change, mean dwell, behaviour mix, its agents'
    status and whether some hour of the range is missing data. Six grouped reads of the rollups per page,
    whatever its size."""
    settings = ctx.settings
    return chain_queries.chain_overview(conn, rng, limit, offset, time.time(), settings.online_window_s, settings.gaps)

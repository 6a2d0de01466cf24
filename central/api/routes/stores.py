"""Stores with their cameras, zones and lines, and the store overview the dashboard opens with."""

from __future__ import annotations

import time

from fastapi import APIRouter

from central.api.deps import Admin, Conn, Context, Limit, Offset, Range, Store, too_large
from central.api.errors import invalid, not_found, responses
from central.api.models import OverviewOut, StoreChange, StoreList, StoreOut
from central.api.queries import overview as overview_queries
from central.api.queries import stores as store_queries
from central.api.queries.columns import ResponseTooLargeError
from central.localtime import zone_problem
from central.stores import StoreError, change_store

router = APIRouter(prefix="/stores", tags=["stores"])


@router.get("", summary="Stores with their cameras, zones and lines")
def list_stores(conn: Conn, ctx: Context, limit: Limit = 100, offset: Offset = 0) -> StoreList:
    """A page's cameras, zones and lines past ``responses.max_layout_ids`` are refused with a 422."""
    try:
        return store_queries.list_stores(conn, limit, offset, ctx.settings.responses.max_layout_ids)
    except ResponseTooLargeError as e:
        raise too_large(e) from None


@router.get("/{store_id}", responses=responses(404), summary="One store with its cameras, zones and lines")
def get_store(conn: Conn, ctx: Context, store: Store) -> StoreOut:
    try:
        return store_queries.get_store(conn, store.store_id, ctx.settings.responses.max_layout_ids)
    except ResponseTooLargeError as e:
        raise too_large(e) from None


@router.patch(
    "/{store_id}", responses=responses(403, 404), summary="Rename a store or change its time zone (admin only)"
)
def patch_store(conn: Conn, ctx: Context, _admin: Admin, store: Store, change: StoreChange) -> StoreOut:
    """An unknown time zone is refused with a 422 naming it; nothing is changed then."""
    if change.timezone is not None and (problem := zone_problem(change.timezone)):
        raise invalid("timezone", problem, location="body")
    conn.rollback()  # the lookup's transaction: the change is written on a connection of its own
    try:
        change_store(ctx.engine, store.store_id, name=change.name, timezone=change.timezone)
    except StoreError:  # removed meanwhile: the name and zone were checked above
        raise not_found(f"store {store.store_id!r}") from None
    try:
        return store_queries.get_store(conn, store.store_id, ctx.settings.responses.max_layout_ids)
    except ResponseTooLargeError as e:
        raise too_large(e) from None


@router.get(
    "/{store_id}/overview",
    responses=responses(404),
    summary="Today's and the range's visits, mean dwell, behaviour mix, busiest hour, top zones (rollups only)",
)
def overview(conn: Conn, store: Store, rng: Range) -> OverviewOut:
    return overview_queries.overview(conn, store, rng, now=time.time())

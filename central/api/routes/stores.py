"""Stores with their cameras, zones and lines, and the store overview the dashboard opens with."""

from __future__ import annotations

import time

from fastapi import APIRouter

from central.api.deps import Conn, Limit, Offset, Range, Store
from central.api.errors import responses
from central.api.models import OverviewOut, StoreList, StoreOut
from central.api.queries import overview as overview_queries
from central.api.queries import stores as store_queries

router = APIRouter(prefix="/stores", tags=["stores"])


@router.get("", summary="Stores with their cameras, zones and lines")
def list_stores(conn: Conn, limit: Limit = 100, offset: Offset = 0) -> StoreList:
    return store_queries.list_stores(conn, limit, offset)


@router.get("/{store_id}", responses=responses(404), summary="One store with its cameras, zones and lines")
def get_store(conn: Conn, store: Store) -> StoreOut:
    return store_queries.get_store(conn, store.store_id)


@router.get(
    "/{store_id}/overview",
    responses=responses(404),
    summary="Today's and the range's visits, mean dwell, behaviour mix, busiest hour, top zones (rollups only)",
)
def overview(conn: Conn, store: Store, rng: Range) -> OverviewOut:
    return overview_queries.overview(conn, store, rng, now=time.time())

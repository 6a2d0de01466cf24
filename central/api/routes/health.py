"""``GET /healthz``: no API key; answers 200 only when the database reads and accepts writes."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import false, select, update
from sqlalchemy.exc import SQLAlchemyError

from central.api.deps import Context
from central.api.errors import ApiError, responses
from central.api.models import Health
from central.db.engine import database_file_problem
from central.db.schema import stores

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", responses=responses(503), summary="Liveness and database check, reads and writes (no API key)")
def healthz(ctx: Context) -> Health:
    lost = database_file_problem(ctx.engine)
    if lost:
        raise ApiError(503, lost)
    try:
        with ctx.engine.connect() as conn, conn.begin() as tx:
            conn.execute(select(1))
            # a write that changes no row still needs write access (SQLite's write lock, PostgreSQL's
            # read-write transaction): a read-only or refusing database answers 503 here, not at the next push
            conn.execute(update(stores).where(false()).values(name=stores.c.name))
            tx.rollback()
    except SQLAlchemyError as e:
        logger.warning("health check: database unavailable: %s", e)
        raise ApiError(503, f"database unavailable ({type(e).__name__})") from e
    return Health(status="ok", database="ok")

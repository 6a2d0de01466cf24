"""``GET /healthz``: no API key; answers 200 only when the database does."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from central.api.deps import Context
from central.api.errors import ApiError, responses
from central.api.models import Health
from central.db.engine import database_file_problem

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", responses=responses(503), summary="Liveness and database check (no API key)")
def healthz(ctx: Context) -> Health:
    lost = database_file_problem(ctx.engine)
    if lost:
        raise ApiError(503, lost)
    try:
        with ctx.engine.connect() as conn:
            conn.execute(select(1))
    except SQLAlchemyError as e:
        logger.warning("health check: database unavailable: %s", e)
        raise ApiError(503, f"database unavailable ({type(e).__name__})") from e
    return Health(status="ok", database="ok")

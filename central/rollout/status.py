"""A rollout as operators read it (CLI ``status``/``list``, ``GET /api/v1/rollouts``): state, why, numbers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, func, select

from central.db.schema import rollout_stores, rollouts

MAX_STORES_SHOWN = 1000  # stores listed in one status; the counts cover all


class RolloutStoreOut(BaseModel):
    store_id: str
    canary: bool
    state: str
    failure_code: str = Field(description="one of retail_common.rollout.FailureCode, '' when nothing failed")
    message: str
    bytes_done: int
    updated_at: float


class RolloutOut(BaseModel):
    rollout_id: str
    model_name: str
    version: str
    sha256: str = Field(description="of the file snapshotted at the start; moving an alias later changes nothing")
    size_bytes: int
    previous_version: str | None = Field(description="what a rollback goes back to (None: nothing)")
    state: str
    failure_code: str = Field(description="why it halted, paused or stopped ('' when nothing failed)")
    message: str = Field(description="the last change of state, in words, with its numbers")
    details: dict[str, object] = Field(description="the numbers behind the last halt or pause")
    canary_percent: float
    max_failures: int
    observe_s: float
    created_at: float
    state_since: float
    observe_from: float | None
    store_states: dict[str, int] = Field(description="stores per state, canary and rest together")
    canary_states: dict[str, int] = Field(description="canary stores per state")
    stores: list[RolloutStoreOut] | None = Field(None, description=f"the first {MAX_STORES_SHOWN} stores (status)")


def _rollout(conn: Connection, row: Row[Any], with_stores: bool) -> RolloutOut:
    r = row._mapping
    s = rollout_stores.c
    this = s.rollout_id == r["rollout_id"]
    counts = conn.execute(select(s.state, s.canary, func.count()).where(this).group_by(s.state, s.canary)).all()
    store_states: Counter[str] = Counter()
    canary_states: Counter[str] = Counter()
    for state, canary, n in counts:
        store_states[state] += n
        if canary:
            canary_states[state] += n
    rows = (
        conn.execute(
            select(rollout_stores).where(this).order_by(s.canary.desc(), s.store_id).limit(MAX_STORES_SHOWN)
        ).all()
        if with_stores
        else []
    )
    return RolloutOut(
        rollout_id=r["rollout_id"],
        model_name=r["model_name"],
        version=r["version"],
        sha256=r["sha256"],
        size_bytes=r["size_bytes"],
        previous_version=r["previous_version"],
        state=r["state"],
        failure_code=r["failure_code"],
        message=r["message"],
        details=json.loads(r["details"]),
        canary_percent=r["canary_percent"],
        max_failures=r["max_failures"],
        observe_s=r["observe_s"],
        created_at=r["created_at"],
        state_since=r["state_since"],
        observe_from=r["observe_from"],
        store_states=dict(store_states),
        canary_states=dict(canary_states),
        stores=[
            RolloutStoreOut(
                store_id=x.store_id,
                canary=x.canary,
                state=x.state,
                failure_code=x.failure_code,
                message=x.message,
                bytes_done=x.bytes_done,
                updated_at=x.updated_at,
            )
            for x in rows
        ]
        if with_stores
        else None,
    )


def get_rollout(conn: Connection, rollout_id: str) -> RolloutOut | None:
    row = conn.execute(select(rollouts).where(rollouts.c.rollout_id == rollout_id)).first()
    return None if row is None else _rollout(conn, row, with_stores=True)


def list_rollouts(conn: Connection, limit: int, offset: int = 0, model_name: str | None = None) -> list[RolloutOut]:
    query = select(rollouts).order_by(rollouts.c.created_at.desc()).limit(limit).offset(offset)
    if model_name is not None:
        query = query.where(rollouts.c.model_name == model_name)
    return [_rollout(conn, row, with_stores=False) for row in conn.execute(query).all()]

"""Edge agents: their latest state, online or not, and their recent heartbeats."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from central.api.models import AgentCameraOut, AgentOut, FleetOut, HeartbeatOut, HeartbeatsOut, ModelOut
from central.api.queries.columns import as_int, parse_json
from central.db.schema import agent_heartbeats, agents


def _entries(text: str | None, model: type[ModelOut] | type[AgentCameraOut], what: str) -> list[Any]:
    return [model.model_validate(e) for e in parse_json(text, [], what) if isinstance(e, dict)]


def _agent(row: Any, now: float, online_window_s: float) -> AgentOut:
    where = f"agent {row.agent_id} of store {row.store_id}"
    return AgentOut(
        agent_id=row.agent_id,
        store_id=row.store_id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        online=now - row.last_seen <= online_window_s,
        agent_version=row.agent_version,
        models=_entries(row.models, ModelOut, where),
        cameras=_entries(row.cameras, AgentCameraOut, where),
        outbox_backlog=row.outbox_backlog,
        last_error=row.last_error,
    )


def fleet(
    conn: Connection, store_id: str | None, limit: int, offset: int, now: float, online_window_s: float
) -> FleetOut:
    a = agents.c
    where = [a.store_id == store_id] if store_id is not None else []
    counts = conn.execute(
        select(
            func.count().label("total"),
            func.sum(case((a.last_seen >= now - online_window_s, 1), else_=0)).label("online"),
        ).where(*where)
    ).one()
    rows = conn.execute(select(agents).where(*where).order_by(a.store_id, a.agent_id).limit(limit).offset(offset))
    return FleetOut(
        agents=[_agent(r, now, online_window_s) for r in rows],
        total=as_int(counts.total),
        online=as_int(counts.online),
        online_window_s=online_window_s,
        limit=limit,
        offset=offset,
    )


def agent(conn: Connection, store_id: str, agent_id: str, now: float, online_window_s: float) -> AgentOut | None:
    row = conn.execute(select(agents).where(agents.c.store_id == store_id, agents.c.agent_id == agent_id)).first()
    return _agent(row, now, online_window_s) if row is not None else None


def heartbeats(conn: Connection, store_id: str, agent_id: str, limit: int) -> HeartbeatsOut:
    h = agent_heartbeats.c
    rows = conn.execute(
        select(h.received_at, h.payload)
        .where(h.store_id == store_id, h.agent_id == agent_id)
        .order_by(h.received_at.desc(), h.id.desc())
        .limit(limit)
    )
    beats = []
    for r in rows:
        payload = parse_json(r.payload, {}, f"heartbeat of {store_id}/{agent_id}")
        beats.append(HeartbeatOut(received_at=r.received_at, payload=payload if isinstance(payload, dict) else {}))
    return HeartbeatsOut(store_id=store_id, agent_id=agent_id, heartbeats=beats)

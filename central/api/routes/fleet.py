"""The fleet of edge agents: last heartbeat, versions, per-camera health, backlog; one agent's recent heartbeats."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query

from central.api.deps import ID_MAX, ID_PATTERN, Conn, Context, Limit, Offset, OptionalId
from central.api.errors import not_found, responses
from central.api.models import AgentOut, FleetOut, HeartbeatsOut
from central.api.queries import fleet as fleet_queries

router = APIRouter(prefix="/fleet", tags=["fleet"])

StoreIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description="the agent's store")]
AgentIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description="agent id within its store")]

# an agent is known by its store and its id there: two stores may both run an agent called "edge-1"
AGENT = "/stores/{store_id}/agents/{agent_id}"


@router.get("", summary="Every agent with its latest heartbeat and whether it is online")
def fleet(conn: Conn, ctx: Context, store_id: OptionalId = None, limit: Limit = 100, offset: Offset = 0) -> FleetOut:
    return fleet_queries.fleet(conn, store_id, limit, offset, time.time(), ctx.settings.online_window_s)


@router.get(AGENT, responses=responses(404), summary="One agent's latest heartbeat")
def agent(conn: Conn, ctx: Context, store_id: StoreIdPath, agent_id: AgentIdPath) -> AgentOut:
    found = fleet_queries.agent(conn, store_id, agent_id, time.time(), ctx.settings.online_window_s)
    if found is None:
        raise not_found(f"agent {agent_id!r} of store {store_id!r}")
    return found


@router.get(AGENT + "/heartbeats", responses=responses(404), summary="One agent's recent heartbeats")
def heartbeats(
    conn: Conn,
    ctx: Context,
    store_id: StoreIdPath,
    agent_id: AgentIdPath,
    limit: Annotated[int, Query(ge=1, le=1000, description="how many, newest first")] = 20,
) -> HeartbeatsOut:
    if fleet_queries.agent(conn, store_id, agent_id, time.time(), ctx.settings.online_window_s) is None:
        raise not_found(f"agent {agent_id!r} of store {store_id!r}")
    return fleet_queries.heartbeats(conn, store_id, agent_id, limit)

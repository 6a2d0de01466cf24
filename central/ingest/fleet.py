"""Agent heartbeats: the latest state per agent, a short history, and each camera's declared layout."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import orjson
from sqlalchemy import Connection, Engine, delete, select

from central.db.schema import agent_heartbeats, agents, cameras, lines, zones
from central.ingest.dialects import DialectWrites, for_engine
from retail_common.ids import id_problem


@dataclass(frozen=True)
class CameraReport:
    camera_id: str
    fps: float
    frames_dropped: int
    connected: bool
    last_error: str
    zone_ids: list[str] = field(default_factory=list)
    line_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Heartbeat:
    agent_id: str
    store_id: str
    sent_at: float
    agent_version: str
    models: list[dict[str, str]]
    cameras: list[CameraReport]
    outbox_backlog: int
    last_error: str


def heartbeat_problem(hb: Heartbeat) -> str | None:
    problem = id_problem("agent_id", hb.agent_id)
    for cam in hb.cameras:
        problem = problem or id_problem("camera_id", cam.camera_id)
        for ident in (*cam.zone_ids, *cam.line_ids):
            problem = problem or id_problem(f"camera {cam.camera_id} zone/line id", ident)
    return problem


def record_heartbeat(engine: Engine, hb: Heartbeat, history: int, now: float | None = None) -> None:
    """Latest state, history trimmed to ``history`` per agent, and the cameras' zones and lines as declared."""
    now = time.time() if now is None else now
    cams = [asdict(c) for c in hb.cameras]
    state = {
        "agent_id": hb.agent_id,
        "store_id": hb.store_id,
        "first_seen": now,
        "last_seen": now,
        "agent_version": hb.agent_version,
        "models": orjson.dumps(hb.models).decode(),
        "cameras": orjson.dumps(
            [{k: v for k, v in c.items() if k not in ("zone_ids", "line_ids")} for c in cams]
        ).decode(),
        "outbox_backlog": hb.outbox_backlog,
        "last_error": hb.last_error,
    }
    writes = for_engine(engine)
    with engine.begin() as conn:
        ins = writes.insert(agents)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["agent_id"],
                set_={k: ins.excluded[k] for k in state if k not in ("agent_id", "first_seen")},
            ),
            state,
        )
        conn.execute(
            agent_heartbeats.insert().values(
                agent_id=hb.agent_id, received_at=now, payload=orjson.dumps(asdict(hb)).decode()
            )
        )
        keep = (
            select(agent_heartbeats.c.id)
            .where(agent_heartbeats.c.agent_id == hb.agent_id)
            .order_by(agent_heartbeats.c.received_at.desc(), agent_heartbeats.c.id.desc())
            .limit(history)
            .scalar_subquery()
        )
        conn.execute(
            delete(agent_heartbeats).where(
                agent_heartbeats.c.agent_id == hb.agent_id, agent_heartbeats.c.id.not_in(keep)
            )
        )
        for cam in hb.cameras:
            _declare_layout(conn, writes, hb.store_id, cam, now)


def _declare_layout(conn: Connection, writes: DialectWrites, store_id: str, cam: CameraReport, now: float) -> None:
    """The camera's zones and lines become exactly those reported; ingest then refuses any other."""
    ins = writes.insert(cameras)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=["store_id", "camera_id"], set_={"last_seen": ins.excluded.last_seen, "declared": True}
        ),
        {"store_id": store_id, "camera_id": cam.camera_id, "first_seen": now, "last_seen": now, "declared": True},
    )
    for table, column, ids in ((zones, "zone_id", cam.zone_ids), (lines, "line_id", cam.line_ids)):
        conn.execute(
            delete(table).where(
                table.c.store_id == store_id, table.c.camera_id == cam.camera_id, table.c[column].not_in(ids)
            )
        )
        if ids:
            conn.execute(
                writes.insert(table).on_conflict_do_nothing(),
                [
                    {"store_id": store_id, "camera_id": cam.camera_id, column: i, "first_seen": now}
                    for i in sorted(set(ids))
                ],
            )

"""Agent heartbeats: the latest state per agent, a short history, and each camera's declared layout.

An agent is known by its store and its id within the store: the token that authenticated the heartbeat is
the store's, so a heartbeat can only ever create or change an agent of that store. What a heartbeat may hold
is bounded (:class:`~central.config.FleetLimits`, the columns' lengths, the id rules): past a bound it is
refused whole and nothing is stored, except the free-text last errors, which are truncated instead (an agent
whose error is long should still be seen, with its error, rather than vanish from the fleet).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import orjson
from sqlalchemy import Connection, Engine, delete, func, select

from central.config import FleetLimits
from central.db.schema import AGENT_VERSION_MAX, agent_heartbeats, agents, cameras, lines, stores, zones
from central.ingest.dialects import DialectWrites, for_engine
from retail_common.fields import INT32_MAX, MODEL_MAX, text_problem
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


SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# characters a last error cannot keep: NUL (PostgreSQL text refuses it) and the other C0 controls but tab and
# newline, which tracebacks use
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class FleetFullError(Exception):
    """The heartbeat would add one agent more than its store may have; nothing was stored."""


def heartbeat_problem(hb: Heartbeat, limits: FleetLimits) -> str | None:
    """Why the heartbeat cannot be stored as sent (the bound it passes, by name), or None."""
    return next((p for p in _problems(hb, limits) if p), None)


def _problems(hb: Heartbeat, limits: FleetLimits) -> Iterator[str | None]:
    """Each check's problem or None, lazily: the caller stops at the first."""
    yield id_problem("agent_id", hb.agent_id)
    yield text_problem("agent_version", hb.agent_version, AGENT_VERSION_MAX)
    if not 0 <= hb.outbox_backlog <= INT32_MAX:
        yield f"outbox_backlog {hb.outbox_backlog} is out of range (0 to {INT32_MAX})"
    if len(hb.models) > limits.max_models_per_agent:
        yield f"{len(hb.models)} models reported (at most {limits.max_models_per_agent}: fleet.max_models_per_agent)"
    for model in hb.models:
        yield _model_problem(model)
    for cam in hb.cameras:
        if len(cam.zone_ids) + len(cam.line_ids) > limits.max_layout_ids_per_camera:
            yield (
                f"camera {cam.camera_id!r} declares {len(cam.zone_ids)} zones and {len(cam.line_ids)} lines "
                f"(at most {limits.max_layout_ids_per_camera} together: fleet.max_layout_ids_per_camera)"
            )
    if len(hb.cameras) > limits.max_cameras_per_agent:
        yield (
            f"{len(hb.cameras)} cameras reported (at most {limits.max_cameras_per_agent}: fleet.max_cameras_per_agent)"
        )
    seen: set[str] = set()
    for cam in hb.cameras:
        yield _camera_problem(cam)
        if cam.camera_id in seen:
            yield f"camera {cam.camera_id!r} reported twice"
        seen.add(cam.camera_id)


# "onnxruntime/CUDA", "int8+bf16"; the longest an agent sends is "openvino/" and a device of up to 64 characters
RUNTIME_MAX = 80


def _model_problem(model: dict[str, str]) -> str | None:
    ref = f"{model['name']}/{model['version']}"
    problem = text_problem("model name/version", ref, MODEL_MAX)
    if problem:
        return f"{problem}: {ref[:60]!r}"
    if model["sha256"] and not SHA256_HEX.fullmatch(model["sha256"]):
        return f"model {ref[:60]!r}: sha256 {model['sha256'][:80]!r} is not 64 lower-case hex digits"
    for part in ("runtime", "precision"):
        problem = text_problem(f"model {ref[:60]!r} {part}", model.get(part, ""), RUNTIME_MAX)
        if problem:
            return problem
    return None


def _camera_problem(cam: CameraReport) -> str | None:
    problem = id_problem("camera_id", cam.camera_id)
    if problem:
        return problem
    if not (math.isfinite(cam.fps) and cam.fps >= 0):
        return f"camera {cam.camera_id}: fps {cam.fps} is not a finite number of at least 0"
    where = f"camera {cam.camera_id} zone/line id"
    return next((p for p in (id_problem(where, i) for i in (*cam.zone_ids, *cam.line_ids)) if p), None)


def bounded_errors(hb: Heartbeat, max_chars: int) -> Heartbeat:
    """The heartbeat with its last errors (the agent's and each camera's) storable: control characters
    other than tab and newline replaced, and cut to ``max_chars`` (the last one then an ellipsis)."""
    return replace(
        hb,
        last_error=_error_text(hb.last_error, max_chars),
        cameras=[replace(c, last_error=_error_text(c.last_error, max_chars)) for c in hb.cameras],
    )


def _error_text(text: str, max_chars: int) -> str:
    text = _UNPRINTABLE.sub("\ufffd", text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"


def record_heartbeat(
    engine: Engine,
    hb: Heartbeat,
    history: int,
    max_agents: int,
    now: float | None = None,
    max_cameras: int | None = None,
) -> None:
    """Latest state of the store's agent, its history trimmed to ``history``, and the cameras' zones and lines
    as declared. :class:`FleetFullError` if the agent is new and its store has ``max_agents`` already, or if
    its cameras would give the store more than ``max_cameras``."""
    now = time.time() if now is None else now
    cams = [asdict(c) for c in hb.cameras]
    state = {
        "store_id": hb.store_id,
        "agent_id": hb.agent_id,
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
    this_agent = (agents.c.store_id == hb.store_id, agents.c.agent_id == hb.agent_id)
    writes = for_engine(engine)
    with engine.begin() as conn:
        writes.begin(conn)
        # the store's row locked (SQLite: the write lock taken) so that two new agents cannot both pass the
        # count; NO KEY UPDATE, which ingest's foreign-key checks on the store do not wait for
        conn.execute(select(stores.c.store_id).where(stores.c.store_id == hb.store_id).with_for_update(key_share=True))
        if conn.execute(select(agents.c.agent_id).where(*this_agent)).first() is None:
            known = conn.execute(
                select(func.count()).select_from(agents).where(agents.c.store_id == hb.store_id)
            ).scalar_one()
            if known >= max_agents:
                raise FleetFullError(
                    f"store {hb.store_id!r} has {known} agents already (at most {max_agents}: "
                    f"fleet.max_agents_per_store); agent {hb.agent_id!r} is not added"
                )
        if max_cameras is not None and hb.cameras:
            _check_cameras(conn, hb, max_cameras)
        ins = writes.insert(agents)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["store_id", "agent_id"],
                set_={k: ins.excluded[k] for k in state if k not in ("store_id", "agent_id", "first_seen")},
            ),
            state,
        )
        conn.execute(
            agent_heartbeats.insert().values(
                store_id=hb.store_id,
                agent_id=hb.agent_id,
                received_at=now,
                payload=orjson.dumps(asdict(hb)).decode(),
            )
        )
        h = agent_heartbeats.c
        this_history = (h.store_id == hb.store_id, h.agent_id == hb.agent_id)
        keep = (
            select(h.id)
            .where(*this_history)
            .order_by(h.received_at.desc(), h.id.desc())
            .limit(history)
            .scalar_subquery()
        )
        conn.execute(delete(agent_heartbeats).where(*this_history, h.id.not_in(keep)))
        for cam in hb.cameras:
            _declare_layout(conn, writes, hb.store_id, cam, now)


def _check_cameras(conn: Connection, hb: Heartbeat, max_cameras: int) -> None:
    """Declared cameras count towards the store's bound as learned ones do (under the store's lock)."""
    reported = {c.camera_id for c in hb.cameras}
    known = set(
        conn.execute(
            select(cameras.c.camera_id).where(cameras.c.store_id == hb.store_id, cameras.c.camera_id.in_(reported))
        ).scalars()
    )
    if not reported - known:
        return
    total = conn.execute(
        select(func.count()).select_from(cameras).where(cameras.c.store_id == hb.store_id)
    ).scalar_one()
    if total + len(reported - known) > max_cameras:
        raise FleetFullError(
            f"the heartbeat's cameras would give store {hb.store_id!r} {total + len(reported - known)} cameras "
            f"(at most {max_cameras}: cardinality.max_cameras_per_store); nothing of it is recorded"
        )


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

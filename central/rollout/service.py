"""Rollouts in the database: start one, give it a command, read it back.

Every change of a rollout's state is an UPDATE conditional on the revision it was read at, so two central
replicas (or an operator and the planner) cannot both move it: the second finds the revision changed and
reports the rollout's new state instead.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, Engine, func, insert, select, update

from central.db.schema import agents, rollout_stores, rollouts, stores
from central.registry.cache import ArtifactCache, CachedArtifact
from central.registry.files import ArtifactError
from central.rollout.policy import (
    LIVE,
    Command,
    Decision,
    RolloutState,
    StoreState,
    TransitionError,
    apply,
    choose_canaries,
)
from retail_common.rollout import ROLLOUT_MODELS, FailureCode

S = RolloutState


class RolloutError(ValueError):
    """A rollout that cannot be started or changed as asked; nothing was stored. ``status`` is the HTTP one."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StartRequest:
    model_name: str
    version: str  # a version number or an alias
    stores: Sequence[str] | None = None  # None: every store
    canary_percent: float | None = 10.0
    canary_stores: Sequence[str] | None = None  # named canaries instead of a percentage
    max_failures: int = 0
    observe_s: float = 3600.0


def _scope(conn: Connection, req: StartRequest, max_stores: int) -> tuple[list[str], set[str]]:
    known = set(conn.execute(select(stores.c.store_id)).scalars())
    if req.stores is None:
        scope = sorted(known)
    else:
        unknown = sorted(set(req.stores) - known)
        if unknown:
            raise RolloutError(f"no such store(s): {', '.join(unknown[:10])}")
        scope = sorted(set(req.stores))
    if not scope:
        raise RolloutError("the rollout covers no store: create stores first (retail-central stores create)")
    if len(scope) > max_stores:
        raise RolloutError(f"{len(scope)} stores in one rollout (at most {max_stores}: rollout.max_stores)")
    if req.canary_stores is not None:
        outside = sorted(set(req.canary_stores) - set(scope))
        if outside:
            raise RolloutError(f"canary store(s) not in the rollout: {', '.join(outside[:10])}")
        return scope, set(req.canary_stores)
    return scope, set()


def _previous(
    conn: Connection, cache: ArtifactCache, model: str, scope: Sequence[str], new: str
) -> CachedArtifact | None:
    """What a rollback goes back to: the version of the model's newest completed rollout, else the registry
    version most of the rollout's agents report running (fetched into the cache so it can be served)."""
    r = rollouts.c
    done = conn.execute(
        select(r.version)
        .where(r.model_name == model, r.state == S.COMPLETED.value, r.version != new)
        .order_by(r.created_at.desc())
        .limit(1)
    ).scalar()
    if done is not None:
        return cache.known(model, done)
    counts: Counter[str] = Counter()
    for models in conn.execute(select(agents.c.models).where(agents.c.store_id.in_(scope))).scalars():
        for m in json.loads(models):
            if m.get("name") == model and str(m.get("version", "")).isdigit() and m["version"] != new:
                counts[m["version"]] += 1
    for version, _ in counts.most_common(3):
        try:
            return cache.fetch(model, version)
        except ArtifactError:
            continue
    return None


def start(engine: Engine, cache: ArtifactCache, req: StartRequest, max_stores: int, now: float | None = None) -> str:
    """Fetch and check the version (refused before any store hears of it when it cannot be had or is not a valid
    model of its role), snapshot it, supersede the model's live rollouts, choose canaries. Returns the id."""
    now = time.time() if now is None else now
    if req.model_name not in ROLLOUT_MODELS:
        raise RolloutError(f"model {req.model_name!r} is not one central rolls out: {', '.join(ROLLOUT_MODELS)}")
    with engine.connect() as conn:
        scope, named = _scope(conn, req, max_stores)
    try:
        artifact = cache.fetch(req.model_name, req.version)
    except ArtifactError as e:
        raise RolloutError(f"refused before any store gets it: {e}") from e
    with engine.connect() as conn:
        previous = _previous(conn, cache, req.model_name, scope, artifact.version)
    rollout_id = uuid.uuid4().hex[:16]
    canaries = named or choose_canaries(scope, rollout_id, req.canary_percent or 0.0)
    state = S.CANARY if canaries else S.RAMPING
    message = (
        f"{len(canaries)} canary store(s) of {len(scope)} install {req.model_name}/{artifact.version}"
        if canaries
        else f"no canary: every one of {len(scope)} stores installs {req.model_name}/{artifact.version}"
    )
    r = rollouts.c
    with engine.begin() as conn:
        conn.execute(
            update(rollouts)
            .where(r.model_name == req.model_name, r.state.in_([s.value for s in LIVE]))
            .values(
                state=S.SUPERSEDED.value,
                failure_code=FailureCode.SUPERSEDED.value,
                message=f"superseded by rollout {rollout_id} ({req.model_name}/{artifact.version})",
                revision=r.revision + 1,
                state_since=now,
            )
        )
        conn.execute(
            insert(rollouts).values(
                rollout_id=rollout_id,
                model_name=req.model_name,
                version=artifact.version,
                sha256=artifact.sha256,
                size_bytes=artifact.size_bytes,
                previous_version=previous.version if previous else None,
                previous_sha256=previous.sha256 if previous else None,
                previous_size_bytes=previous.size_bytes if previous else None,
                state=state.value,
                paused_from=None,
                revision=0,
                failure_code="",
                message=message,
                details="{}",
                canary_percent=float(req.canary_percent or 0.0) if not named else 0.0,
                max_failures=req.max_failures,
                observe_s=req.observe_s,
                created_at=now,
                state_since=now,
                observe_from=None,
            )
        )
        conn.execute(
            insert(rollout_stores),
            [
                {
                    "rollout_id": rollout_id,
                    "store_id": s,
                    "canary": s in canaries,
                    "state": StoreState.PENDING.value,
                    "failure_code": "",
                    "message": "",
                    "bytes_done": 0,
                    "reported_at": None,
                    "updated_at": now,
                }
                for s in scope
            ],
        )
    return rollout_id


def transition(
    conn: Connection, rollout_id: str, revision: int, current: RolloutState, decision: Decision, now: float
) -> bool:
    """Move the rollout as decided if nobody moved it since it was read at ``revision``; True if this call did."""
    r = rollouts.c
    values: dict[str, object] = {
        "state": decision.to.value,
        "revision": revision + 1,
        "state_since": now,
        "failure_code": decision.code.value if decision.code else "",
        "message": decision.message,
        "details": orjson.dumps(decision.details).decode(),
    }
    if decision.to is S.PAUSED:
        values["paused_from"] = current.value
    if decision.observe_from is not None:
        values["observe_from"] = decision.observe_from
    done = conn.execute(
        update(rollouts).where(r.rollout_id == rollout_id, r.revision == revision).values(**values)
    ).rowcount
    return done == 1


def command(engine: Engine, rollout_id: str, cmd: Command, now: float | None = None) -> RolloutState:
    """An operator's command; :class:`RolloutError` (404 unknown, 409 not allowed now or changed meanwhile)."""
    now = time.time() if now is None else now
    r = rollouts.c
    with engine.begin() as conn:
        row = conn.execute(select(r.state, r.revision, r.paused_from).where(r.rollout_id == rollout_id)).first()
        if row is None:
            raise RolloutError(f"no rollout {rollout_id!r}", 404)
        state = S(row.state)
        try:
            to = apply(cmd, state, S(row.paused_from) if row.paused_from else None)
        except TransitionError as e:
            raise RolloutError(str(e), 409) from e
        if (
            cmd is Command.ROLLBACK
            and conn.execute(select(r.previous_version).where(r.rollout_id == rollout_id)).scalar() is None
        ):
            raise RolloutError(
                "nothing to roll back to: no earlier version of this model was completed or reported by the agents; "
                "start a rollout of the version the stores should run",
                409,
            )
        code = FailureCode.ABORTED if cmd is Command.ABORT else None
        decision = Decision(to, code, f"{cmd.value} by an operator")
        if cmd is Command.RESUME and to in (S.CANARY, S.OBSERVING):
            decision = Decision(to, None, "resumed by an operator", observe_from=now)
        if not transition(conn, rollout_id, row.revision, state, decision, now):
            raise RolloutError(f"rollout {rollout_id} changed meanwhile: read its status and try again", 409)
    return to


def live_rollouts(conn: Connection, limit: int) -> list[str]:
    """Ids of rollouts the planner has work on, the longest unchanged first."""
    r = rollouts.c
    query = select(r.rollout_id).where(r.state.in_([s.value for s in LIVE])).order_by(r.state_since).limit(limit)
    return list(conn.execute(query).scalars())


def store_heartbeats(conn: Connection, store_ids: Sequence[str]) -> dict[str, float]:
    """Each store's latest agent heartbeat (stores never heard from are absent)."""
    out: dict[str, float] = {}
    ids = list(store_ids)
    for i in range(0, len(ids), 500):
        query = (
            select(agents.c.store_id, func.max(agents.c.last_seen))
            .where(agents.c.store_id.in_(ids[i : i + 500]))
            .group_by(agents.c.store_id)
        )
        out |= {s: float(t) for s, t in conn.execute(query)}
    return out

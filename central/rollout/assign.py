"""What a store is told to run (heartbeat replies) and what it reports back (install reports, running models).

Each model's assignment comes from the newest rollout of that model that covers the store and says something
for it (:func:`central.rollout.policy.assigned`); a canary-phase rollout says nothing to the other stores, so
they keep following the model's older, completed rollout. Reports move only the reporting store's rows, and a
report older than the one applied is ignored (heartbeats may arrive out of order from retries).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, RowMapping, and_, or_, select, update

from central.db.schema import ROLLOUT_ID_MAX, rollout_stores, rollouts
from central.rollout.policy import RolloutState, StoreState, assigned, store_state_from_report
from retail_common.fields import MODEL_MAX, text_problem
from retail_common.rollout import ROLLOUT_MODELS, failure_code_problem

# rollouts of a store looked at per heartbeat, newest first: a bound on a heartbeat's work
MAX_ROLLOUTS_PER_STORE = 64
_SILENT = (RolloutState.SUPERSEDED.value, RolloutState.ABORTED.value)


@dataclass(frozen=True)
class Assignment:
    model_name: str
    version: str
    sha256: str
    size_bytes: int
    rollout_id: str


@dataclass(frozen=True)
class InstallReport:
    rollout_id: str
    model_name: str
    version: str
    state: int  # the proto's InstallState number
    failure_code: str
    message: str
    at: float
    bytes_done: int


def _store_rollouts(conn: Connection, store_id: str) -> Sequence[Row[Any]]:
    r, rs = rollouts.c, rollout_stores.c
    return conn.execute(
        select(rollouts, rs.canary, rs.state.label("store_state"), rs.reported_at)
        .join(rollout_stores, rs.rollout_id == r.rollout_id)
        .where(rs.store_id == store_id, r.state.not_in(_SILENT))
        .order_by(r.created_at.desc())
        .limit(MAX_ROLLOUTS_PER_STORE)
    ).all()


def assignments(conn: Connection, store_id: str) -> list[Assignment]:
    """The version of each rolled-out model the store should run now (none for a model never rolled out)."""
    out: dict[str, Assignment] = {}
    for row in _store_rollouts(conn, store_id):
        r = row._mapping
        if r["model_name"] in out or r["model_name"] not in ROLLOUT_MODELS:
            continue
        which = assigned(RolloutState(r["state"]), bool(r["canary"]))
        if which == "new":
            name = r["model_name"]
            out[name] = Assignment(name, r["version"], r["sha256"], r["size_bytes"], r["rollout_id"])
        elif which == "previous" and r["previous_version"] is not None:
            out[r["model_name"]] = Assignment(
                r["model_name"], r["previous_version"], r["previous_sha256"], r["previous_size_bytes"], r["rollout_id"]
            )
    return [out[m] for m in ROLLOUT_MODELS if m in out]


def may_download(conn: Connection, store_id: str, model_name: str, version: str) -> bool:
    """Whether any rollout covering the store names this version (as its new or its previous one): the only
    files a store's token may download."""
    r, rs = rollouts.c, rollout_stores.c
    found = conn.execute(
        select(r.rollout_id)
        .join(rollout_stores, rs.rollout_id == r.rollout_id)
        .where(
            rs.store_id == store_id,
            r.model_name == model_name,
            or_(r.version == version, r.previous_version == version),
        )
        .limit(1)
    ).first()
    return found is not None


def record_reports(
    engine: Engine, store_id: str, reports: Sequence[InstallReport], running: Sequence[tuple[str, str]], now: float
) -> int:
    """Apply the store's install reports and the models its agent says it runs (``(name, version)``) to its
    rows of the rollouts concerned; returns how many rows changed. A report for a rollout that does not cover
    the store, or for a version the rollout does not name, changes nothing."""
    changed = 0
    with engine.begin() as conn:
        rows = {row._mapping["rollout_id"]: row._mapping for row in _store_rollouts(conn, store_id)}
        for rep in reports:
            r = rows.get(rep.rollout_id)
            if r is None or r["model_name"] != rep.model_name:
                continue
            if r["reported_at"] is not None and rep.at <= r["reported_at"]:  # applied already: no write at all
                continue
            state = store_state_from_report(
                RolloutState(r["state"]), rep.version, r["version"], r["previous_version"], rep.state
            )
            if state is None:
                continue
            code = rep.failure_code if state is StoreState.FAILED else ""
            changed += _set(conn, rep.rollout_id, store_id, state, code, rep.message, rep.bytes_done, rep.at, now)
        for name, version in running:
            for r in rows.values():
                state = _running_state(r, name, version)
                if state is not None and state.value != r["store_state"]:  # most heartbeats: nothing to write
                    changed += _set(conn, r["rollout_id"], store_id, state, "", "", 0, None, now, only_from_live=True)
    return changed


def _running_state(r: RowMapping, name: str, version: str) -> StoreState | None:
    """A store whose agent runs the rollout's new version (or, rolling back, its previous one) is there."""
    if r["model_name"] != name:
        return None
    which = assigned(RolloutState(r["state"]), bool(r["canary"]))
    if which == "new" and version == r["version"]:
        return StoreState.ACTIVE
    if which == "previous" and version == r["previous_version"]:
        return StoreState.ROLLED_BACK
    return None


def _set(
    conn: Connection,
    rollout_id: str,
    store_id: str,
    state: StoreState,
    code: str,
    message: str,
    bytes_done: int,
    at: float | None,
    now: float,
    only_from_live: bool = False,
) -> int:
    s = rollout_stores.c
    where = [s.rollout_id == rollout_id, s.store_id == store_id, s.state != state.value]
    if at is not None:  # a report: applied when newer than the one applied last
        where.append(or_(s.reported_at.is_(None), s.reported_at < at))
    if only_from_live:  # a running model moves a store forward, never over a failure it reported
        where.append(s.state != StoreState.FAILED.value)
    values: dict[str, object] = {"state": state.value, "failure_code": code, "message": message[:2000]}
    values["updated_at"] = now
    if at is not None:
        values |= {"reported_at": at, "bytes_done": bytes_done}
    return conn.execute(update(rollout_stores).where(and_(*where)).values(**values)).rowcount


INSTALL_STATES = range(1, 9)  # the proto's InstallState values, UNSPECIFIED excluded
_NEEDS_CODE = (7, 8)  # FAILED and ROLLED_BACK carry a failure code


def reports_problem(reports: Sequence[InstallReport], max_reports: int) -> str | None:
    """Why a heartbeat's install reports cannot be taken as sent (the heartbeat is then refused whole), or None."""
    if len(reports) > max_reports:
        return f"{len(reports)} install reports (at most {max_reports}: rollout.max_installs_per_heartbeat)"
    for rep in reports:
        problem = _report_problem(rep)
        if problem:
            return f"install report of rollout {rep.rollout_id[:40]!r}: {problem}"
    return None


def _report_problem(rep: InstallReport) -> str | None:
    if not 1 <= len(rep.rollout_id) <= ROLLOUT_ID_MAX:
        return f"rollout_id must have 1 to {ROLLOUT_ID_MAX} characters"
    problem = text_problem("model name/version", f"{rep.model_name}/{rep.version}", MODEL_MAX)
    problem = problem or failure_code_problem(rep.failure_code)
    if problem:
        return problem
    if rep.state not in INSTALL_STATES:
        return f"install state {rep.state} is not one of {INSTALL_STATES.start}..{INSTALL_STATES.stop - 1}"
    if rep.state in _NEEDS_CODE and not rep.failure_code:
        return "a failed or rolled-back install must carry a failure code"
    if not (math.isfinite(rep.at) and rep.at > 0):
        return "its time is missing"
    return None

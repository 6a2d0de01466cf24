"""The planner: a task of ``retail-central serve`` that advances live rollouts every ``plan_interval_s``.

Everything it knows is in the database, so a restarted central carries on where it stopped, and several
replicas may each run one: a transition is an UPDATE conditional on the revision the rollout was read at
(:func:`central.rollout.service.transition`), so only one replica makes it and the others find it done.
Each tick looks at ``plan_batch`` rollouts at most, the longest unchanged first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from central.config import RolloutConfig
from central.db.schema import rollout_stores, rollouts
from central.rollout.compare import label_mix, window
from central.rollout.policy import HaltPolicy, RolloutState, RolloutView, StoreState, StoreView, decide, needs_mix
from central.rollout.service import live_rollouts, store_heartbeats, transition

logger = logging.getLogger(__name__)


class Planner:
    def __init__(self, engine: Engine, config: RolloutConfig) -> None:
        self.engine = engine
        self.config = config

    def tick(self, now: float | None = None) -> int:
        """Advance what can advance now; returns how many rollouts this call moved."""
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            ids = live_rollouts(conn, self.config.plan_batch)
        return sum(self.advance(rollout_id, now) for rollout_id in ids)

    def advance(self, rollout_id: str, now: float) -> bool:
        """Read one rollout, decide, and move it if nobody else moved it meanwhile."""
        r, s = rollouts.c, rollout_stores.c
        with self.engine.begin() as conn:
            row = conn.execute(select(rollouts).where(r.rollout_id == rollout_id)).first()
            if row is None:
                return False
            members = conn.execute(select(rollout_stores).where(s.rollout_id == rollout_id)).all()
            seen = store_heartbeats(conn, [m.store_id for m in members])
            state = RolloutState(row.state)
            view = RolloutView(
                state=state,
                state_since=row.state_since,
                observe_from=row.observe_from,
                stores=[
                    StoreView(m.store_id, m.canary, StoreState(m.state), m.failure_code, seen.get(m.store_id))
                    for m in members
                ],
            )
            policy = HaltPolicy(
                max_failures=row.max_failures,
                observe_s=row.observe_s,
                heartbeat_lost_s=self.config.heartbeat_lost_s,
                shift_threshold=self.config.shift_threshold,
                min_labelled_visits=self.config.min_labelled_visits,
            )
            mix = None
            if needs_mix(view, policy, now):
                start, end = window(row.observe_from, row.created_at, now)
                mix = label_mix(conn, [m.store_id for m in members if m.canary], start, end)
            decision = decide(view, policy, now, mix)
            if decision is None:
                return False
            moved = transition(conn, rollout_id, row.revision, state, decision, now)
        if moved:
            logger.info(
                "rollout %s (%s/%s): %s -> %s%s: %s",
                rollout_id,
                row.model_name,
                row.version,
                state.value,
                decision.to.value,
                f" [{decision.code.value}]" if decision.code else "",
                decision.message,
            )
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a database error is logged and the next tick tries again."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except SQLAlchemyError as e:
                logger.error("rollout planner: tick failed, trying again in %.0f s: %s", self.config.plan_interval_s, e)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.plan_interval_s)

"""The planner against a real database fed by real gRPC ingest: the canary's behaviour mix judged from the
rollups, too little data pausing, silent canaries halting, promotion to every store, rollback, and two
replicas unable to make the same transition twice. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grpc_fixtures import auth, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import Engine, select

from central.config import RolloutConfig
from central.db.schema import rollouts
from central.registry.cache import ArtifactCache
from central.rollout.planner import Planner
from central.rollout.policy import Command, Decision, RolloutState
from central.rollout.service import StartRequest, command, start, transition
from central.rollout.status import get_rollout
from central.stores import create_store
from retail_common.rollout import BEHAVIOR_MODEL

STORES = ("c1", "r1", "r2")


@dataclass
class Fleet:
    engine: Engine
    client: pb_grpc.EdgeSyncStub
    tokens: dict[str, str]
    planner: Planner
    cache: ArtifactCache
    versions: list[str]

    def beat(self, store: str, version: str) -> list[pb.ModelAssignment]:
        """A heartbeat of the store's agent saying it runs ``version``; the assignments it is told."""
        hb = pb.AgentHeartbeat(
            agent_id="edge-1",
            store_id=store,
            sent_at=stamp(time.time()),
            agent_version="test",
            models=[pb.ModelVersion(name=BEHAVIOR_MODEL, version=version)],
        )
        return list(self.client.Heartbeat(hb, metadata=auth(self.tokens[store]), timeout=30).assignments)

    def visits(self, store: str, mix: dict[str, int]) -> None:
        """Summaries of this hour with the given behaviour labels, pushed as the store's agent pushes them."""
        now = time.time()
        batch = [summary(store, start=now - 120, behavior=label) for label, n in mix.items() for _ in range(n)]
        ack = self.client.Push(push(store, batch), metadata=auth(self.tokens[store]), timeout=30)
        assert {r.status for r in ack.results} == {pb.ITEM_STATUS_STORED}

    def state(self, rollout_id: str) -> tuple[str, str]:
        with self.engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        assert found is not None
        return found.state, found.failure_code


@contextmanager
def fleet(database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]) -> Iterator[Fleet]:
    uri, (v1, v2, _) = mlflow_store
    versions = [v1, v2]
    config = RolloutConfig(
        tracking_uri=uri, artifact_cache=tmp_path / "cache", min_labelled_visits=20, heartbeat_lost_s=60
    )
    tokens = {s: create_store(engine, s) for s in STORES}
    cache = ArtifactCache(engine, config.artifact_cache, uri, 64 << 20)
    with running_ingest(database_url, rollout=config) as ingest:
        yield Fleet(engine, stub(ingest.port), tokens, Planner(engine, config), cache, versions)


def _start(f: Fleet, version: str, stores: Sequence[str] | None = None) -> str:
    request = StartRequest(BEHAVIOR_MODEL, version, stores=stores, canary_stores=["c1"], observe_s=0)
    return start(f.engine, f.cache, request, 100)


EVEN = {"interested": 12, "decisive": 10, "hesitant": 8}


def test_a_shifted_canary_mix_halts_the_rollout_with_its_numbers(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        v1, v2 = f.versions
        rollout_id = _start(f, v2)
        assert [a.model.version for a in f.beat("c1", v1)] == [v2]
        f.visits("c1", {"confused": 25, "interested": 5})  # the new model calls most shoppers confused
        f.visits("r1", EVEN)
        f.visits("r2", EVEN)
        f.beat("c1", v2)
        assert f.planner.tick() == 1
        assert f.state(rollout_id) == ("observing", "")
        f.planner.tick()
        assert f.state(rollout_id) == ("halted", "distribution_shift")
        with engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        assert found is not None
        assert "Jensen-Shannon distance" in found.message
        assert "(30 canary and 60 other visits)" in found.message
        assert found.details["canary_mix"]["confused"] == 25  # type: ignore[index]
        # halted: the canary keeps what it runs, the others still hear nothing, until an operator decides
        assert [a.model.version for a in f.beat("c1", v2)] == [v2]
        assert f.beat("r1", v1) == []


def test_too_little_data_pauses_and_never_passes(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        v1, v2 = f.versions
        rollout_id = _start(f, v2)
        f.visits("c1", {"interested": 3})
        f.visits("r1", EVEN)
        f.beat("c1", v2)
        f.planner.tick()
        f.planner.tick()
        assert f.state(rollout_id) == ("paused", "inconclusive")
        with engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        assert found is not None
        assert "3 classified visits at canary stores and 30 at the rest (at least 20 each)" in found.message
        for _ in range(3):  # paused stays paused: it waits for an operator
            f.planner.tick()
        assert f.state(rollout_id) == ("paused", "inconclusive")
        assert f.beat("r1", v1) == []
        # resumed, observed again: now there is enough, and it passes to every store
        assert command(engine, rollout_id, Command.RESUME) is RolloutState.OBSERVING
        f.visits("c1", EVEN)
        f.beat("c1", v2)
        f.planner.tick()
        assert f.state(rollout_id) == ("ramping", "")
        assert [a.model.version for a in f.beat("r1", v1)] == [v2]


def test_promoted_then_rolled_back_to_what_the_agents_ran(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        v1, v2 = f.versions
        for store in STORES:  # every agent runs v1: what a rollback goes back to
            f.beat(store, v1)
        rollout_id = _start(f, v2)
        assert command(engine, rollout_id, Command.PROMOTE) is RolloutState.RAMPING
        for store in STORES:
            (assignment,) = f.beat(store, v2)
            assert (assignment.model.version, assignment.rollout_id) == (v2, rollout_id)
        f.planner.tick()
        assert f.state(rollout_id) == ("completed", "")
        assert command(engine, rollout_id, Command.ROLLBACK) is RolloutState.ROLLING_BACK
        f.planner.tick()
        assert f.state(rollout_id) == ("rolling_back", "")  # nobody is back yet
        for store in STORES:
            (assignment,) = f.beat(store, v1)
            assert assignment.model.version == v1
            assert assignment.model.sha256 == f.cache.known(BEHAVIOR_MODEL, v1).sha256  # type: ignore[union-attr]
        f.planner.tick()
        assert f.state(rollout_id) == ("rolled_back", "")


def test_a_silent_canary_halts_and_a_newer_rollout_supersedes(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        v1, v2 = f.versions
        first = _start(f, v2)
        f.planner.tick(now=time.time() + 61)  # c1's agent never sent a heartbeat
        assert f.state(first) == ("halted", "heartbeat_lost")
        second = _start(f, v1)
        assert f.state(first) == ("superseded", "superseded")
        assert [(a.model.version, a.rollout_id) for a in f.beat("c1", v2)] == [(v1, second)]


def test_two_replicas_cannot_make_the_same_transition(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        rollout_id = _start(f, f.versions[1])
        with engine.connect() as conn:
            revision = conn.execute(select(rollouts.c.revision).where(rollouts.c.rollout_id == rollout_id)).scalar_one()
        decision = Decision(RolloutState.OBSERVING, message="test")
        results = []
        for _ in range(2):  # both read the same revision; the second finds it moved
            with engine.begin() as conn:
                results.append(transition(conn, rollout_id, revision, RolloutState.CANARY, decision, time.time()))
        assert results == [True, False]
        with engine.connect() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.rollout_id == rollout_id)).one()
        assert (row.state, row.revision, json.loads(row.details)) == ("observing", revision + 1, {})


def test_a_canary_that_fails_its_smoke_test_halts_the_rollout_with_the_reason(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    with fleet(database_url, engine, tmp_path, mlflow_store) as f:
        v1, v2 = f.versions
        rollout_id = _start(f, v2)
        failed = pb.ModelInstallReport(
            rollout_id=rollout_id,
            model=pb.ModelVersion(name=BEHAVIOR_MODEL, version=v2),
            state=pb.INSTALL_STATE_FAILED,
            failure_code="smoke_test_failed",
            message="probabilities sum to 0.7, not 1",
            at=stamp(time.time()),
        )
        hb = pb.AgentHeartbeat(
            agent_id="edge-1",
            store_id="c1",
            sent_at=stamp(time.time()),
            agent_version="test",
            models=[pb.ModelVersion(name=BEHAVIOR_MODEL, version=v1)],  # still on the previous model
            installs=[failed],
        )
        f.client.Heartbeat(hb, metadata=auth(f.tokens["c1"]), timeout=30)
        f.planner.tick()
        assert f.state(rollout_id) == ("halted", "smoke_test_failed")
        with engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        assert found is not None
        assert found.message == (
            "1 of 1 canary stores failed to install or run the version (at most 0 allowed): smoke_test_failed x1"
        )
        assert found.stores is not None
        assert found.stores[0].message == "probabilities sum to 0.7, not 1"
        assert f.beat("r1", v1) == []  # nobody else was ever told

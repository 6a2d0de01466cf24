"""Simulated agents follow central's assignments through a real gRPC central and a real MLflow registry:
they download, verify, switch, report ACTIVE, and stamp the model they run on their summaries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import running_ingest
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import select

from central.config import RolloutConfig
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import track_summaries
from central.registry.cache import ArtifactCache
from central.rollout.planner import Planner
from central.rollout.service import StartRequest, start
from central.rollout.status import get_rollout
from central.stores import create_store
from fleet_sim.agents import SimAgent, Wanted, to_install
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL


def _assignment(name: str, version: str) -> pb.ModelAssignment:
    return pb.ModelAssignment(model=pb.ModelVersion(name=name, version=version, sha256="ab" * 32), rollout_id="r1")


@pytest.mark.parametrize(
    ("running", "assigned", "expected"),
    [
        ({BEHAVIOR_MODEL: "1"}, [(BEHAVIOR_MODEL, "1")], []),
        ({BEHAVIOR_MODEL: "1"}, [(BEHAVIOR_MODEL, "2")], [(BEHAVIOR_MODEL, "2")]),
        ({}, [(BEHAVIOR_MODEL, "1"), (DETECTOR_MODEL, "3")], [(BEHAVIOR_MODEL, "1"), (DETECTOR_MODEL, "3")]),
        ({BEHAVIOR_MODEL: "2"}, [(BEHAVIOR_MODEL, "1")], [(BEHAVIOR_MODEL, "1")]),  # a rollback is an install too
    ],
)
def test_what_an_agent_installs(
    running: dict[str, str], assigned: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    wanted = to_install(running, [_assignment(n, v) for n, v in assigned])
    assert [(w.name, w.version) for w in wanted] == expected
    assert all(isinstance(w, Wanted) for w in wanted)


def test_simulated_agents_install_what_they_are_assigned(tmp_path: Path, mlflow_store: tuple[str, list[str]]) -> None:
    uri, (v1, v2, _) = mlflow_store
    database_url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    config = RolloutConfig(tracking_uri=uri, artifact_cache=tmp_path / "cache", chunk_kib=4)
    agents = [SimAgent(s, create_store(engine, s), {BEHAVIOR_MODEL: v1}, visits_per_beat=2) for s in ("a", "b", "c")]
    cache = ArtifactCache(engine, config.artifact_cache, uri, 1 << 20)
    rollout_id = start(engine, cache, StartRequest(BEHAVIOR_MODEL, v2, canary_percent=0), 10)  # straight to all

    async def beats(port: int, n: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = pb_grpc.EdgeSyncStub(channel)
            await asyncio.gather(*(a.push(client) for a in agents))  # visits judged by v1
            for _ in range(n):
                await asyncio.gather(*(a.beat(client) for a in agents))

    with running_ingest(database_url, rollout=config) as ingest:
        asyncio.run(beats(ingest.port, 2))  # the first learns and installs, the second reports it
    assert {a.store_id: a.running[BEHAVIOR_MODEL] for a in agents} == {"a": v2, "b": v2, "c": v2}
    assert all(f"{BEHAVIOR_MODEL}/{v2}" in a.switched_at for a in agents)
    assert {r.state for a in agents for r in a.reports.values()} == {pb.INSTALL_STATE_ACTIVE}
    Planner(engine, config).tick()
    with engine.connect() as conn:
        found = get_rollout(conn, rollout_id)
        stamped = set(conn.execute(select(track_summaries.c.behavior_model)).scalars())
    assert found is not None
    assert (found.state, found.store_states) == ("completed", {"active": 3})
    # visits before the switch carry v1, after it v2
    assert stamped == {f"{BEHAVIOR_MODEL}/{v1}", f"{BEHAVIOR_MODEL}/{v2}"}

"""Time from ``rollout start`` to every agent running the new version, for a fleet of simulated agents.

A real ``retail-central serve`` (SQLite, planner every second) and a real local MLflow registry with two
tiny behaviour-model versions; ``--agents`` simulated agents (:mod:`fleet_sim.agents`) heartbeat every
``--heartbeat`` seconds, download what they are assigned over ``DownloadModel``, check its SHA-256, switch,
report it, and push a few summaries per beat so that the canary's behaviour mix can be judged. Two
rollouts one after the other: v2 with 5 % canary stores (judged once every canary runs it and has been
watched for two heartbeats, then promoted by the planner), then back to v1 with no canary. Times are
seconds after the start command returned, as the agents saw them (the switch) and as central recorded them.

    .venv/bin/python bench/rollout.py --agents 200 --heartbeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.registry.cache import ArtifactCache
from central.rollout.service import StartRequest, start
from central.rollout.status import get_rollout
from central.stores import create_store
from fleet_sim.agents import SimAgent
from fleet_sim.models import tiny_behavior_model
from retail_common.rollout import BEHAVIOR_MODEL
from training.registry import register_onnx

HERE = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    rollout: str
    agents: int
    canaries: int
    canaries_running_s: float | None
    promoted_s: float | None
    all_running_s: float | None
    completed_s: float | None
    failures: int


def _serve(url: str, config: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{HERE / 'proto'}", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--database", url, "--config", str(config),
         "--grpc-port", "0", "--http-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.search(r"gRPC ingest on [\d.]+:(\d+)", line):
            return proc, int(m.group(1))
    raise RuntimeError("central did not start")


async def _rollout(
    name: str,
    cache: ArtifactCache,
    agents: list[SimAgent],
    version: str,
    canary: float,
    observe_s: float,
    limit_s: float,
) -> Row:
    engine = cache.engine
    request = StartRequest(BEHAVIOR_MODEL, version, canary_percent=canary, observe_s=observe_s)
    key = f"{BEHAVIOR_MODEL}/{version}"
    before = {a.store_id for a in agents if a.running.get(BEHAVIOR_MODEL) == version}
    rollout_id = await asyncio.to_thread(start, engine, cache, request, 100_000)
    t0 = time.time()
    promoted = completed = None
    while time.time() - t0 < limit_s:
        with engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        if found is None:
            raise RuntimeError(f"rollout {rollout_id} vanished")
        if promoted is None and found.state in ("ramping", "completed"):
            promoted = time.time() - t0
        if found.state == "completed":
            completed = time.time() - t0
            break
        if found.state in ("halted", "paused"):
            print(f"{name}: {found.state}: {found.message}", file=sys.stderr)
            break
        await asyncio.sleep(0.25)
    with engine.connect() as conn:
        found = get_rollout(conn, rollout_id)
    if found is None or found.stores is None:
        raise RuntimeError(f"rollout {rollout_id} vanished")
    canaries = {s.store_id for s in found.stores if s.canary}

    def switch_time(agent: SimAgent) -> float | None:
        """When the agent ran the version (at the start if it ran it before), None if it does not run it."""
        if agent.store_id in before:
            return t0
        return agent.switched_at.get(key) if agent.running.get(BEHAVIOR_MODEL) == version else None

    switched = {a.store_id: switch_time(a) for a in agents}

    def last(stores: set[str]) -> float | None:
        times = [switched[s] for s in stores]
        return None if not times or None in times else max(t for t in times if t is not None) - t0

    return Row(
        name,
        len(agents),
        len(canaries),
        last(canaries),
        promoted,
        last(set(switched)),
        completed,
        sum(a.failures for a in agents),
    )


async def _bench(n_agents: int, heartbeat_s: float, root: Path) -> list[Row]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    v1 = register_onnx(tiny_behavior_model("interested"), BEHAVIOR_MODEL, uri, {})
    v2 = register_onnx(tiny_behavior_model("interested", seed=2), BEHAVIOR_MODEL, uri, {})
    url = f"sqlite:///{root / 'central.db'}"
    config = root / "central.yaml"
    rollout = {"tracking_uri": uri, "artifact_cache": str(root / "cache"), "plan_interval_s": 1.0,
               "min_labelled_visits": 50, "heartbeat_lost_s": 10 * heartbeat_s}  # fmt: skip
    config.write_text(yaml.safe_dump({"rollout": rollout}))
    engine = make_engine(url)
    upgrade(engine)
    agents = [
        SimAgent(f"sim-{i:04d}", create_store(engine, f"sim-{i:04d}"), {BEHAVIOR_MODEL: v1}, visits_per_beat=3)
        for i in range(n_agents)
    ]
    cache = ArtifactCache(engine, root / "cache", uri, 1 << 30)
    proc, port = _serve(url, config)
    stop = asyncio.Event()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = pb_grpc.EdgeSyncStub(channel)
            tasks = [asyncio.create_task(a.run(client, heartbeat_s, stop)) for a in agents]
            await asyncio.sleep(2 * heartbeat_s)  # every agent known, with what it runs, and some data
            rows = [
                await _rollout("v1 -> v2, 5 % canary", cache, agents, v2, 5.0, 2 * heartbeat_s, 30 * heartbeat_s),
                await _rollout("v2 -> v1, no canary", cache, agents, v1, 0.0, 0.0, 30 * heartbeat_s),
            ]
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        proc.terminate()
        proc.wait(30)
        engine.dispose()
    return rows


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between an agent's heartbeats")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(_bench(args.agents, args.heartbeat, Path(tmp)))
    print(f"\nrollout of a behaviour model to {args.agents} simulated agents, heartbeats every {args.heartbeat:g} s")
    print("(seconds after `rollout start` returned; planner tick 1 s)\n")
    header = ("rollout", "agents", "canaries", "canaries run it", "promoted", "every agent runs it", "completed",
              "failed installs")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        cells = (r.rollout, str(r.agents), str(r.canaries), _s(r.canaries_running_s), _s(r.promoted_s),
                 _s(r.all_running_s), _s(r.completed_s), str(r.failures))  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Time from ``rollout start`` to every real agent running the new version (``bench/rollout.py`` does the same
for simulated agents).

A real ``retail-central serve`` (SQLite, planner every second), a local MLflow registry with two tiny
behaviour-model versions, and ``--agents`` real ``retail-edge run`` processes (one looped dark clip each, a tiny
ONNX detector) heartbeating every ``--heartbeat`` seconds. Three rollouts to every store, no canary: version 1
(from the packaged model), version 2, then the rollback of version 2 (version 1 from each agent's disk). Each
agent's ``/healthz`` is read every 0.1 s; times are seconds after the start (or rollback) command returned.

    .venv/bin/python bench/rollout_agents.py [--agents 3] [--heartbeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import onnx
import yaml
from sqlalchemy import Engine

from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.registry.cache import ArtifactCache
from central.rollout.policy import Command
from central.rollout.service import StartRequest, command, start
from central.rollout.status import get_rollout
from central.stores import create_store
from fleet_sim.models import tiny_behavior_model, tiny_detector_model
from retail_common.rollout import BEHAVIOR_MODEL
from training.registry import register_onnx

HERE = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{HERE}:{HERE / 'proto'}", "PYTHONUNBUFFERED": "1"}
LIMIT_S = 120.0


def _serve(url: str, config: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--database", url, "--config", str(config),
         "--grpc-port", "0", "--http-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV,
    )  # fmt: skip
    if proc.stdout is None:
        raise RuntimeError("no output from central")
    for line in proc.stdout:
        if m := re.search(r"gRPC ingest on [\d.]+:(\d+)", line):
            return proc, int(m.group(1))
    raise RuntimeError("central did not start")


def _agent(folder: Path, store: str, port: int, token: str, heartbeat_s: float) -> subprocess.Popen[str]:
    folder.mkdir(parents=True)
    (folder / "token").write_text(token)
    clip = folder.parent / "dark.mp4"
    if not clip.exists():
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (320, 180))
        for _ in range(50):
            writer.write(np.zeros((180, 320, 3), np.uint8))
        writer.release()
        onnx.save(tiny_detector_model(), folder.parent / "detector.onnx")
    cfg = {
        "store_id": store,
        "detector": {"type": "onnx", "model": str(folder.parent / "detector.onnx"), "threads": 1, "imgsz": 320},
        "store": {"path": str(folder / "edge.db")},
        "behavior": {"threads": 1},
        "cameras": [{"id": "cam1", "source": str(clip), "loop": True}],
        "sync": {"target": f"127.0.0.1:{port}", "token_file": str(folder / "token"), "heartbeat_s": heartbeat_s},
        "runtime": {"health": {"port": 0}},
    }
    (folder / "agent.yaml").write_text(yaml.safe_dump(cfg))
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(folder / "agent.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def _health_url(proc: subprocess.Popen[str]) -> str:
    if proc.stderr is None:
        raise RuntimeError("no log from the agent")
    for line in proc.stderr:
        if m := re.search(r"health on (http://[\d.]+:\d+)/healthz", line):
            return m.group(1)
    raise RuntimeError("an agent did not start")


def _running(url: str) -> str:
    return str(httpx.get(f"{url}/healthz", timeout=5).json()["models"]["behavior"])


def _until_all(urls: list[str], want: str) -> tuple[float, float]:
    """Seconds until the first and the last agent run ``want``."""
    t0 = time.monotonic()
    when: dict[str, float] = {}
    while len(when) < len(urls) and time.monotonic() - t0 < LIMIT_S:
        for url in urls:
            if url not in when and _running(url) == want:
                when[url] = time.monotonic() - t0
        time.sleep(0.1)
    if len(when) < len(urls):
        raise RuntimeError(f"{len(urls) - len(when)} agent(s) not on {want} after {LIMIT_S:.0f} s")
    return min(when.values()), max(when.values())


def _until_completed(engine: Engine, rollout_id: str) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < LIMIT_S:
        with engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        if found is not None and found.state == "completed":
            return
        time.sleep(0.2)
    raise RuntimeError(f"rollout {rollout_id} not completed after {LIMIT_S:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rollout-agents-"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    v1 = register_onnx(tiny_behavior_model("interested"), BEHAVIOR_MODEL, uri, {})
    v2 = register_onnx(tiny_behavior_model("hesitant", seed=2), BEHAVIOR_MODEL, uri, {})
    url = f"sqlite:///{root / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    stores = [f"s{i}" for i in range(args.agents)]
    tokens = {s: create_store(engine, s) for s in stores}
    config = root / "central.yaml"
    rollout = {"tracking_uri": uri, "artifact_cache": str(root / "cache"), "plan_interval_s": 1.0}
    config.write_text(yaml.safe_dump({"rollout": rollout}))
    cache = ArtifactCache(engine, root / "cache", uri, 64 << 20)
    serve, port = _serve(url, config)
    agents = [_agent(root / s, s, port, tokens[s], args.heartbeat) for s in stores]
    rows = []
    try:
        urls = [_health_url(p) for p in agents]
        for name, version in (("version 1 (from the packaged model)", v1), ("version 2", v2)):
            rollout_id = start(engine, cache, StartRequest(BEHAVIOR_MODEL, version, canary_percent=0), 100)
            rows.append((name, *_until_all(urls, f"{BEHAVIOR_MODEL}/{version}")))
            _until_completed(engine, rollout_id)  # a rollback goes back to the last completed version
        command(engine, rollout_id, Command.ROLLBACK)
        rows.append(("rollback to version 1 (from disk)", *_until_all(urls, f"{BEHAVIOR_MODEL}/{v1}")))
    finally:
        for proc in [*agents, serve]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*agents, serve]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    load = os.getloadavg()[0]
    print(f"{args.agents} real agents, heartbeat every {args.heartbeat:g} s; load average {load:.1f}")
    print("| rollout | first agent running it (s) | every agent running it (s) |")
    print("|---|---|---|")
    for name, first, last in rows:
        print(f"| {name} | {first:.1f} | {last:.1f} |")


if __name__ == "__main__":
    main()

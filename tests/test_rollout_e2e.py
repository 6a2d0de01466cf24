"""A rollout end to end: a local MLflow store with two behaviour-model versions, a real central (gRPC, SQLite),
three real ``retail-edge run`` agents reading files. Version 1 goes to every store, version 2 to one canary
store (it runs there only: the summaries say so), is promoted (every store runs it), rolled back (every store
runs version 1 again, from its disk); an agent restarted without central starts on the last active model.

The camera is a small file that is bright for 1.5 s, then dark, looped; the detector (a tiny ONNX graph) sees a
person in bright frames only, so each agent summarises a visit every 3.3 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import model_files
import pytest
import yaml
from grpc_fixtures import free_port, running_ingest
from mlflow_models import registry, tiny_behavior_model
from sqlalchemy import select

from central.config import RolloutConfig
from central.db.engine import make_engine
from central.db.schema import agents, track_summaries
from central.registry.cache import ArtifactCache
from central.rollout.policy import Command
from central.rollout.service import StartRequest, command, start
from central.stores import create_store
from retail_common.rollout import BEHAVIOR_MODEL

STORES = ("s1", "s2", "s3")


def agent_config(folder: Path, store: str, port: int, token: str, detector: Path, clip: Path) -> Path:
    """The store's agent, starting on a behaviour model of its own (``store-default/1``), not on any version of
    the registry's."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    default = folder.parent / "store-default.onnx"
    if not default.exists():
        model = tiny_behavior_model("decisive", seed=3)
        model.metadata_props.add(key="model_version", value="store-default/1")
        default.write_bytes(model.SerializeToString())
    cfg = {
        "store_id": store,
        "detector": {"type": "onnx", "model": str(detector), "threads": 1},
        "tracker": {"lost_track_seconds": 1.0, "min_track_seconds": 1.0, "min_detections": 3},
        "store": {"path": str(folder / "edge.db")},
        "behavior": {"model": str(default), "threads": 1},
        "cameras": [{"id": "cam1", "source": str(clip), "loop": True}],
        "sync": {
            "target": f"127.0.0.1:{port}",
            "token_file": str(folder / "token"),
            "interval_s": 1,
            "heartbeat_s": 1,
            "bucket_grace_s": 2,
            "backoff_max_s": 2,
        },
        "runtime": {"flush_interval_s": 1, "health": {"port": 0}, "shutdown_sync_s": 3, "idle_fps": 10},
        "updates": {"backoff_initial_s": 0.2, "backoff_max_s": 1},
    }
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_agent(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def health_url(proc: subprocess.Popen[str]) -> str:
    """The agent's /healthz base URL, read from its log once it runs."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if m := re.search(r"health on (http://[\d.]+:\d+)/healthz", line):
            return m.group(1)
    proc.kill()
    raise AssertionError(f"agent did not start: {proc.communicate(timeout=10)[1]}")


def stop_agent(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)


@contextmanager
def agents_running(*configs: Path) -> Iterator[list[str]]:
    """``retail-edge run`` for each configuration, started together; their /healthz base URLs."""
    with ExitStack() as stack:
        procs = [start_agent(c) for c in configs]
        for proc in procs:
            stack.callback(stop_agent, proc)
        yield [health_url(p) for p in procs]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def health(url: str) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{url}/healthz", timeout=5).json()
    return body


def behaviour_model(url: str) -> str:
    models = health(url)["models"]
    assert isinstance(models, dict)
    return str(models["behavior"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_canary_promote_rollback_and_an_offline_restart(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    tokens = {s: create_store(engine, s) for s in STORES}
    detector = model_files.detector(tmp_path / "detector.onnx", mode="brightness")
    clip = model_files.blinking_clip(tmp_path / "blink.mp4", bright_s=1.5, dark_s=1.8)
    port = free_port()
    configs = {s: agent_config(tmp_path / s, s, port, tokens[s], detector, clip) for s in STORES}
    uri, (v1, v2) = registry(
        tmp_path / "mlflow",
        [
            (BEHAVIOR_MODEL, tiny_behavior_model("interested")),
            (BEHAVIOR_MODEL, tiny_behavior_model("hesitant", seed=1)),
        ],
    )
    want1, want2 = f"{BEHAVIOR_MODEL}/{v1}", f"{BEHAVIOR_MODEL}/{v2}"
    cache = ArtifactCache(engine, tmp_path / "cache", uri, 64 << 20)

    def summaries(store: str) -> list[str]:
        with engine.connect() as conn:
            rows = conn.execute(
                select(track_summaries.c.behavior_model)
                .where(track_summaries.c.store_id == store)
                .order_by(track_summaries.c.start_ts)
            )
            return [str(m) for m in rows.scalars()]

    def reported(store: str) -> str:
        with engine.connect() as conn:
            raw = conn.execute(select(agents.c.models).where(agents.c.store_id == store)).scalar()
        models = json.loads(raw) if raw else []
        return next((f"{m['name']}/{m['version']}" for m in models if m["name"] == BEHAVIOR_MODEL), "")

    rollout = RolloutConfig(tracking_uri=uri, artifact_cache=tmp_path / "cache", chunk_kib=16)
    with running_ingest(database_url, port=port, rollout=rollout), agents_running(*configs.values()) as running:
        urls = dict(zip(STORES, running, strict=True))
        # version 1 everywhere: the fleet's baseline
        start(engine, cache, StartRequest(BEHAVIOR_MODEL, v1, canary_percent=0), 100)
        for s in STORES:
            wait_for(f"{s} reports {want1}", lambda s=s: reported(s) == want1)
        # version 2 on the canary store only
        canary = start(engine, cache, StartRequest(BEHAVIOR_MODEL, v2, canary_stores=["s1"]), 100)
        wait_for("s1 runs version 2", lambda: behaviour_model(urls["s1"]) == want2)
        wait_for("a summary of s1 made by version 2 reaches central", lambda: want2 in summaries("s1"))
        for s in ("s2", "s3"):
            wait_for(f"{s} keeps summarising with version 1", lambda s=s: summaries(s).count(want1) >= 1)
            assert want2 not in summaries(s), f"{s} is no canary"
            assert behaviour_model(urls[s]) == want1
        # promoted: every store runs it, and says so in its heartbeats
        command(engine, canary, Command.PROMOTE)
        for s in STORES:
            wait_for(f"{s} reports {want2}", lambda s=s: reported(s) == want2)
        wait_for("a summary of s3 made by version 2", lambda: want2 in summaries("s3"))
        # rolled back: version 1 again, from each agent's disk (kept as the previous version)
        command(engine, canary, Command.ROLLBACK)
        for s in STORES:
            wait_for(f"{s} reports {want1} again", lambda s=s: reported(s) == want1)
        installs = health(urls["s2"])["installs"]
        assert isinstance(installs, list)
        assert {(i["model"], i["state"]) for i in installs if i["rollout_id"] == canary} == {(want1, "active")}
        assert health(urls["s2"])["behavior_model_fallback"] is False
    # central is gone; s3's agent stopped with it: started again, it runs the last active model
    with agents_running(configs["s3"]) as (url,):
        assert behaviour_model(url) == want1
        assert health(url)["behavior_model_fallback"] is False
    engine.dispose()

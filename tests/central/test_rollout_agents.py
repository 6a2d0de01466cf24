"""Rollouts end to end, as a store chain runs them: a local MLflow registry, a real ``retail-central serve``
(planner included, SQLite), three real ``retail-edge run`` agents reading files.

Version 1 goes to every store; version 2 to one canary store (it runs there only: the summaries say so), is
promoted (every store runs it) and rolled back (every store runs version 1 again, from its own disk). Then two
bad versions on the canary: one that loads but fails the agent's smoke test, one whose bytes rot in central's
cache after central checked them; each is refused by the agent, which keeps running version 1, and its rollout
halts by itself with the agent's failure code. Last, an agent restarted without central starts on the last
active model.

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
import onnx
import yaml
from mlflow_models import registry, tiny_behavior_model
from sqlalchemy import select
from test_serve import central_process

from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import agents, rollouts, track_summaries
from central.registry.cache import ArtifactCache
from central.rollout.policy import Command
from central.rollout.service import RolloutError, StartRequest, command, start
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


def operator(engine: object, rollout_id: str, cmd: Command) -> None:
    """An operator's command, tried again when the planner moved the rollout at the same moment."""
    for _ in range(20):
        try:
            command(engine, rollout_id, cmd)  # type: ignore[arg-type]
            return
        except RolloutError as e:
            if "changed meanwhile" not in str(e):
                raise
            time.sleep(0.1)
    raise AssertionError(f"{cmd.value} of {rollout_id} kept colliding with the planner")


def test_canary_promote_rollback_bad_versions_and_an_offline_restart(tmp_path: Path) -> None:
    sigmoid = onnx.load(model_files.behavior(tmp_path / "sigmoid.onnx", mode="unnormalised"))
    uri, (v1, v2, smoke_fails, rots) = registry(
        tmp_path / "mlflow",
        [
            (BEHAVIOR_MODEL, tiny_behavior_model("interested")),
            (BEHAVIOR_MODEL, tiny_behavior_model("hesitant", seed=1)),
            (BEHAVIOR_MODEL, sigmoid),  # a valid model of its role for central: only running it shows the fault
            (BEHAVIOR_MODEL, tiny_behavior_model("confused", seed=2)),
        ],
    )
    want1, want2 = f"{BEHAVIOR_MODEL}/{v1}", f"{BEHAVIOR_MODEL}/{v2}"
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    tokens = {s: create_store(engine, s) for s in STORES}
    cache = ArtifactCache(engine, tmp_path / "cache", uri, 64 << 20)
    config = tmp_path / "central.yaml"
    rollout = {"tracking_uri": uri, "artifact_cache": str(tmp_path / "cache"), "plan_interval_s": 0.2, "chunk_kib": 16}
    config.write_text(yaml.safe_dump({"rollout": rollout}))
    detector = model_files.detector(tmp_path / "detector.onnx", mode="brightness")
    clip = model_files.blinking_clip(tmp_path / "blink.mp4", bright_s=1.5, dark_s=1.8)

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

    def rollout_state(rollout_id: str) -> tuple[str, str, str]:
        with engine.connect() as conn:
            row = conn.execute(
                select(rollouts.c.state, rollouts.c.failure_code, rollouts.c.message).where(
                    rollouts.c.rollout_id == rollout_id
                )
            ).one()
        return row.state, row.failure_code, row.message

    with central_process(url, "--config", str(config)) as (port, _, _):
        configs = {s: agent_config(tmp_path / s, s, port, tokens[s], detector, clip) for s in STORES}
        with agents_running(*configs.values()) as running:
            urls = dict(zip(STORES, running, strict=True))
            # version 1 everywhere: the fleet's baseline
            start(engine, cache, StartRequest(BEHAVIOR_MODEL, v1, canary_percent=0), 100)
            for s in STORES:
                wait_for(f"{s} reports {want1}", lambda s=s: reported(s) == want1)
            # what runs each model reaches central with the heartbeat: the detector here, FP32 in ONNX Runtime
            with engine.connect() as conn:
                raw = conn.execute(select(agents.c.models).where(agents.c.store_id == "s1")).scalar()
            detectors = [m for m in json.loads(raw or "[]") if m["name"] != BEHAVIOR_MODEL]
            assert [(m["runtime"], m["precision"]) for m in detectors] == [("onnxruntime/CPU", "fp32")], detectors
            # version 2 on the canary store only
            canary = start(engine, cache, StartRequest(BEHAVIOR_MODEL, v2, canary_stores=["s1"]), 100)
            wait_for("s1 runs version 2", lambda: behaviour_model(urls["s1"]) == want2)
            wait_for("a summary of s1 made by version 2 reaches central", lambda: want2 in summaries("s1"))
            for s in ("s2", "s3"):
                wait_for(f"{s} keeps summarising with version 1", lambda s=s: summaries(s).count(want1) >= 1)
                assert want2 not in summaries(s), f"{s} is no canary"
                assert behaviour_model(urls[s]) == want1
            # promoted: every store runs it, and says so in its heartbeats
            operator(engine, canary, Command.PROMOTE)
            for s in STORES:
                wait_for(f"{s} reports {want2}", lambda s=s: reported(s) == want2)
            wait_for("a summary of s3 made by version 2", lambda: want2 in summaries("s3"))
            # rolled back: version 1 again, from each agent's disk (kept as the previous version)
            operator(engine, canary, Command.ROLLBACK)
            for s in STORES:
                wait_for(f"{s} reports {want1} again", lambda s=s: reported(s) == want1)
            installs = health(urls["s2"])["installs"]
            assert isinstance(installs, list)
            assert {(i["model"], i["state"]) for i in installs if i["rollout_id"] == canary} == {(want1, "active")}
            assert health(urls["s2"])["behavior_model_fallback"] is False

            # a version that loads but fails the smoke test: refused, version 1 runs on, the rollout halts
            first = start(engine, cache, StartRequest(BEHAVIOR_MODEL, smoke_fails, canary_stores=["s1"]), 100)
            wait_for("the rollout halts", lambda: rollout_state(first)[0] == "halted")
            _, code, message = rollout_state(first)
            assert code == "smoke_test_failed"
            assert "failed to install or run" in message, message
            # a version whose bytes rot in central's cache once checked: one flipped byte, the same size
            second = start(engine, cache, StartRequest(BEHAVIOR_MODEL, rots, canary_stores=["s1"]), 100)
            cached = cache.path(BEHAVIOR_MODEL, rots)
            data = bytearray(cached.read_bytes())
            data[len(data) // 2] ^= 0xFF
            cached.write_bytes(bytes(data))
            wait_for("the second rollout halts", lambda: rollout_state(second)[0] == "halted")
            assert rollout_state(second)[1] in ("sha256_mismatch", "download_failed")
            assert behaviour_model(urls["s1"]) == want1
            s1_installs = {i["rollout_id"]: (i["state"], i["failure_code"]) for i in health(urls["s1"])["installs"]}  # type: ignore[union-attr]
            assert s1_installs[first] == ("failed", "smoke_test_failed")
            assert s1_installs[second][0] == "failed"
    # central is gone; s3's agent stopped with it: started again, it runs the last active model
    with agents_running(configs["s3"]) as (edge,):
        assert behaviour_model(edge) == want1
        assert health(edge)["behavior_model_fallback"] is False
    engine.dispose()

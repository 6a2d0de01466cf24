"""Bad artifacts through the real chain: a real ``retail-central serve`` (planner included) with a real MLflow
registry, a real ``retail-edge run`` agent. A version that loads but fails the agent's smoke test, then a version
whose bytes rot in central's cache after it was checked: each is refused by the agent, which keeps running the
version before it, and the rollout halts by itself, saying why.
"""

from __future__ import annotations

from pathlib import Path

import model_files
import onnx
import yaml
from mlflow_models import registry, tiny_behavior_model
from sqlalchemy import select
from test_rollout_e2e import agent_config, agents_running, behaviour_model, health, wait_for
from test_serve import central_process

from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import rollouts
from central.registry.cache import ArtifactCache
from central.rollout.service import StartRequest, start
from central.stores import create_store
from retail_common.rollout import BEHAVIOR_MODEL


def test_bad_versions_are_refused_by_the_agent_and_halt_their_rollouts(tmp_path: Path) -> None:
    sigmoid = onnx.load(model_files.behavior(tmp_path / "sigmoid.onnx", mode="unnormalised"))
    uri, (v1, smoke_fails, rots) = registry(
        tmp_path / "mlflow",
        [
            (BEHAVIOR_MODEL, tiny_behavior_model("interested")),
            (BEHAVIOR_MODEL, sigmoid),  # a valid model of its role for central: only running it shows the fault
            (BEHAVIOR_MODEL, tiny_behavior_model("hesitant", seed=1)),
        ],
    )
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    token = create_store(engine, "s1")
    cache = ArtifactCache(engine, tmp_path / "cache", uri, 64 << 20)
    config = tmp_path / "central.yaml"
    rollout = {"tracking_uri": uri, "artifact_cache": str(tmp_path / "cache"), "plan_interval_s": 0.2}
    config.write_text(yaml.safe_dump({"rollout": rollout}))
    detector = model_files.detector(tmp_path / "detector.onnx", mode="brightness")
    clip = model_files.blinking_clip(tmp_path / "blink.mp4", bright_s=1.5, dark_s=1.8)

    def rollout_state(rollout_id: str) -> tuple[str, str, str]:
        with engine.connect() as conn:
            row = conn.execute(
                select(rollouts.c.state, rollouts.c.failure_code, rollouts.c.message).where(
                    rollouts.c.rollout_id == rollout_id
                )
            ).one()
        return row.state, row.failure_code, row.message

    with (
        central_process(url, "--config", str(config)) as (grpc_port, _, _),
        agents_running(agent_config(tmp_path / "s1", "s1", grpc_port, token, detector, clip)) as (edge,),
    ):
        start(engine, cache, StartRequest(BEHAVIOR_MODEL, v1, canary_percent=0), 100)
        wait_for("s1 runs version 1", lambda: behaviour_model(edge) == f"{BEHAVIOR_MODEL}/{v1}")

        first = start(engine, cache, StartRequest(BEHAVIOR_MODEL, smoke_fails, canary_stores=["s1"]), 100)
        wait_for("the rollout halts", lambda: rollout_state(first)[0] == "halted")
        _, code, message = rollout_state(first)
        assert code == "smoke_test_failed"
        assert "failed to install or run" in message, message
        assert behaviour_model(edge) == f"{BEHAVIOR_MODEL}/{v1}"

        second = start(engine, cache, StartRequest(BEHAVIOR_MODEL, rots, canary_stores=["s1"]), 100)
        cached = cache.path(BEHAVIOR_MODEL, rots)
        data = bytearray(cached.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte, same size: only the SHA-256 tells
        cached.write_bytes(bytes(data))
        wait_for("the second rollout halts", lambda: rollout_state(second)[0] == "halted")
        assert rollout_state(second)[1] in ("sha256_mismatch", "download_failed")
        assert behaviour_model(edge) == f"{BEHAVIOR_MODEL}/{v1}"
        installs = {i["rollout_id"]: (i["state"], i["failure_code"]) for i in health(edge)["installs"]}  # type: ignore[union-attr]
        assert installs[first] == ("failed", "smoke_test_failed")
        assert installs[second][0] == "failed"
    engine.dispose()

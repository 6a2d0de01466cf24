"""Rollouts as an operator runs them: ``retail-central rollout`` and ``/api/v1/rollouts`` on a real
``retail-central serve`` with a real MLflow registry; central killed mid-rollout carries on after a restart;
viewer keys are refused."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import httpx
import yaml
from grpc_fixtures import auth, push, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from test_serve import central_process, cli

from central.api.keys import create_api_key
from central.api.routes.rollouts import StartIn
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.stores import create_store
from retail_common.rollout import BEHAVIOR_MODEL, ROLLOUT_MODELS


def wait_for(what: Callable[[], object], expected: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := what()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r} after {timeout} s, waiting for {expected!r}")
        time.sleep(0.1)


def beat(client: pb_grpc.EdgeSyncStub, token: str, store: str, version: str) -> list[str]:
    hb = pb.AgentHeartbeat(
        agent_id="edge-1",
        store_id=store,
        sent_at=stamp(time.time()),
        agent_version="test",
        models=[pb.ModelVersion(name=BEHAVIOR_MODEL, version=version)],
    )
    return [a.model.version for a in client.Heartbeat(hb, metadata=auth(token), timeout=30).assignments]


def test_the_api_names_the_models_central_rolls_out() -> None:
    assert get_args(StartIn.model_fields["model_name"].annotation) == ROLLOUT_MODELS


def test_central_restarted_mid_rollout_carries_on(tmp_path: Path, mlflow_store: tuple[str, list[str]]) -> None:
    uri, (v1, v2, _) = mlflow_store
    config = tmp_path / "central.yaml"
    rollout = {
        "tracking_uri": uri,
        "artifact_cache": str(tmp_path / "cache"),
        "plan_interval_s": 0.2,
        "min_labelled_visits": 10,
    }
    config.write_text(yaml.safe_dump({"rollout": rollout}))
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    tokens = {s: create_store(engine, s) for s in ("c1", "r1")}
    admin = {"Authorization": f"Bearer {create_api_key(engine, 'ops', 'admin')}"}
    viewer = {"Authorization": f"Bearer {create_api_key(engine, 'dash', 'viewer')}"}
    engine.dispose()

    with central_process(url, "--config", str(config)) as (grpc_port, base, proc):
        api = f"{base}/api/v1/rollouts"
        client = stub(grpc_port)
        for store in ("c1", "r1"):  # both agents run v1: what a rollback goes back to
            assert beat(client, tokens[store], store, v1) == []
        for body, message in [
            ({"model_name": "person-detector", "version": "7"}, "no 'person-detector' version or alias '7'"),
            ({"model_name": BEHAVIOR_MODEL, "version": v2, "stores": ["nowhere"]}, "no such store(s): nowhere"),
        ]:
            bad = httpx.post(api, json=body, headers=admin, timeout=60)
            assert (bad.status_code, message in bad.json()["detail"]) == (422, True), bad.text
        # the operator's command line, beside the running service
        rollout_id = cli("rollout", "start", BEHAVIOR_MODEL, v2, "--canary-stores", "c1", "--observe", "0",
                         "--database", url, "--config", str(config))  # fmt: skip
        assert httpx.get(api, headers=viewer, timeout=10).status_code == 403
        refused = httpx.post(api, json={"model_name": BEHAVIOR_MODEL, "version": v1}, headers=viewer, timeout=10)
        assert refused.status_code == 403
        assert "needs admin" in refused.json()["detail"]
        assert httpx.post(f"{api}/{rollout_id}/abort", headers=viewer, timeout=10).status_code == 403
        assert beat(client, tokens["c1"], "c1", v1) == [v2]
        assert beat(client, tokens["r1"], "r1", v1) == []  # not a canary: told nothing yet
        proc.send_signal(signal.SIGKILL)  # no graceful stop: the state must already be in the database
        proc.wait(10)

    with central_process(url, "--config", str(config)) as (grpc_port, base, proc):
        api = f"{base}/api/v1/rollouts"

        def state() -> str:
            return str(httpx.get(f"{api}/{rollout_id}", headers=admin, timeout=10).json()["state"])

        assert state() == "canary"
        client = stub(grpc_port)
        for store in ("c1", "r1"):
            batch = [summary(store, start=time.time() - 120, behavior=b) for b in ["interested", "decisive"] * 8]
            assert client.Push(push(store, batch), metadata=auth(tokens[store]), timeout=30).results
        assert beat(client, tokens["c1"], "c1", v2) == [v2]  # the canary runs it
        wait_for(state, "ramping")  # observed (0 minutes), same mix as the rest: promoted by the planner
        comparison = httpx.get(f"{api}/{rollout_id}/comparison", headers=admin, timeout=10).json()
        assert comparison["canary"]["visits"] == comparison["rest"]["visits"] == 16
        assert comparison["canary"]["behavior"]["decisive"] == 8
        assert comparison["canary_previous_week"]["visits"] == 0
        assert beat(client, tokens["r1"], "r1", v1) == [v2]
        assert beat(client, tokens["r1"], "r1", v2) == [v2]
        wait_for(state, "completed")
        status = httpx.get(f"{api}/{rollout_id}", headers=admin, timeout=10).json()
        assert status["store_states"] == {"active": 2}
        assert status["previous_version"] == v1

        rolled = httpx.post(f"{api}/{rollout_id}/rollback", headers=admin, timeout=10)
        assert rolled.status_code == 200
        assert rolled.json()["state"] == "rolling_back"
        again = httpx.post(f"{api}/{rollout_id}/promote", headers=admin, timeout=10)
        assert again.status_code == 409
        assert "cannot promote a rollout that is rolling_back" in again.json()["detail"]
        assert beat(client, tokens["c1"], "c1", v1) == [v1]
        assert beat(client, tokens["r1"], "r1", v1) == [v1]
        wait_for(state, "rolled_back")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    text = cli("rollout", "status", rollout_id, "--database", url)
    assert f"{BEHAVIOR_MODEL}/{v2}" in text
    assert "state rolled_back" in text
    assert "why: every store runs the previous version" in text

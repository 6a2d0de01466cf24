"""Central serves models from its own cache: assignments in heartbeat replies, resumable DownloadModel, install
reports recorded, and a file that is not a valid model refused before any store hears of it. Real MLflow
(a local SQLite store), real gRPC, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import auth, running_ingest, stamp, stub
from mlflow_models import damage, register, registered_file, tiny_behavior_model, tiny_detector_model
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import Engine, select

from central.config import RolloutConfig
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import agents, model_artifacts, rollout_stores, rollouts
from central.registry.cache import ArtifactCache
from central.rollout.service import RolloutError, StartRequest, start
from central.stores import create_store
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL

CHUNK_KIB = 4


def _cache(engine: Engine, tmp_path: Path, uri: str) -> ArtifactCache:
    return ArtifactCache(engine, tmp_path / "cache", uri, 64 << 20)


def _config(tmp_path: Path, uri: str) -> RolloutConfig:
    return RolloutConfig(tracking_uri=uri, artifact_cache=tmp_path / "cache", chunk_kib=CHUNK_KIB)


def heartbeat(
    store: str, *installs: pb.ModelInstallReport, models: tuple[tuple[str, str], ...] = ()
) -> pb.AgentHeartbeat:
    return pb.AgentHeartbeat(
        agent_id="edge-1",
        store_id=store,
        sent_at=stamp(time.time()),
        agent_version="test",
        models=[pb.ModelVersion(name=n, version=v) for n, v in models],
        installs=installs,
    )


def report(rollout_id: str, version: str, state: int, code: str = "", at: float | None = None) -> pb.ModelInstallReport:
    return pb.ModelInstallReport(
        rollout_id=rollout_id,
        model=pb.ModelVersion(name=BEHAVIOR_MODEL, version=version),
        state=state,  # type: ignore[arg-type]
        failure_code=code,
        message="from the test",
        at=stamp(at or time.time()),
    )


def download(client: object, token: str, version: str, offset: int = 0) -> Iterator[pb.ModelChunk]:
    ref = pb.ModelRef(name=BEHAVIOR_MODEL, version=version, offset=offset)
    return client.DownloadModel(ref, metadata=auth(token), timeout=30)  # type: ignore[attr-defined, no-any-return]


def test_canary_store_is_assigned_and_downloads_resuming_after_a_cut(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    uri, (v1, v2, _) = mlflow_store
    tokens = {s: create_store(engine, s) for s in ("s1", "s2")}
    rollout_id = start(
        engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, v2, canary_stores=["s1"]), 100
    )
    expected = registered_file(uri, BEHAVIOR_MODEL, v2).read_bytes()
    with running_ingest(database_url, rollout=_config(tmp_path, uri)) as ingest:
        client = stub(ingest.port)
        reply = client.Heartbeat(heartbeat("s1"), metadata=auth(tokens["s1"]), timeout=30)
        (assignment,) = reply.assignments
        assert (assignment.model.name, assignment.model.version, assignment.rollout_id) == (
            BEHAVIOR_MODEL,
            v2,
            rollout_id,
        )
        assert assignment.model.sha256 == hashlib.sha256(expected).hexdigest()
        assert assignment.size_bytes == len(expected)
        # the rest of the fleet hears nothing until the canary passes
        assert list(client.Heartbeat(heartbeat("s2"), metadata=auth(tokens["s2"]), timeout=30).assignments) == []

        # the connection breaks after two chunks; the agent asks again from where it stopped
        stream = download(client, tokens["s1"], v2)
        first = [next(stream), next(stream)]
        stream.cancel()  # type: ignore[attr-defined]
        got = b"".join(c.data for c in first)
        assert len(got) == 2 * CHUNK_KIB * 1024 < len(expected)
        rest = list(download(client, tokens["s1"], v2, offset=len(got)))
        assert rest[0].offset == len(got)
        got += b"".join(c.data for c in rest)
        assert got == expected
        assert {c.sha256 for c in first + rest} == {assignment.model.sha256}
        assert {c.total_size for c in first + rest} == {len(expected)}
        # at the very end: one empty chunk that still tells the size and the digest
        (end,) = download(client, tokens["s1"], v2, offset=len(expected))
        assert (end.data, end.total_size) == (b"", len(expected))

        with pytest.raises(grpc.RpcError) as past:
            list(download(client, tokens["s1"], v2, offset=len(expected) + 1))
        assert past.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert f"({len(expected)} bytes)" in past.value.details()
        with pytest.raises(grpc.RpcError) as unknown:
            list(download(client, tokens["s1"], "999"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as other_store:  # s2 is in the rollout but not assigned v1 by anything
            list(download(client, tokens["s2"], v1))
        assert other_store.value.code() == grpc.StatusCode.NOT_FOUND  # never cached: central does not have it
        with pytest.raises(grpc.RpcError) as anonymous:
            list(client.DownloadModel(pb.ModelRef(name=BEHAVIOR_MODEL, version=v2), timeout=30))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_store_outside_the_rollout_cannot_download_it(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    uri, (_, v2, _) = mlflow_store
    tokens = {s: create_store(engine, s) for s in ("s1", "s2")}
    start(engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, v2, stores=["s1"]), 100)
    with running_ingest(database_url, rollout=_config(tmp_path, uri)) as ingest:
        client = stub(ingest.port)
        assert len(list(download(client, tokens["s1"], v2))) > 1
        with pytest.raises(grpc.RpcError) as refused:
            list(download(client, tokens["s2"], v2))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "not assigned to store 's2'" in refused.value.details()


def test_install_reports_move_the_store_and_unknown_failure_codes_are_refused(
    database_url: str, engine: Engine, tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    uri, (_, v2, _) = mlflow_store
    token = create_store(engine, "s1")
    rollout_id = start(
        engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, v2, canary_stores=["s1"]), 10
    )

    def store_row() -> tuple[str, str, int]:
        with engine.connect() as conn:
            row = conn.execute(select(rollout_stores).where(rollout_stores.c.rollout_id == rollout_id)).one()
        return row.state, row.failure_code, row.bytes_done

    with running_ingest(database_url, rollout=_config(tmp_path, uri)) as ingest:
        client = stub(ingest.port)
        t0 = time.time()
        downloading = report(rollout_id, v2, pb.INSTALL_STATE_DOWNLOADING, at=t0)
        downloading.bytes_done = 4096
        client.Heartbeat(heartbeat("s1", downloading), metadata=auth(token), timeout=30)
        assert store_row() == ("downloading", "", 4096)

        with pytest.raises(grpc.RpcError) as bad:
            client.Heartbeat(
                heartbeat("s1", report(rollout_id, v2, pb.INSTALL_STATE_FAILED, "gremlins", at=t0 + 1)),
                metadata=auth(token),
                timeout=30,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "failure code 'gremlins' is not one of" in bad.value.details()
        with pytest.raises(grpc.RpcError) as no_code:
            client.Heartbeat(
                heartbeat("s1", report(rollout_id, v2, pb.INSTALL_STATE_FAILED, at=t0 + 1)), metadata=auth(token)
            )
        assert "must carry a failure code" in no_code.value.details()
        assert store_row() == ("downloading", "", 4096)  # nothing of a refused heartbeat is kept

        failed = report(rollout_id, v2, pb.INSTALL_STATE_FAILED, "sha256_mismatch", at=t0 + 2)
        client.Heartbeat(heartbeat("s1", failed), metadata=auth(token), timeout=30)
        assert store_row()[:2] == ("failed", "sha256_mismatch")
        # a late copy of an older report changes nothing
        client.Heartbeat(heartbeat("s1", downloading), metadata=auth(token), timeout=30)
        assert store_row()[:2] == ("failed", "sha256_mismatch")
        # the agent retried and now runs it: both its report and its running models say so
        client.Heartbeat(
            heartbeat("s1", report(rollout_id, v2, pb.INSTALL_STATE_ACTIVE, at=t0 + 3), models=((BEHAVIOR_MODEL, v2),)),
            metadata=auth(token),
            timeout=30,
        )
        assert store_row()[:2] == ("active", "")


def test_a_corrupt_artifact_in_mlflow_is_refused_before_any_store_gets_it(
    tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    uri, _ = mlflow_store
    engine = make_engine(f"sqlite:///{tmp_path / 'central.db'}")  # the database plays no part: one kind is enough
    upgrade(engine)
    create_store(engine, "s1")
    broken = register(uri, BEHAVIOR_MODEL, tiny_behavior_model("confused"))
    damage(registered_file(uri, BEHAVIOR_MODEL, broken))
    with pytest.raises(RolloutError, match=r"refused before any store gets it: model.onnx: not a valid ONNX model"):
        start(engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, broken), 10)
    wrong_role = register(uri, BEHAVIOR_MODEL, tiny_detector_model())  # a detector registered as behaviour model
    with pytest.raises(RolloutError, match=r"inputs \['images'\], expected \['features', 'mask'\]"):
        start(engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, wrong_role), 10)
    with engine.connect() as conn:
        assert conn.execute(select(rollouts)).all() == []
        assert conn.execute(select(model_artifacts)).all() == []
        assert conn.execute(select(agents)).all() == []
    assert not any((tmp_path / "cache").rglob("*.onnx"))


def test_an_alias_is_resolved_once_at_the_start(tmp_path: Path, mlflow_store: tuple[str, list[str]]) -> None:
    from mlflow.tracking import MlflowClient

    engine = make_engine(f"sqlite:///{tmp_path / 'central.db'}")
    upgrade(engine)
    uri, (v1, v2, detector) = mlflow_store
    create_store(engine, "s1")
    client = MlflowClient(tracking_uri=uri)
    client.set_registered_model_alias(BEHAVIOR_MODEL, "challenger", v1)
    cache = _cache(engine, tmp_path, uri)
    rollout_id = start(engine, cache, StartRequest(BEHAVIOR_MODEL, "@challenger", canary_stores=["s1"]), 10)
    client.set_registered_model_alias(BEHAVIOR_MODEL, "challenger", v2)  # moved mid-rollout
    with engine.connect() as conn:
        version, sha = conn.execute(
            select(rollouts.c.version, rollouts.c.sha256).where(rollouts.c.rollout_id == rollout_id)
        ).one()
    assert version == v1
    assert sha == hashlib.sha256(registered_file(uri, BEHAVIOR_MODEL, v1).read_bytes()).hexdigest()
    # the detector's contract is recorded too: YOLO layout with two classes
    start(engine, cache, StartRequest(DETECTOR_MODEL, detector, canary_stores=["s1"]), 10)
    found = cache.known(DETECTOR_MODEL, detector)
    assert found is not None
    assert found.contract.outputs[0].shape[1] == 6
    with pytest.raises(RolloutError, match="no 'behavior-classifier' version or alias 'champion'"):
        start(engine, cache, StartRequest(BEHAVIOR_MODEL, "champion"), 10)


def test_a_replica_without_the_file_fetches_it_again_only_if_the_bytes_are_the_same(
    tmp_path: Path, mlflow_store: tuple[str, list[str]]
) -> None:
    uri, _ = mlflow_store
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    token = create_store(engine, "s1")
    version = register(uri, BEHAVIOR_MODEL, tiny_behavior_model("decisive", seed=7))
    start(engine, _cache(engine, tmp_path, uri), StartRequest(BEHAVIOR_MODEL, version, canary_stores=["s1"]), 10)
    cached = tmp_path / "cache" / BEHAVIOR_MODEL / f"{version}.onnx"
    expected = cached.read_bytes()
    with running_ingest(url, rollout=_config(tmp_path, uri)) as ingest:
        client = stub(ingest.port)
        cached.unlink()  # another replica's machine, or a wiped folder
        assert b"".join(c.data for c in download(client, token, version)) == expected
        cached.unlink()
        damage(registered_file(uri, BEHAVIOR_MODEL, version), keep=0.9)  # the registry's copy changed since
        with pytest.raises(grpc.RpcError) as changed:
            list(download(client, token, version))
        assert changed.value.code() == grpc.StatusCode.NOT_FOUND
        assert "as when it was first cached" in changed.value.details()
    engine.dispose()

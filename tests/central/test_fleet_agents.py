"""Agents are known by store and agent id, and what a heartbeat may hold is bounded: a real gRPC client
sends heartbeats to a real central ingest on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from grpc_fixtures import auth, running_ingest, stamp, stub
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import Engine, select, text

from central.config import CardinalityLimits, FleetLimits
from central.db.engine import make_engine
from central.db.schema import agent_heartbeats, agents, zones
from central.stores import create_store
from retail_common.fields import INT32_MAX

INVALID, EXHAUSTED = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED


def heartbeat(store_id: str, agent_id: str = "edge-1", **fields: Any) -> pb.AgentHeartbeat:
    values: dict[str, Any] = {
        "agent_id": agent_id,
        "store_id": store_id,
        "sent_at": stamp(time.time()),
        "agent_version": "1.4.0",
        "models": [pb.ModelVersion(name="behavior-classifier", version="2", sha256="ab" * 32)],
        "cameras": [pb.CameraStatus(camera_id="cam1", fps=9.5, connected=True, zone_ids=["till"], line_ids=["door"])],
        "outbox_backlog": 4,
        "last_error": "",
    }
    values.update(fields)
    return pb.AgentHeartbeat(**values)


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def agent_rows(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as conn:
        return {(r["store_id"], r["agent_id"]): dict(r) for r in conn.execute(select(agents)).mappings()}


def history(engine: Engine, store_id: str, agent_id: str) -> list[dict[str, Any]]:
    h = agent_heartbeats.c
    with engine.connect() as conn:
        payloads = conn.execute(
            select(h.payload).where(h.store_id == store_id, h.agent_id == agent_id).order_by(h.id)
        ).scalars()
        return [json.loads(p) for p in payloads]


def test_another_stores_token_cannot_touch_an_agent_of_the_same_id(database_url: str) -> None:
    """Store B heartbeats as 'edge-1', the id of store A's agent: A's agent, versions, history and layout are
    untouched and B gets an agent of its own; B's token cannot send for store A at all."""
    engine = make_engine(database_url)
    token_a, token_b = create_store(engine, "store-a"), create_store(engine, "store-b")
    with running_ingest(database_url, heartbeat_history=3) as central:
        client = stub(central.port)
        for backlog in (1, 2, 3):
            client.Heartbeat(heartbeat("store-a", outbox_backlog=backlog), metadata=auth(token_a))
        before = agent_rows(engine)[("store-a", "edge-1")]
        hostile = heartbeat(
            "store-b",
            agent_version="6.6.6",
            models=[pb.ModelVersion(name="evil", version="1")],
            cameras=[pb.CameraStatus(camera_id="cam1", zone_ids=["elsewhere"])],
            outbox_backlog=99,
            last_error="taken over",
        )
        for _ in range(5):  # more than the history kept: would have trimmed A's history away
            client.Heartbeat(hostile, metadata=auth(token_b))
        denied = refusal(lambda: client.Heartbeat(heartbeat("store-a", last_error="x"), metadata=auth(token_b)))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED

    rows = agent_rows(engine)
    assert set(rows) == {("store-a", "edge-1"), ("store-b", "edge-1")}
    assert rows[("store-a", "edge-1")] == before
    assert (rows[("store-a", "edge-1")]["agent_version"], rows[("store-a", "edge-1")]["outbox_backlog"]) == ("1.4.0", 3)
    assert json.loads(rows[("store-a", "edge-1")]["models"])[0]["name"] == "behavior-classifier"
    assert (rows[("store-b", "edge-1")]["agent_version"], rows[("store-b", "edge-1")]["last_error"]) == (
        "6.6.6",
        "taken over",
    )
    assert [b["outbox_backlog"] for b in history(engine, "store-a", "edge-1")] == [1, 2, 3]
    assert [b["outbox_backlog"] for b in history(engine, "store-b", "edge-1")] == [99, 99, 99]
    with engine.connect() as conn:
        layout = sorted(conn.execute(select(zones.c.store_id, zones.c.zone_id)).all())
    assert [tuple(r) for r in layout] == [("store-a", "till"), ("store-b", "elsewhere")]
    engine.dispose()


def _cams(n: int, **status: Any) -> list[pb.CameraStatus]:
    return [pb.CameraStatus(camera_id=f"cam{i}", **status) for i in range(n)]


def _models(n: int, name: str = "m", version: str = "1", sha256: str = "") -> list[pb.ModelVersion]:
    return [pb.ModelVersion(name=f"{name}{i}" if n > 1 else name, version=version, sha256=sha256) for i in range(n)]


LIMITS = FleetLimits(
    max_agents_per_store=3,
    max_cameras_per_agent=4,
    max_models_per_agent=2,
    max_error_chars=50,
    max_layout_ids_per_camera=3,
)

# (case, heartbeat fields, None when accepted or (status, words of the refusal))
BOUNDS: list[tuple[str, dict[str, Any], tuple[grpc.StatusCode, str] | None]] = [
    ("version at its column's length", {"agent_version": "v" * 64}, None),
    ("version past it", {"agent_version": "v" * 65}, (INVALID, "agent_version has 65 characters (at most 64)")),
    ("NUL in the version", {"agent_version": "1.0\x00"}, (INVALID, "agent_version '1.0\\x00' holds a control")),
    ("agent id with a newline", {"agent_id": "edge-1\n"}, (INVALID, "agent_id 'edge-1\\n' is not")),
    ("agent id past 64", {"agent_id": "a" * 65}, (INVALID, "agent_id")),
    ("backlog at 32 bits", {"outbox_backlog": INT32_MAX}, None),
    ("backlog past 32 bits", {"outbox_backlog": INT32_MAX + 1}, (INVALID, "outbox_backlog 2147483648 is out of range")),
    ("models at the limit", {"models": _models(2)}, None),
    ("models past it", {"models": _models(3)}, (INVALID, "3 models reported (at most 2: fleet.max_models_per_agent)")),
    ("model name/version of 128", {"models": _models(1, "m" * 126)}, None),
    ("model name/version of 129", {"models": _models(1, "m" * 127)}, (INVALID, "has 129 characters (at most 128)")),
    ("NUL in a model version", {"models": _models(1, version="1\x00")}, (INVALID, "control character")),
    ("sha256 not hex", {"models": _models(1, sha256="zz" * 32)}, (INVALID, "is not 64 lower-case hex digits")),
    ("runtime of 80", {"models": [pb.ModelVersion(name="m", version="1", runtime="openvino/" + "G" * 71)]}, None),
    (
        "runtime of 81",
        {"models": [pb.ModelVersion(name="m", version="1", runtime="r" * 81)]},
        (INVALID, "runtime has 81 characters (at most 80)"),
    ),
    (
        "NUL in a precision",
        {"models": [pb.ModelVersion(name="m", version="1", precision="int8\x00")]},
        (INVALID, "precision 'int8\\x00' holds a control character"),
    ),
    ("cameras at the limit", {"cameras": _cams(4)}, None),
    (
        "cameras past it",
        {"cameras": _cams(5)},
        (INVALID, "5 cameras reported (at most 4: fleet.max_cameras_per_agent)"),
    ),
    ("a camera twice", {"cameras": _cams(1) * 2}, (INVALID, "camera 'cam0' reported twice")),
    ("camera id with a newline", {"cameras": [pb.CameraStatus(camera_id="c\n")]}, (INVALID, "camera_id 'c\\n'")),
    ("fps not a number", {"cameras": _cams(1, fps=float("nan"))}, (INVALID, "fps nan is not a finite number")),
    ("fps below 0", {"cameras": _cams(1, fps=-1.0)}, (INVALID, "fps -1.0 is not a finite number")),
    ("zone id of 64", {"cameras": _cams(1, zone_ids=["z" * 64])}, None),
    ("zone id of 65", {"cameras": _cams(1, zone_ids=["z" * 65])}, (INVALID, "camera cam0 zone/line id 'zzz")),
    ("NUL in a line id", {"cameras": _cams(1, line_ids=["door\x00"])}, (INVALID, "zone/line id 'door\\x00'")),
    ("zones and lines at the limit", {"cameras": _cams(1, zone_ids=["a", "b"], line_ids=["door"])}, None),
    (
        "zones and lines past it",
        {"cameras": _cams(1, zone_ids=["a", "b", "c"], line_ids=["door"])},
        (INVALID, "declares 3 zones and 1 lines (at most 3 together: fleet.max_layout_ids_per_camera)"),
    ),
]


def test_a_heartbeat_past_a_bound_is_refused_naming_it_and_nothing_is_stored(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url, fleet=LIMITS) as central:
        client = stub(central.port)
        for n, (case, fields, refused) in enumerate(BOUNDS):
            sent = heartbeat("s1", **{"agent_id": f"edge-{n}", **fields})
            if refused is None:
                client.Heartbeat(sent, metadata=auth(token))
                stored = agent_rows(engine).pop(("s1", sent.agent_id))
                assert stored["agent_version"] == sent.agent_version, case
                with engine.begin() as conn:  # room for the next case under max_agents_per_store
                    conn.execute(agents.delete())
                continue
            with pytest.raises(grpc.RpcError) as raised:
                client.Heartbeat(sent, metadata=auth(token))
            error = raised.value
            assert (error.code(), refused[1] in (error.details() or "")) == (refused[0], True), (case, error.details())
            assert agent_rows(engine) == {}, case
            assert history(engine, "s1", sent.agent_id) == [], case
    engine.dispose()


def test_a_store_cannot_add_agents_past_its_limit(database_url: str) -> None:
    engine = make_engine(database_url)
    token, other = create_store(engine, "s1"), create_store(engine, "s2")
    with running_ingest(database_url, fleet=LIMITS) as central:
        client = stub(central.port)
        for i in range(3):
            client.Heartbeat(heartbeat("s1", f"edge-{i}"), metadata=auth(token))
        full = refusal(lambda: client.Heartbeat(heartbeat("s1", "edge-3"), metadata=auth(token)))
        client.Heartbeat(heartbeat("s1", "edge-0", outbox_backlog=7), metadata=auth(token))  # known agents go on
        client.Heartbeat(heartbeat("s2", "edge-3"), metadata=auth(other))  # another store has its own count
    assert full.code() == EXHAUSTED
    assert "store 's1' has 3 agents already (at most 3: fleet.max_agents_per_store)" in (full.details() or "")
    rows = agent_rows(engine)
    assert sorted(rows) == [("s1", "edge-0"), ("s1", "edge-1"), ("s1", "edge-2"), ("s2", "edge-3")]
    assert rows[("s1", "edge-0")]["outbox_backlog"] == 7
    assert history(engine, "s1", "edge-3") == []
    engine.dispose()


def test_a_long_last_error_is_kept_truncated_and_storable(database_url: str) -> None:
    """Errors are truncated rather than refused (the agent stays visible, with its error); a NUL, which
    PostgreSQL cannot store, is replaced."""
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    long_error = "Traceback:\n\tboom\x00" + "x" * 10_000
    with running_ingest(database_url, fleet=LIMITS) as central:
        stub(central.port).Heartbeat(
            heartbeat("s1", last_error=long_error, cameras=_cams(1, last_error=long_error)), metadata=auth(token)
        )
    row = agent_rows(engine)[("s1", "edge-1")]
    kept = "Traceback:\n\tboom\ufffd" + "x" * 32 + "\u2026"
    assert len(kept) == LIMITS.max_error_chars
    assert row["last_error"] == kept
    assert json.loads(row["cameras"])[0]["last_error"] == kept
    assert history(engine, "s1", "edge-1")[0]["last_error"] == kept
    engine.dispose()


def _refuse_heartbeats(engine: Engine) -> None:
    """The database refuses every heartbeat row, as a full disk or a broken constraint would."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON agent_heartbeats "
                    "BEGIN SELECT RAISE(ABORT, 'heartbeats refused'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'heartbeats refused'; END $$"
            )
        )
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON agent_heartbeats EXECUTE FUNCTION refuse()"))


def test_a_database_error_is_logged_and_answered_without_the_statement(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    _refuse_heartbeats(engine)
    with caplog.at_level(logging.ERROR, logger="central.grpc_service"), running_ingest(database_url) as central:
        error = refusal(lambda: stub(central.port).Heartbeat(heartbeat("s1"), metadata=auth(token)))
    details = error.details() or ""
    assert error.code() == grpc.StatusCode.INTERNAL
    assert details == "the heartbeat could not be recorded (database error); it is logged on central"
    logged = [r.getMessage() for r in caplog.records if r.name == "central.grpc_service"]
    assert any("store s1 agent edge-1" in m and "heartbeats refused" in m and "INSERT" in m for m in logged)
    assert agent_rows(engine) == {}  # the transaction's agent row went with it
    engine.dispose()


def test_new_agents_arriving_at_once_cannot_pass_the_limit_together(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url, fleet=LIMITS) as central:
        client = stub(central.port)

        def send(n: int) -> grpc.StatusCode:
            try:
                client.Heartbeat(heartbeat("s1", f"edge-{n}"), metadata=auth(token))
            except grpc.RpcError as e:
                return e.code()  # type: ignore[no-any-return]
            return grpc.StatusCode.OK

        with ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(send, range(10)))
    assert sorted(c.name for c in codes) == ["OK"] * 3 + ["RESOURCE_EXHAUSTED"] * 7
    assert len(agent_rows(engine)) == LIMITS.max_agents_per_store
    engine.dispose()


def test_declared_cameras_count_towards_the_stores_camera_bound(database_url: str) -> None:
    """A heartbeat cannot add cameras past cardinality.max_cameras_per_store any more than pushes can."""
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url, fleet=LIMITS, cardinality=CardinalityLimits(max_cameras_per_store=5)) as central:
        client = stub(central.port)
        client.Heartbeat(heartbeat("s1", "edge-0", cameras=_cams(4)), metadata=auth(token))
        client.Heartbeat(heartbeat("s1", "edge-0", cameras=_cams(4)), metadata=auth(token))  # the same four: fine
        full = refusal(
            lambda: client.Heartbeat(
                heartbeat("s1", "edge-1", cameras=[pb.CameraStatus(camera_id=f"door{i}") for i in range(2)]),
                metadata=auth(token),
            )
        )
    assert full.code() == EXHAUSTED
    assert "would give store 's1' 6 cameras (at most 5: cardinality.max_cameras_per_store)" in (full.details() or "")
    assert sorted(agent_rows(engine)) == [("s1", "edge-0")]
    engine.dispose()

"""A crowd of hostile clients against a real ``retail-central serve``: ingest keeps storing what agents push.

Slow and half-open HTTP clients up to the connection limit, a flood of wrong
keys and tokens, and huge unauthenticated gRPC messages, each while a real
agent pushes; HEAD, and ``/healthz`` on a database that refuses writes.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import numpy as np
import pytest
from api_server import running
from grpc_fixtures import auth, push, stub, summary
from PIL import Image
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import event
from test_serve import central_process, cli

from central.api.app import create_app
from central.api.render import heatmap_png
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.live import LiveFeed

STORED = pb.ITEM_STATUS_STORED


@dataclass
class Central:
    grpc_port: int
    base: str
    host: str
    http_port: int
    token: str
    key: str


@contextmanager
def central(database_url: str, tmp_path: Path, yaml: str = "") -> Iterator[Central]:
    """``retail-central serve`` with store s1 (its token) and a viewer key, configured by ``yaml``."""
    token = cli("stores", "create", "s1", "--database", database_url)
    key = cli("apikeys", "create", "viewer", "--role", "viewer", "--database", database_url)
    config = tmp_path / "central.yaml"
    config.write_text(f"database_url: {database_url}\n{yaml}")
    with central_process(database_url, "--config", str(config), keep_log=False) as (grpc_port, base, _proc):
        address = urlsplit(base)
        yield Central(grpc_port, base, str(address.hostname), int(address.port or 80), token, key)


def push_stored(c: Central, n: int = 3) -> None:
    """An agent's push of ``n`` summaries is acknowledged STORED item by item."""
    ack = stub(c.grpc_port).Push(
        push("s1", [summary("s1", seconds=30 + i) for i in range(n)]), metadata=auth(c.token), timeout=60
    )
    assert [r.status for r in ack.results] == [STORED] * n


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_and_half_open_http_clients_up_to_the_limit_leave_ingest_storing(
    database_url: str, tmp_path: Path
) -> None:
    limit = 12
    yaml = f"http: {{max_connections: {limit}, request_timeout_s: 2, keepalive_timeout_s: 1}}\n"
    with central(database_url, tmp_path, yaml) as c, ExitStack() as stack:
        push_stored(c)
        crowd = []
        for i in range(limit):
            sock = stack.enter_context(socket.create_connection((c.host, c.http_port), timeout=60))
            if i % 2:  # slowloris: a request head that never ends; the others say nothing at all
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            crowd.append(sock)
        time.sleep(0.5)  # let the server accept all of them before the next knocks
        extra = stack.enter_context(socket.create_connection((c.host, c.http_port), timeout=60))
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_all(extra).startswith(b"HTTP/1.1 503")
        for _ in range(3):
            push_stored(c)  # gRPC is untouched by the crowd
        for sock in crowd:  # each is closed by the server, none answered
            assert _read_all(sock) == b""
        assert httpx.get(f"{c.base}/healthz", timeout=30).status_code == 200
        push_stored(c)


def test_failed_auth_flood_is_refused_while_the_agent_and_a_viewer_keep_working(
    database_url: str, tmp_path: Path
) -> None:
    with central(database_url, tmp_path, "auth: {max_failures: 5, failure_window_s: 600}\n") as c:
        headers = {"Authorization": f"Bearer {c.key}"}
        push_stored(c)  # first use of the token and the key: verified once, then remembered
        assert httpx.get(f"{c.base}/api/v1/stores", headers=headers, timeout=30).status_code == 200
        stop = threading.Event()
        grpc_codes: list[grpc.StatusCode] = []
        http_answers: list[tuple[int, str | None]] = []

        def grpc_flood() -> None:
            client = stub(c.grpc_port)
            while not stop.is_set():
                store = "s1" if len(grpc_codes) % 2 else f"s-{uuid.uuid4().hex[:8]}"
                try:
                    client.Push(push(store), metadata=auth(f"{store}.{'x' * 43}"), timeout=30)
                except grpc.RpcError as e:
                    grpc_codes.append(e.code())

        def http_flood() -> None:
            with httpx.Client(timeout=30) as http:
                while not stop.is_set():
                    r = http.get(f"{c.base}/api/v1/stores", headers={"Authorization": f"Bearer abc123.{'y' * 43}"})
                    http_answers.append((r.status_code, r.headers.get("retry-after")))

        threads = [threading.Thread(target=f, daemon=True) for f in (grpc_flood, http_flood) * 4]
        for t in threads:
            t.start()
        try:
            while len(grpc_codes) < 20 or len(http_answers) < 20:
                time.sleep(0.05)
            for _ in range(5):
                push_stored(c)
                assert httpx.get(f"{c.base}/api/v1/stores", headers=headers, timeout=30).status_code == 200
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert set(grpc_codes) <= {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in grpc_codes
        assert {status for status, _ in http_answers} <= {401, 429}
        assert any(status == 429 and retry is not None and int(retry) >= 1 for status, retry in http_answers)


def test_unknown_store_and_wrong_secret_are_refused_alike(database_url: str, tmp_path: Path) -> None:
    with central(database_url, tmp_path) as c:
        client = stub(c.grpc_port)
        details = []
        for store in ("s1", "nowhere"):
            with pytest.raises(grpc.RpcError) as refused:
                client.Push(push(store), metadata=auth(f"{store}.{'z' * 43}"), timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            details.append(refused.value.details())
        assert details[0] == details[1]


def test_huge_unauthenticated_message_is_refused_before_it_is_parsed(database_url: str, tmp_path: Path) -> None:
    huge = push("s1", [summary("s1", seconds=30)])
    huge.batch_id = "b" * (24 * 1024 * 1024)
    with central(database_url, tmp_path) as c:
        client = stub(c.grpc_port)
        for metadata in ((), auth(f"s1.{'w' * 43}")):
            with pytest.raises(grpc.RpcError) as refused:
                client.Push(huge, metadata=metadata, timeout=60)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        channel = grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}")
        raw = channel.unary_unary("/retail_proto.v1.EdgeSync/Push", lambda b: b, lambda b: b)
        with pytest.raises(grpc.RpcError) as malformed:  # a valid token, then bytes that are no PushRequest
            raw(b"\xff\xff\xff", metadata=auth(c.token), timeout=30)
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        push_stored(c)


def test_head_is_answered_wherever_get_is(database_url: str, tmp_path: Path) -> None:
    with central(database_url, tmp_path) as c:
        headers = {"Authorization": f"Bearer {c.key}"}
        health = httpx.head(f"{c.base}/healthz", timeout=30)
        assert (health.status_code, health.content) == (200, b"")
        stores = httpx.head(f"{c.base}/api/v1/stores", headers=headers, timeout=30)
        assert (stores.status_code, stores.content) == (200, b"")
        assert int(stores.headers["content-length"]) == len(
            httpx.get(f"{c.base}/api/v1/stores", headers=headers).content
        )
        live = httpx.head(f"{c.base}/api/v1/stores/s1/live", headers=headers, timeout=30)
        assert (live.status_code, live.headers["content-type"].split(";")[0]) == (200, "text/event-stream")
        assert httpx.head(f"{c.base}/api/v1/stores", timeout=30).status_code == 401


def _refuse_writes(engine: Any, dialect: str) -> None:
    statement = "PRAGMA query_only = ON" if dialect == "sqlite" else "SET default_transaction_read_only = on"

    @event.listens_for(engine, "connect")
    def read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if dialect != "sqlite":
            dbapi_connection.commit()


def test_healthz_is_503_while_the_database_refuses_writes(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    read_only = make_engine(database_url)
    _refuse_writes(read_only, read_only.dialect.name)
    with running(create_app(read_only, LiveFeed())) as base:
        answer = httpx.get(f"{base}/healthz", timeout=30)
        assert answer.status_code == 503
        assert answer.json()["error"] == "unavailable"
    read_only.dispose()
    writable = make_engine(database_url)
    with running(create_app(writable, LiveFeed())) as base:
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
    writable.dispose()


def test_largest_heatmap_png_stays_within_the_side_limit() -> None:
    png = heatmap_png(np.arange(256 * 256, dtype=np.float32).reshape(256, 256), scale=64, max_side_px=2048)
    image = Image.open(io.BytesIO(png))
    assert image.size == (2048, 2048)
    assert image.convert("RGB").getpixel((2047, 2047)) == (252, 255, 164)  # the busiest cell: brightest colour

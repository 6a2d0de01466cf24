"""The live feed under load, with a real gRPC ingest and a real REST API sharing one feed on 127.0.0.1.

Many subscribers get every pushed summary; one that never reads holds at most
its buffer and is told how many it lost; the caps on streams answer 429 (per
API key) and 503 (in total) and free up when a stream ends.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_fixtures import auth, push, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from central.api.app import create_app
from central.api.deps import ApiSettings
from central.api.keys import create_api_key
from central.config import CentralConfig, GrpcConfig, LiveConfig
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.grpc_service import grpc_server
from central.live import LiveFeed
from central.stores import create_store
from tests.central.api_server import running


@dataclass
class Central:
    url: str
    grpc_port: int
    feed: LiveFeed
    token: str  # store s1's
    keys: list[str]  # viewer keys

    def agent(self) -> pb_grpc.EdgeSyncStub:
        return stub(self.grpc_port)


@contextmanager
def central(database_url: str, live: LiveConfig, keys: int = 1) -> Iterator[Central]:
    """gRPC ingest (its own event loop) and the REST API (uvicorn's) publishing to and reading one feed."""
    engine = make_engine(database_url)
    upgrade(engine)
    token = create_store(engine, "s1")
    viewer_keys = [create_api_key(engine, f"viewer-{i}", "viewer") for i in range(keys)]
    feed = LiveFeed(live)
    config = CentralConfig(database_url=database_url, grpc=GrpcConfig(port=0), live=live)
    loop = asyncio.new_event_loop()
    started: list[tuple[grpc.aio.Server, int]] = []
    serving = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        started.append(grpc_server(config, engine, feed))  # made in the loop that serves it
        loop.run_until_complete(started[0][0].start())
        serving.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="grpc-test", daemon=True)
    thread.start()
    if not serving.wait(20):
        raise RuntimeError("gRPC server did not start")
    server, port = started[0]
    app = create_app(engine, feed, ApiSettings(sse_keepalive_s=0.5, live_max_s=60))
    try:
        with running(app) as url:
            yield Central(url, port, feed, token, viewer_keys)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        feed.close()
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'central.db'}"


def parse_sse(raw: bytes) -> list[tuple[str, Any]]:
    """(event, data) of each complete event in ``raw``; comments are skipped."""
    events = []
    for block in raw.split(b"\n\n"):
        fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


class Reader(threading.Thread):
    """A subscriber that reads its stream as fast as it comes until ``limit`` summaries."""

    def __init__(self, url: str, key: str, limit: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.limit = url, key, limit
        self.subscribed = threading.Event()
        self.events: list[tuple[str, Any]] = []
        self.status = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.stream(
            "GET", f"{self.url}/api/v1/stores/s1/live", params={"limit": self.limit}, headers=headers, timeout=60
        ) as response:
            self.status = response.status_code
            raw = bytearray()
            for chunk in response.iter_bytes():
                raw += chunk
                if not self.subscribed.is_set() and b": subscribed" in raw:
                    self.subscribed.set()
            self.events = parse_sse(bytes(raw))
        self.subscribed.set()


def push_all(c: Central, pushes: int, per_push: int) -> list[str]:
    """Push ``pushes`` batches as an agent does; every summary must be acknowledged STORED."""
    client, sent = c.agent(), []
    for _ in range(pushes):
        batch = [summary("s1", seconds=30 + len(sent) % 50) for _ in range(per_push)]
        ack = client.Push(push("s1", batch), metadata=auth(c.token), timeout=60)
        assert {r.status for r in ack.results} == {pb.ITEM_STATUS_STORED}, ack.results[0]
        sent += [s.track_id for s in batch]
    return sent


def wait_for(condition: Any, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_every_subscriber_receives_every_summary_while_an_agent_pushes(database_url: str) -> None:
    with central(database_url, LiveConfig(max_subscribers_per_key=8)) as c:
        readers = [Reader(c.url, c.keys[0], limit=1000) for _ in range(8)]
        for reader in readers:
            reader.start()
        for reader in readers:
            assert reader.subscribed.wait(20)
        wait_for(lambda: c.feed.subscribers == 8, "8 subscribers")
        sent = push_all(c, pushes=20, per_push=50)
        for reader in readers:
            reader.join(60)
            assert reader.status == 200
            assert [event for event, _ in reader.events] == ["summary"] * 1000  # nothing dropped
            assert [data["track_id"] for _, data in reader.events] == sent  # each once, in the order stored
        # an event is the summary as /tracks shows it
        last = readers[0].events[-1][1]
        shown = httpx.get(
            f"{c.url}/api/v1/stores/s1/tracks/{last['track_id']}", headers={"X-API-Key": c.keys[0]}, timeout=10
        )
        assert shown.json() == last
        wait_for(lambda: c.feed.subscribers == 0, "streams that reached their limit to end")
        assert c.feed.stats().dropped == 0


def test_a_subscriber_that_never_reads_holds_only_its_buffer_and_is_told_what_it_lost(sqlite_url: str) -> None:
    buffer = 500
    with central(sqlite_url, LiveConfig(subscriber_buffer=buffer)) as c:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = c.url.removeprefix("http://").split(":")
        stalled.connect((host, int(port)))
        stalled.sendall(f"GET /api/v1/stores/s1/live HTTP/1.0\r\nX-API-Key: {c.keys[0]}\r\n\r\n".encode())
        wait_for(lambda: c.feed.subscribers == 1, "the stalled subscriber")
        total = 12_000  # about 11 MB of events: more than any socket buffer holds
        reader = Reader(c.url, c.keys[0], limit=total)
        reader.start()
        assert reader.subscribed.wait(20)
        sent = push_all(c, pushes=48, per_push=250)  # every push STORED: the stalled stream slows nothing down
        reader.join(120)
        # a reading subscriber gets every summary in order, or (were it ever slower than the pushes) is told
        got = [data["track_id"] for event, data in reader.events if event == "summary"]
        reader_lost = sum(data["dropped"] for event, data in reader.events if event == "dropped")
        assert got == [t for t in sent if t in set(got)]
        assert len(got) + reader_lost == total
        stats = c.feed.stats()
        assert stats.subscribers == 1
        assert stats.buffered == buffer  # the newest, waiting for the stalled stream: no more than its buffer
        assert stats.dropped - reader_lost > total // 3
        # the stalled client finally reads: what its socket held, the dropped notice, then the newest `buffer`
        stalled.settimeout(20)
        raw = bytearray()
        while b"\r\n\r\n" not in raw:
            raw += stalled.recv(1 << 16)
        head, _, body = bytes(raw).partition(b"\r\n\r\n")  # HTTP/1.0: the body as sent, not chunked
        assert head.startswith(b"HTTP/1.1 200"), head
        rest, events = bytearray(body), []
        while sum(1 if event == "summary" else data["dropped"] for event, data in events) < total:
            chunk = stalled.recv(1 << 20)
            assert chunk, "stream ended early"
            rest += chunk
            complete, _, partial = bytes(rest).rpartition(b"\n\n")
            events += parse_sse(complete)
            rest = bytearray(partial)
        received = [data["track_id"] for event, data in events if event == "summary"]
        notices = [data for event, data in events if event == "dropped"]
        dropped = sum(n["dropped"] for n in notices)
        stalled.close()
        assert dropped == stats.dropped - reader_lost
        assert all("fell behind" in n["reason"] for n in notices)
        assert received == [t for t in sent if t in set(received)]  # in order, each once
        assert received[-buffer:] == sent[-buffer:]  # the oldest were dropped, the newest kept
        wait_for(lambda: c.feed.subscribers == 0, "the closed stream to end")


@dataclass
class Stream:
    client: httpx.Client
    response: httpx.Response
    lines: Iterator[str] | None  # kept: dropping the iterator closes the connection

    @property
    def status(self) -> int:
        return self.response.status_code

    def error(self) -> Any:
        self.response.read()
        return self.response.json()

    def close(self) -> None:
        self.response.close()
        self.client.close()


def _open(c: Central, key: str) -> Stream:
    client = httpx.Client(base_url=c.url, timeout=20, headers={"X-API-Key": key})
    response = client.send(client.build_request("GET", "/api/v1/stores/s1/live"), stream=True)
    lines = None
    if response.status_code == 200:
        lines = response.iter_lines()
        next(lines)  # retry: ... the stream is open
    return Stream(client, response, lines)


def test_streams_are_capped_per_key_and_in_total_and_free_up_when_one_ends(sqlite_url: str) -> None:
    with central(sqlite_url, LiveConfig(max_subscribers=3, max_subscribers_per_key=2), keys=3) as c:
        a, b, other = c.keys
        first, second = _open(c, a), _open(c, a)
        assert (first.status, second.status) == (200, 200)
        refused = _open(c, a)
        assert refused.status == 429
        assert refused.error()["error"] == "too_many_requests"
        assert "2 live streams" in refused.error()["detail"]
        refused.close()
        third = _open(c, b)
        assert third.status == 200
        full = _open(c, other)
        assert full.status == 503
        assert full.error()["error"] == "unavailable"
        assert "3 live streams" in full.error()["detail"]
        full.close()
        # a stream that ends frees its slot, for its key and in total
        first.close()
        wait_for(lambda: c.feed.subscribers == 2, "the closed stream to end")
        again = _open(c, a)
        assert again.status == 200
        third.close()
        wait_for(lambda: c.feed.subscribers == 2, "the closed stream to end")
        last = _open(c, other)
        assert last.status == 200
        for stream in (second, again, last):
            stream.close()
        wait_for(lambda: c.feed.subscribers == 0, "every stream to end")

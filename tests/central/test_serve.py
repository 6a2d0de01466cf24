"""``retail-central serve`` as a user runs it: CLI-made token and key, gRPC push, REST and SSE, SIGTERM, restart."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from grpc_fixtures import auth, push, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb

CLI = [sys.executable, "-m", "central"]


def cli(*args: str) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def central_process(
    database_url: str, *serve_args: str, keep_log: bool = True
) -> Iterator[tuple[int, str, subprocess.Popen[str]]]:
    """``retail-central serve`` on free ports (``serve_args`` added, e.g. ``--config``): its gRPC port, its
    REST base URL and the process, killed afterwards. ``keep_log`` False discards its log, for tests that make
    it log more than a pipe holds unread."""
    proc = subprocess.Popen(
        [*CLI, "serve", "--database", database_url, "--grpc-port", "0", "--http-port", "0", *serve_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if keep_log else subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    grpc_port = base = None
    deadline = time.monotonic() + 60
    while (grpc_port is None or base is None) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"gRPC ingest on [\d.]+:(\d+)", line):
            grpc_port = int(m.group(1))
        if m := re.search(r"REST API on (http://[\d.]+:\d+)", line):
            base = m.group(1)
    if grpc_port is None or base is None:
        proc.kill()
        raise AssertionError(f"central did not start: {proc.communicate(timeout=10)[1] or 'see its log'}")
    try:
        yield grpc_port, base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_end_to_end(database_url: str) -> None:
    token = cli("stores", "create", "s1", "--name", "Main Street", "--database", database_url)
    key = cli("apikeys", "create", "dashboard", "--role", "viewer", "--database", database_url)
    headers = {"Authorization": f"Bearer {key}"}
    batch = push("s1", [summary("s1", seconds=30 + i) for i in range(5)])
    sent = set(batch.summary_columns.track_id)
    with central_process(database_url) as (grpc_port, base, proc):
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        events: queue.Queue[dict[str, object]] = queue.Queue()

        def listen() -> None:
            with httpx.stream("GET", f"{base}/api/v1/stores/s1/live?limit=1", headers=headers, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        events.put(json.loads(line[5:]))

        threading.Thread(target=listen, daemon=True).start()
        client = stub(grpc_port)
        ack = client.Push(batch, metadata=auth(token), timeout=30)
        assert {r.status for r in ack.results} == {pb.ITEM_STATUS_STORED}
        # the stream may have connected after that push: keep pushing new summaries until one arrives
        for _ in range(40):
            if not events.empty():
                break
            extra = summary("s1")
            sent.add(extra.track_id)
            client.Push(push("s1", [extra]), metadata=auth(token), timeout=30)
            time.sleep(0.25)
        event = events.get(timeout=5)
        assert event["track_id"] in sent
        page = httpx.get(f"{base}/api/v1/stores/s1/tracks?limit=500", headers=headers, timeout=10).json()
        assert {t["track_id"] for t in page["items"]} == sent
        assert httpx.get(f"{base}/api/v1/stores/s1/tracks", timeout=10).status_code == 401
        # the rollups kept at ingest answer the dashboard's questions about exactly what was pushed
        traffic = httpx.get(f"{base}/api/v1/stores/s1/traffic", headers=headers, timeout=10).json()
        assert traffic["visits"] == len(sent)
        dwell = httpx.get(f"{base}/api/v1/stores/s1/dwell", headers=headers, timeout=10).json()
        assert dwell["total_dwell_s"] == pytest.approx(sum(30 + i for i in range(5)) + 45.0 * (len(sent) - 5), abs=0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        _, err = proc.communicate(timeout=10)
        assert "stopped" in err
    with central_process(database_url) as (grpc_port, _, proc):
        again = stub(grpc_port).Push(batch, metadata=auth(token), timeout=30)
        assert {r.status for r in again.results} == {pb.ITEM_STATUS_DUPLICATE}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_database_file_deleted_while_central_runs_is_not_acknowledged(tmp_path: Path) -> None:
    """Writes after the file is gone would land in a file nobody reads again and vanish at the restart:
    central answers RETRY (the agent keeps the data) and /healthz 503, naming the file."""
    path = tmp_path / "central.db"
    url = f"sqlite:///{path}"
    token = cli("stores", "create", "s1", "--database", url)
    with central_process(url) as (grpc_port, base, _proc):
        assert stub(grpc_port).Push(push("s1", [summary("s1")]), metadata=auth(token)).results[0].status == (
            pb.ITEM_STATUS_STORED
        )
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        for leftover in tmp_path.glob("central.db*"):
            leftover.unlink()
        ack = stub(grpc_port).Push(push("s1", [summary("s1")]), metadata=auth(token))
        assert ack.results[0].status == pb.ITEM_STATUS_RETRY
        assert f"the database file {path} was deleted" in ack.results[0].reason
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 503
        assert "was deleted while central runs" in health.text

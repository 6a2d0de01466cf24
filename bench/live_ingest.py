"""Ingest rate while live SSE subscribers watch, before and after a change. Prints one table.

For each repository (``--repo``, e.g. a checkout of the code before the change,
and this one) and each number of subscribers (0, 5, 20, 200 by default), a
fresh SQLite database gets ``--agents`` stores, their tokens and enough viewer
API keys (made by this checkout's code: the schema is the same), then
``retail-central serve`` of that repository starts (``python -m central`` with
``PYTHONPATH`` pointing at it). The subscribers, in a process of their own
(asyncio, raw sockets, reading and discarding what comes: the cheapest client
there is), each open ``GET /stores/{id}/live`` of one of the pushing stores in
turn, ten per API key. Then each agent (a thread with its own channel) pushes
prebuilt requests of 500 summaries (32-point paths, as ``bench/central_ingest.py``
builds them) one after the other for ``--seconds``; the rate counts STORED
acknowledgements up to the last one. The table also says what the subscribers
got: summaries received and (after the change) summaries they were told were
dropped. Client and server share the machine's cores.

    .venv/bin/python bench/live_ingest.py --repo /work/wt-base --repo .
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from central_ingest import BATCH, STORED, bench_templates, build_requests, log
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from central.api.keys import create_api_key
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.stores import create_store
from fleet_sim.send import heartbeat
from fleet_sim.stores import SimStore, make_stores

SUBSCRIBERS_PER_KEY = 10
SUMMARY = b"event: summary\n"
DROPPED = re.compile(rb'event: dropped\ndata: \{"dropped":(\d+)')


# --- the subscribers' process ----------------------------------------------------------------


async def _subscriber(host: str, port: int, path: str, key: str, ready: asyncio.Queue[int], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    await ready.put(status)
    if status != 200:
        writer.close()
        return
    rest = b""
    while chunk := await reader.read(1 << 20):
        complete, _, rest = (rest + chunk).rpartition(b"\n\n")  # whole events only
        counts[0] += complete.count(SUMMARY)
        counts[1] += sum(int(m) for m in DROPPED.findall(complete))


async def _subscribers(url: str, paths: list[str], keys: list[str]) -> None:
    host, port = url.removeprefix("http://").split(":")
    ready: asyncio.Queue[int] = asyncio.Queue()
    counts = [0, 0]  # summaries received, summaries told dropped
    tasks = [
        asyncio.create_task(_subscriber(host, int(port), p, keys[i // SUBSCRIBERS_PER_KEY], ready, counts))
        for i, p in enumerate(paths)
    ]
    statuses = [await ready.get() for _ in tasks]
    print(f"ready {sum(s == 200 for s in statuses)} of {len(statuses)}: {sorted(set(statuses))}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(f"received {counts[0]} dropped {counts[1]}", flush=True)
    for task in tasks:
        task.cancel()


@contextmanager
def subscribers(url: str, paths: list[str], keys: list[str]) -> Iterator[list[str]]:
    """The subscribers' process; yields a list that holds its last line (counts) once it has stopped."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "subscribe", "--url", url]
    cmd += [arg for p in paths for arg in ("--path", p)] + [arg for k in keys for arg in ("--key", k)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith(f"ready {len(paths)} of"):
        proc.kill()
        raise RuntimeError(f"subscribers: {line or 'exited'}")
    out: list[str] = []
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGTERM)
        out.append(proc.stdout.read().strip())
        proc.wait(30)


# --- the server ------------------------------------------------------------------------------


@contextmanager
def central(repo: Path, database_url: str) -> Iterator[tuple[int, str]]:
    """``retail-central serve`` of ``repo``: its gRPC port and REST base URL."""
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'proto'}", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "central", "serve", "--database", database_url, "--grpc-port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--http-port", "0"], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    grpc_port = url = None
    while grpc_port is None or url is None:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"central of {repo} exited with {proc.wait()}")
        if m := re.search(r"gRPC ingest on [\d.]+:(\d+)", line):
            grpc_port = int(m.group(1))
        if m := re.search(r"REST API on (http://[\d.]+:\d+)", line):
            url = m.group(1)
    try:
        yield grpc_port, url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the agents -------------------------------------------------------------------------------


def push_for(
    port: int, stores: Sequence[SimStore], tokens: dict[str, str], requests: dict[str, list[bytes]], seconds: float
) -> tuple[int, float]:
    """Each store's agent pushes its requests in turn until ``seconds`` have passed; (STORED, seconds taken)."""
    start_line = threading.Barrier(len(stores) + 1)
    stored = [0] * len(stores)
    finished = [0.0] * len(stores)
    errors: list[str] = []

    def agent(n: int, store: SimStore) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 1 << 26)])
        metadata = (("authorization", f"Bearer {tokens[store.store_id]}"),)
        push: grpc.UnaryUnaryMultiCallable[bytes, pb.PushAck] = channel.unary_unary(
            "/retail_proto.v1.EdgeSync/Push", request_serializer=None, response_deserializer=pb.PushAck.FromString
        )
        try:
            pb_grpc.EdgeSyncStub(channel).Heartbeat(heartbeat(store, time.time()), metadata=metadata, timeout=60)
            start_line.wait()
            deadline = time.perf_counter() + seconds
            for body in requests[store.store_id]:
                if time.perf_counter() >= deadline:
                    break
                ack: pb.PushAck = push(body, metadata=metadata, timeout=600)
                stored[n] += sum(1 for r in ack.results if r.status == STORED)
            finished[n] = time.perf_counter()
        except (grpc.RpcError, threading.BrokenBarrierError) as e:
            errors.append(str(e))
            start_line.abort()
        finally:
            channel.close()

    threads = [threading.Thread(target=agent, args=(n, s), daemon=True) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    start_line.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} agents failed, first: {errors[0]}")
    return sum(stored), max(finished) - started


@dataclass
class Row:
    repo: str
    subscribers: int
    stored: int
    seconds: float
    received: int
    dropped: int

    @property
    def rate(self) -> float:
        return self.stored / self.seconds


def run(
    repo: Path,
    subscribers_n: int,
    fleet: Sequence[SimStore],
    requests: dict[str, list[bytes]],
    seconds: float,
    linger: float,
    workdir: Path,
) -> Row:
    url = f"sqlite:///{workdir / f'live-{repo.name}-{subscribers_n}.db'}"
    engine = make_engine(url)
    upgrade(engine)
    tokens = {s.store_id: create_store(engine, s.store_id, s.name) for s in fleet}
    keys = [create_api_key(engine, f"viewer-{i}", "viewer") for i in range(max(1, math.ceil(subscribers_n / 10)))]
    engine.dispose()
    paths = [f"/api/v1/stores/{fleet[i % len(fleet)].store_id}/live" for i in range(subscribers_n)]
    with central(repo, url) as (grpc_port, http_url):
        if subscribers_n:
            with subscribers(http_url, paths, keys) as counts:
                stored, taken = push_for(grpc_port, fleet, tokens, requests, seconds)
                time.sleep(linger)  # what was stored reaches the subscribers before they count
            received, dropped = (int(x) for x in counts[0].split()[1::2])
        else:
            stored, taken = push_for(grpc_port, fleet, tokens, requests, seconds)
            received = dropped = 0
    row = Row(str(repo), subscribers_n, stored, taken, received, dropped)
    log(f"{repo}: {subscribers_n} subscribers: {row.rate:,.0f} summaries/s")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("subscribe", help="(internal) hold SSE subscribers until SIGTERM")
    inner.add_argument("--url", required=True)
    inner.add_argument("--path", action="append", default=[])
    inner.add_argument("--key", action="append", default=[])
    parser.add_argument("--repo", type=Path, action="append", help="checkout to serve (repeat: before, after)")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[0, 5, 20, 200])
    parser.add_argument("--agents", type=int, default=4, help="stores pushing at once")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long the agents push per run")
    parser.add_argument("--linger", type=float, default=3.0, help="seconds subscribers read after the pushes")
    parser.add_argument("--batches", type=int, default=60, help="prebuilt requests of 500 summaries per agent")
    args = parser.parse_args(argv)
    if args.command == "subscribe":
        asyncio.run(_subscribers(args.url, args.path, args.key))
        return 0
    repos = [r.resolve() for r in (args.repo or [Path(".")])]
    fleet = make_stores(args.agents, seed=7)
    log(f"building {args.agents} x {args.batches} requests of {BATCH} summaries")
    templates = bench_templates(fleet, seed=7)
    rng = np.random.default_rng(7)
    requests = {s.store_id: build_requests(s, templates[s.store_id], args.batches, rng, 0) for s in fleet}
    rows = []
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        for repo in repos:
            for n in args.subscribers:
                rows.append(run(repo, n, fleet, requests, args.seconds, args.linger, Path(tmp)))
    print(
        f"\nIngest with live SSE subscribers: SQLite, {args.agents} agents pushing {BATCH} summaries per request "
        f"for {args.seconds:.0f} s, {os.cpu_count()} cores shared by client and server\n"
    )
    print(f"| {'repository':<28} | subscribers | summaries/s | vs none | received by subscribers | told dropped |")
    print(f"|{'-' * 30}|-------------|-------------|---------|-------------------------|--------------|")
    for row in rows:
        base = next(r for r in rows if r.repo == row.repo and r.subscribers == 0) if 0 in args.subscribers else row
        print(
            f"| {row.repo:<28} | {row.subscribers:>11} | {row.rate:>11,.0f} | {row.rate / base.rate:>6.0%} "
            f"| {row.received:>23,} | {row.dropped:>12,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

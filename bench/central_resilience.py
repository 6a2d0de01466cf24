"""Central under hostile crowds, before and after: one table.

For each checkout given (``--repo``, default this one; ``--before /work/wt-base``
adds the starting point), a real ``retail-central serve`` on SQLite runs from that
checkout (its PYTHONPATH), under the open-file limit its systemd unit sets
(1024 where the unit sets none). Measured, per checkout:

- the time one legitimate push of 100 summaries takes (median of 10), alone,
  during a failed-auth flood (8 threads of wrong tokens over gRPC and 8 of wrong
  API keys over HTTP), and while 1,000 idle HTTP connections are open;
- the server's peak memory (VmHWM) after rendering the largest heatmap PNG
  (256 x 256 cells at scale 64), and after 10 such renders at once.

    .venv/bin/python bench/central_resilience.py --before /work/wt-base
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))  # the pushes of the tests' real-server fixtures
import grpc_fixtures as fixtures  # type: ignore[import-not-found]  # noqa: E402

PUSH_TIMEOUT_S = 20.0
DAY = 86400


@dataclass
class Server:
    proc: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    token: str
    key: str


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{repo}:{repo / 'proto'}", "PYTHONUNBUFFERED": "1"}


def _unit_file_limit(repo: Path) -> int:
    unit = (repo / "central" / "units" / "retail-central.service.in").read_text()
    m = re.search(r"^LimitNOFILE=(\d+)", unit, re.MULTILINE)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return min(int(m.group(1)), hard) if m else 1024


@contextmanager
def serve(repo: Path, workdir: Path) -> Iterator[Server]:
    db = f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}"
    cli = [sys.executable, "-m", "central"]

    def run(*args: str) -> str:
        return subprocess.run(
            [*cli, *args, "--database", db], env=_env(repo), cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    token = run("stores", "create", "s1")
    key = run("apikeys", "create", "bench", "--role", "viewer")
    limit = _unit_file_limit(repo)
    proc = subprocess.Popen(
        ["prlimit", f"--nofile={limit}", "--", *cli, "serve", "--database", db, "--grpc-port", "0", "--http-port", "0"],
        env=_env(repo),
        cwd=repo,  # python -m puts the working directory first on sys.path
        stdout=subprocess.PIPE,
        stderr=(workdir / "serve.log").open("a"),
        text=True,
    )
    assert proc.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < 2:
        line = proc.stdout.readline()
        if not line:
            log = (workdir / "serve.log").read_text().splitlines()[-5:]
            raise RuntimeError(f"central from {repo} did not start: {log}")
        if m := re.search(r"gRPC ingest on [\d.]+:(\d+)", line):
            ports["grpc"] = int(m.group(1))
        if m := re.search(r"REST API on http://[\d.]+:(\d+)", line):
            ports["http"] = int(m.group(1))
    try:
        yield Server(proc, ports["grpc"], ports["http"], token, key)
    finally:
        proc.kill()
        proc.wait(30)


def _stamp(ts: float) -> Timestamp:
    return Timestamp(seconds=int(ts), nanos=int((ts % 1) * 1e9))


def _push(store: str, n: int, start: float) -> pb.PushRequest:
    """``n`` valid summaries as columns, built by the tests' fixtures (the agent's own conversion)."""
    request: pb.PushRequest = fixtures.push(store, [fixtures.summary(store, seconds=30 + i) for i in range(n)])
    return request


def push_ms(server: Server, runs: int = 10) -> str:
    """Median time of ``runs`` pushes of 100 summaries, or how many failed."""
    client = pb_grpc.EdgeSyncStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
    times, failed = [], 0
    for _ in range(runs):
        request = _push("s1", 100, time.time() - 3600)
        t0 = time.perf_counter()
        try:
            client.Push(request, metadata=(("authorization", f"Bearer {server.token}"),), timeout=PUSH_TIMEOUT_S)
            times.append((time.perf_counter() - t0) * 1000)
        except grpc.RpcError:
            failed += 1
    text = f"{statistics.median(times):.0f} ms" if times else "-"
    return text + (f" ({failed}/{runs} failed)" if failed else "")


def during(load: Callable[[threading.Event], None], threads: int, measure: Callable[[], str]) -> str:
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(stop,), daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(2)
    try:
        return measure()
    finally:
        stop.set()
        for w in workers:
            w.join(30)


def flood(server: Server) -> Callable[[threading.Event], None]:
    count = [0]

    def load(stop: threading.Event) -> None:
        count[0] += 1
        if count[0] % 2:
            client = pb_grpc.EdgeSyncStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
            while not stop.is_set():
                store = f"s-{uuid.uuid4().hex[:6]}"
                with suppress(grpc.RpcError):
                    client.Push(
                        pb.PushRequest(store_id=store),
                        metadata=(("authorization", f"Bearer {store}.{'x' * 43}"),),
                        timeout=5,
                    )
        else:
            with httpx.Client(timeout=5) as http:
                while not stop.is_set():
                    with suppress(httpx.HTTPError):
                        http.get(
                            f"http://127.0.0.1:{server.http_port}/api/v1/stores",
                            headers={"X-API-Key": f"abc.{'y' * 43}"},
                        )

    return load


def idle_connections(server: Server, n: int = 1000) -> str:
    socks = []
    try:
        for _ in range(n):
            try:
                socks.append(socket.create_connection(("127.0.0.1", server.http_port), timeout=5))
            except OSError:
                break
        time.sleep(1)
        return push_ms(server)
    finally:
        for s in socks:
            s.close()


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def png_peaks(server: Server) -> tuple[str, str]:
    rows = cols = 256
    day = (int(time.time()) // DAY - 2) * DAY
    tile = pb.HeatmapTile(
        store_id="s1",
        camera_id="cam1",
        bucket_start=_stamp(day),
        bucket_seconds=3600,
        rows=rows,
        cols=cols,
        person_seconds=[float(i % 97) for i in range(rows * cols)],
    )
    client = pb_grpc.EdgeSyncStub(grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}"))
    request = _push("s1", 1, day + 60)
    request.tiles.append(tile)
    client.Push(request, metadata=(("authorization", f"Bearer {server.token}"),), timeout=60)
    url = f"http://127.0.0.1:{server.http_port}/api/v1/stores/s1/heatmap.png"
    params: dict[str, str | int] = {"camera_id": "cam1", "scale": 64, "from": day - DAY, "to": day + 2 * DAY}
    headers = {"X-API-Key": server.key}

    def get() -> None:
        httpx.get(url, params=params, headers=headers, timeout=120)

    get()
    one = _vm_hwm_mib(server.proc.pid)
    crowd = [threading.Thread(target=get) for _ in range(10)]
    for t in crowd:
        t.start()
    for t in crowd:
        t.join()
    return f"{one:.0f} MiB", f"{_vm_hwm_mib(server.proc.pid):.0f} MiB"


def measure(repo: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        with serve(repo, Path(tmp)) as server:
            push_ms(server, 3)  # warm: the token's first check
            alone = push_ms(server)
            flooded = during(flood(server), 16, lambda: push_ms(server))
        with serve(repo, Path(tmp)) as server:
            push_ms(server, 3)
            idle = idle_connections(server)
        with serve(repo, Path(tmp)) as server:
            one, ten = png_peaks(server)
    return [alone, flooded, idle, one, ten]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout to measure (default: this one)")
    parser.add_argument("--before", type=Path, help="a checkout to measure first, e.g. /work/wt-base")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the client holds 1,000 sockets
    columns = [("before", args.before)] if args.before else []
    columns.append(("after" if args.before else "this checkout", args.repo))
    results = {name: measure(repo.resolve()) for name, repo in columns}
    labels = [
        "push of 100 summaries, alone",
        "  during a failed-auth flood (16 threads)",
        "  during 1,000 idle HTTP connections",
        "peak server RSS, largest heatmap PNG",
        "  after 10 such PNGs at once",
    ]
    print(
        f"{os.cpu_count()} cores; server file limit: "
        + ", ".join(f"{n} {_unit_file_limit(r.resolve())}" for n, r in columns)
    )
    width = max(len(label) for label in labels)
    print(f"{'':{width}}  " + "  ".join(f"{name:>24}" for name, _ in columns))
    for i, label in enumerate(labels):
        print(f"{label:{width}}  " + "  ".join(f"{results[name][i]:>24}" for name, _ in columns))


if __name__ == "__main__":
    main()

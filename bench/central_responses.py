"""Size, time and server memory of central's largest REST responses, and of a hostile store's, before and after
the bounds on cardinality. Prints one table per database.

For each checkout given (``--repo``, repeatable; default: this one), a fresh database
is loaded and a real ``retail-central serve`` of that checkout (``PYTHONPATH`` set to it)
answers the requests:

* a realistic store: ``--cameras`` cameras with ``--zones`` zones and ``--lines`` counting
  lines each, ``--days`` days of hourly rollups, written directly into ``traffic_hourly``
  and ``line_hourly`` (as bench/central_ingest.py's loader writes rollups), with the
  cameras, zones and lines it lists;
* a hostile store: one push over gRPC of ``--hostile-summaries`` summaries naming
  ``--hostile-zones`` distinct zone ids in all, while a neighbour store's agent keeps
  pushing 50 summaries at a time (its slowest push is reported).

Each request's status, response bytes, seconds and the server's peak RSS during it
(``VmHWM`` of ``/proc/<pid>/status``, reset before each request through ``clear_refs``)
go in the table. A request still unanswered after ``--timeout`` seconds is reported as such
(the server keeps working on it: the hostile store's requests come last).

    .venv/bin/python bench/central_responses.py --repo /work/wt-base --repo .        # before and after
    .venv/bin/python bench/central_responses.py --days 14 --databases sqlite         # quick

Over 400 lines on purpose: a benchmark is one file a user runs and reads top to bottom (the load,
the server it starts per checkout, the hostile push and the table).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from central.api.keys import create_api_key
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    DWELL_COLUMNS,
    UNCLASSIFIED_COLUMN,
    cameras,
    line_hourly,
    lines,
    traffic_hourly,
    zones,
)
from central.stores import create_store
from central.timebuckets import DAY, HOUR
from edge_agent.sync.convert import summary_columns
from retail_common.summary import TrackSummary

POSTGRES_URL = os.environ.get("RETAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[1]
END = (int(time.time()) // DAY) * DAY  # the realistic store's data ends at today's start (UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- databases and the load ---------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        yield f"sqlite:///{path}"
        for p in workdir.glob(path.name + "*"):
            p.unlink()
        return
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Shape:
    cameras: int
    zones: int
    lines: int
    days: int


def load_realistic(engine: Engine, store_id: str, shape: Shape, seed: int) -> int:
    """The store's cameras, zones and lines, and ``shape.days`` days of hourly rollups; rows written."""
    rng = np.random.default_rng(seed)
    cams = [f"cam{c:02d}" for c in range(shape.cameras)]
    zone_ids = {cam: [f"{cam}-zone{z}" for z in range(shape.zones)] for cam in cams}
    line_ids = {cam: [f"{cam}-line{n}" for n in range(shape.lines)] for cam in cams}
    start = END - shape.days * DAY
    with engine.begin() as conn:
        conn.execute(
            cameras.insert(),
            [
                {"store_id": store_id, "camera_id": c, "first_seen": start, "last_seen": END, "declared": True}
                for c in cams
            ],
        )
        conn.execute(
            zones.insert(),
            [
                {"store_id": store_id, "camera_id": c, "zone_id": z, "first_seen": start}
                for c in cams
                for z in zone_ids[c]
            ],
        )
        if shape.lines:
            conn.execute(
                lines.insert(),
                [
                    {"store_id": store_id, "camera_id": c, "line_id": n, "first_seen": start}
                    for c in cams
                    for n in line_ids[c]
                ],
            )
    written = 0
    counters = [*DWELL_COLUMNS, *BEHAVIOR_COLUMNS.values(), UNCLASSIFIED_COLUMN]
    for day in range(shape.days):
        hours = range(start + day * DAY, start + (day + 1) * DAY, HOUR)
        traffic = []
        for cam in cams:
            for zone in ("", *zone_ids[cam]):
                for hour in hours:
                    visits = int(rng.integers(0, 40))
                    row = {"store_id": store_id, "camera_id": cam, "zone_id": zone, "hour": hour, "visits": visits}
                    row["dwell_s"] = visits * 45.0
                    row.update(dict.fromkeys(counters, 0))
                    row[UNCLASSIFIED_COLUMN] = visits
                    traffic.append(row)
        crossings = [
            {"store_id": store_id, "camera_id": cam, "line_id": n, "hour": hour, "in_count": 5, "out_count": 4}
            for cam in cams
            for n in line_ids[cam]
            for hour in hours
        ]
        with engine.begin() as conn:
            conn.execute(traffic_hourly.insert(), traffic)
            if crossings:
                conn.execute(line_hourly.insert(), crossings)
        written += len(traffic) + len(crossings)
    return written


# --- the server under test ------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[str]
    grpc_port: int
    http_url: str

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def peak_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else float("nan")


@contextlib.contextmanager
def server(repo: Path, database_url: str) -> Iterator[Server]:
    env = {**os.environ, "PYTHONPATH": f"{repo}:{repo / 'proto'}"}
    cmd = [sys.executable, "-m", "central", "serve", "--database", database_url, "--grpc-port", "0", "--http-port", "0"]
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    try:
        grpc_port, http_url = 0, ""
        stdout = proc.stdout
        if stdout is None:
            raise RuntimeError("no stdout from the server")
        while not (grpc_port and http_url):
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"retail-central serve of {repo} exited with {proc.wait()}")
            if m := re.search(r"gRPC ingest on .*:(\d+)", line):
                grpc_port = int(m.group(1))
            if m := re.search(r"REST API on (http://\S+)/api/v1", line):
                http_url = m.group(1)
        yield Server(proc, grpc_port, http_url)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- measurements -----------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    status: str
    mbytes: float
    seconds: float
    peak_mb: float
    note: str = ""


def measure(srv: Server, key: str, what: str, path: str, params: dict[str, str], timeout: float) -> Row:
    srv.reset_peak()
    started = time.perf_counter()
    try:
        with httpx.Client(base_url=srv.http_url, timeout=timeout) as client:
            response = client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {key}"})
    except httpx.TimeoutException:
        return Row(what, "timeout", float("nan"), time.perf_counter() - started, srv.peak_mb())
    seconds = time.perf_counter() - started
    note = ""
    if response.status_code != 200:
        note = str(response.json().get("detail", ""))[:90]
    return Row(what, str(response.status_code), len(response.content) / 1e6, seconds, srv.peak_mb(), note)


def hostile_summaries(store_id: str, n: int, zone_ids: int) -> list[TrackSummary]:
    per = max(1, zone_ids // n)
    start = END - 2 * HOUR
    out = []
    for i in range(n):
        names = [f"z{i * per + k}" for k in range(per)]
        out.append(
            TrackSummary(
                track_id=str(uuid.uuid4()),
                store_id=store_id,
                camera_id="cam1",
                start_time=start + i * 0.5,
                end_time=start + i * 0.5 + 60.0,
                path=((0.0, 0.0, 0.0), (60.0, 1.0, 1.0)),
                distance_m=1.4,
                mean_speed_mps=0.02,
                max_speed_mps=0.5,
                stop_count=1,
                zone_dwell=dict.fromkeys(names, 0.5),
                zone_visits=dict.fromkeys(names, 1),
                zone_order=tuple(names),
                detector_model="yolov8n/1",
            )
        )
    return out


def hostile_push(srv: Server, tokens: dict[str, str], summaries: int, zone_ids: int) -> list[Row]:
    """The hostile push, timed, while the neighbour pushes 50 summaries at a time; its slowest push reported."""
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}", options=[("grpc.max_send_message_length", 1 << 26)])
    client = pb_grpc.EdgeSyncStub(channel)
    request = pb.PushRequest(agent_id="agent-hostile", store_id="hostile", batch_id=uuid.uuid4().hex)
    request.summary_columns.CopyFrom(summary_columns(hostile_summaries("hostile", summaries, zone_ids)))
    done = threading.Event()
    latencies: list[float] = []

    def neighbour() -> None:
        while not done.is_set():
            batch = pb.PushRequest(agent_id="agent-n", store_id="neighbour", batch_id=uuid.uuid4().hex)
            batch.summary_columns.CopyFrom(summary_columns(hostile_summaries("neighbour", 50, 50)))
            sent = time.perf_counter()
            client.Push(batch, metadata=(("authorization", f"Bearer {tokens['neighbour']}"),), timeout=600)
            latencies.append(time.perf_counter() - sent)

    thread = threading.Thread(target=neighbour, daemon=True)
    srv.reset_peak()
    thread.start()
    time.sleep(0.5)
    started = time.perf_counter()
    ack = client.Push(request, metadata=(("authorization", f"Bearer {tokens['hostile']}"),), timeout=900)
    seconds = time.perf_counter() - started
    done.set()
    thread.join()
    channel.close()
    stored = sum(1 for r in ack.results if r.status == pb.ITEM_STATUS_STORED)
    return [
        Row(
            f"hostile push: {zone_ids} zone ids",
            "ok",
            request.ByteSize() / 1e6,
            seconds,
            srv.peak_mb(),
            f"{stored} of {summaries} stored",
        ),
        Row(
            "  neighbour's slowest push meanwhile",
            "ok",
            float("nan"),
            max(latencies, default=0.0),
            float("nan"),
            f"{len(latencies)} pushes",
        ),
    ]


def run_repo(repo: Path, kind: str, workdir: Path, args: argparse.Namespace) -> list[Row]:
    shape = Shape(args.cameras, args.zones, args.lines, args.days)
    with fresh_database(kind, workdir) as url:
        engine = make_engine(url)
        upgrade(engine)
        tokens = {s: create_store(engine, s) for s in ("realistic", "hostile", "neighbour")}
        key = create_api_key(engine, "bench", "viewer")
        started = time.perf_counter()
        rows = load_realistic(engine, "realistic", shape, args.seed)
        log(f"{kind} {repo}: {rows} rollup rows loaded in {time.perf_counter() - started:.0f} s")
        engine.dispose()
        span = {"from": str(END - args.days * DAY), "to": str(END)}
        week = {"from": str(END - 7 * DAY), "to": str(END)}
        out = []
        with server(repo, url) as srv:
            t = args.timeout
            r = "/stores/realistic"
            out.append(
                measure(
                    srv,
                    key,
                    f"traffic by zone, per day, {args.days} d",
                    f"{r}/traffic",
                    {**span, "group_by": "zone", "bucket": "day"},
                    t,
                )
            )
            out.append(
                measure(
                    srv,
                    key,
                    f"traffic by zone, per hour, {args.days} d",
                    f"{r}/traffic",
                    {**span, "group_by": "zone"},
                    t,
                )
            )
            out.append(
                measure(srv, key, "traffic by zone, per hour, 7 d", f"{r}/traffic", {**week, "group_by": "zone"}, t)
            )
            out.append(
                measure(
                    srv,
                    key,
                    f"traffic by camera, per hour, {args.days} d",
                    f"{r}/traffic",
                    {**span, "group_by": "camera"},
                    t,
                )
            )
            out.append(measure(srv, key, f"lines, per hour, {args.days} d", f"{r}/lines", span, t))
            out.append(measure(srv, key, f"dwell, per hour, {args.days} d", f"{r}/dwell", span, t))
            out.append(measure(srv, key, "store with its layout", r, {}, t))
            out += hostile_push(srv, tokens, args.hostile_summaries, args.hostile_zones)
            h = "/stores/hostile"
            out.append(measure(srv, key, "hostile: store with its layout", h, {}, t))
            out.append(
                measure(
                    srv,
                    key,
                    "hostile: traffic by zone, per day, 7 d",
                    f"{h}/traffic",
                    {**week, "group_by": "zone", "bucket": "day"},
                    t,
                )
            )
            out.append(
                measure(
                    srv, key, "hostile: traffic by zone, per hour, 7 d", f"{h}/traffic", {**week, "group_by": "zone"}, t
                )
            )
        return out


def print_table(kind: str, repo: Path, rows: list[Row]) -> None:
    print(f"\n{kind}, {repo}")
    print(f"| {'request':<44} | status  | MB      | s      | peak RSS MB | note")
    print(f"|{'-' * 46}|---------|---------|--------|-------------|-----")
    for r in rows:
        print(f"| {r.what:<44} | {r.status:<7} | {r.mbytes:7.2f} | {r.seconds:6.2f} | {r.peak_mb:11.0f} | {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, action="append", help="checkout whose server is measured (repeatable)")
    parser.add_argument("--databases", default="sqlite", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--zones", type=int, default=10, help="zones per camera")
    parser.add_argument("--lines", type=int, default=1, help="counting lines per camera")
    parser.add_argument("--days", type=int, default=92, help="days of hourly rollups")
    parser.add_argument("--hostile-summaries", type=int, default=2000)
    parser.add_argument("--hostile-zones", type=int, default=100_000, help="distinct zone ids in the hostile push")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take before it is given up")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    repos = [p.resolve() for p in (args.repo or [REPO])]
    print(
        f"{os.cpu_count()} cores; realistic store: {args.cameras} cameras x {args.zones} zones, "
        f"{args.lines} line(s) each, {args.days} days hourly; hostile push: {args.hostile_zones} zone ids"
    )
    with tempfile.TemporaryDirectory(prefix="bench-responses-") as tmp:
        for kind in args.databases.split(","):
            for repo in repos:
                print_table(kind, repo, run_repo(repo, kind, Path(tmp), args))
                sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Central ingest throughput and dashboard query latency, on SQLite and PostgreSQL. Prints tables.

Ingest: 1, 10 and 50 concurrent simulated agents (threads, each with its own
channel, store and token) push batches of 500 track summaries with 32-point
paths to a real central gRPC ingest running in a separate process (this script
re-run as ``serve``, which calls ``central.grpc_service.grpc_server``), their
summaries as ``SummaryColumns``, as agents send them. Requests are built and
serialised before the clock starts so that the client needs little CPU; it
still shares the machine's cores with the server, and the tables say how many
there are. Throughput counts only STORED acknowledgements, which central sends
after the commit. Beside it, the ceiling: bare ``sqlite3`` ``executemany`` of
the same rows (WAL, 500 per transaction, no gRPC, no validation, no rollups),
and the same with psycopg on PostgreSQL; and the issue's yardstick for this
machine's speed, the same insert with the path as JSON into a table keyed by the
track's UUID (the issue measured it at about 57,000 rows/s).

Queries: ``--load`` summaries (default 10,000,000) of simulated stores, with
their heatmap tiles and door counts, are bulk-loaded into a fresh database of
each kind: raw rows exactly as ``central.ingest.convert`` makes them (inserted
with ``executemany`` / ``COPY``; the camera index of ``track_summaries`` is
built after the load, its unique key kept throughout), rollups summed by
``central.ingest.rollups`` and written with the ingest writer's own upserts.
Then p50/p95 over ``--runs`` runs of a store-overview query and a heatmap query
(SQLAlchemy Core over the rollup tables; :func:`store_overview_query` and
:func:`heatmap_query`, each over a 7-day window, rotating through the stores).

    .venv/bin/python bench/central_ingest.py --load 200000 --summaries 50000   # quick
    .venv/bin/python bench/central_ingest.py                                   # full (about 20 min)
    .venv/bin/python bench/central_ingest.py --profile /tmp/prof --skip-query  # where the server's time goes

Over 400 lines on purpose: a benchmark is one file a user runs and reads top to bottom (the
load, the ceilings it is measured against, the server it re-runs itself as, and the tables).

PostgreSQL: ``--postgres-url`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``,
or ``RETAIL_TEST_POSTGRES_URL``) must allow CREATE DATABASE; each database made here is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import math
import os
import platform
import pstats
import queue
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import Connection, Engine, Table, event, func, select, text
from sqlalchemy.engine import make_url

from central.config import CentralConfig, GrpcConfig, IngestLimits
from central.db import paths
from central.db.checkpoint import WalCheckpointer
from central.db.engine import SQLITE_PRAGMAS, make_engine
from central.db.migrate import upgrade
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    UNCLASSIFIED_COLUMN,
    heatmap_daily,
    heatmap_tiles,
    line_counts,
    line_hourly,
    track_summaries,
    traffic_hourly,
    written_columns,
)
from central.grpc_service import EdgeSyncService, grpc_server
from central.ingest import convert, rollups
from central.ingest.fleet import record_heartbeat
from central.ingest.items import LineCountIn, TileIn
from central.ingest.writer import IngestWriter
from central.live import LiveFeed
from central.serve import SWITCH_INTERVAL_S
from central.stores import create_store
from edge_agent.sync.convert import summary_columns
from fleet_sim.generate import TrackLibrary, day_rng, door_counts, generate_day, plan_day, simulated_days
from fleet_sim.send import heartbeat
from fleet_sim.stores import BUCKET_S, GRID_COLS, GRID_ROWS, SimStore, make_stores
from retail_common.summary import TrackSummary
from retail_common.taxonomy import LABELS

POSTGRES_URL = os.environ.get("RETAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BATCH = 500
PATH_POINTS = 32
STORED = pb.ITEM_STATUS_STORED
SUMMARY_COLUMNS = [c.name for c in written_columns(track_summaries)]
TILE_COLUMNS = [c.name for c in heatmap_tiles.columns]
COUNT_COLUMNS = [c.name for c in line_counts.columns]
SUMMARIES_PER_STORE_DAY = 1000  # a little under what the simulator makes: the load stops at --load exactly


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str  # sqlite | postgresql
    url: str

    def size_bytes(self) -> int:
        if self.kind == "sqlite":
            path = Path(make_url(self.url).database or "")
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        finally:
            engine.dispose()


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, postgres_url: str) -> Iterator[Database]:
    """A migrated, empty database; the SQLite file or the PostgreSQL database is gone afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        db = Database(kind, f"sqlite:///{path}")
        _migrate(db.url)
        try:
            yield db
        finally:
            for p in workdir.glob(path.name + "*"):
                p.unlink()
        return
    admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(kind, make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    try:
        _migrate(db.url)
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def server_versions(postgres_url: str) -> str:
    out = f"SQLite {sqlite3.sqlite_version}"
    with contextlib.suppress(Exception):  # no PostgreSQL: said in the tables instead
        engine = make_engine(postgres_url)
        with engine.connect() as conn:
            out += ", PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
        engine.dispose()
    return out


# --- the central ingest in its own process ----------------------------------------------------


def serve(database_url: str, port_file: Path, profile: Path | None) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as retail-central serve does
    """Run a central gRPC ingest on 127.0.0.1 until SIGTERM; write its port, and its profile when asked."""
    config = CentralConfig(database_url=database_url, grpc=GrpcConfig(host="127.0.0.1", port=0))
    engine = make_engine(database_url)
    profiles: dict[int, cProfile.Profile] = {}
    if profile is not None:
        # the servicer checks and commits in a worker thread each: one profiler per thread
        def profiled(unprofiled: Callable[..., Any]) -> Callable[..., Any]:
            def run_profiled(*args: Any) -> Any:
                prof = profiles.setdefault(threading.get_ident(), cProfile.Profile())
                prof.enable()
                try:
                    return unprofiled(*args)
                finally:
                    prof.disable()

            return run_profiled

        EdgeSyncService._check_push = profiled(EdgeSyncService._check_push)  # type: ignore[method-assign]
        IngestWriter.commit = profiled(IngestWriter.commit)  # type: ignore[method-assign]

    async def run() -> None:
        server, port = grpc_server(config, engine, LiveFeed())
        await server.start()
        partial = port_file.with_suffix(".tmp")
        partial.write_text(str(port))
        partial.rename(port_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        with WalCheckpointer(engine):
            await stop.wait()
            await server.stop(5)

    loop_profile = cProfile.Profile() if profile is not None else None
    if loop_profile is not None:
        loop_profile.enable()  # the event loop thread: gRPC, request parsing, acks
    asyncio.run(run())
    engine.dispose()
    if profile is not None and loop_profile is not None:
        loop_profile.disable()
        stats = pstats.Stats(loop_profile)
        for prof in profiles.values():
            stats.add(prof)
        stats.dump_stats(str(profile))


@contextlib.contextmanager
def ingest_process(database_url: str, workdir: Path, profile: Path | None = None) -> Iterator[int]:
    port_file = workdir / f"port-{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "serve", "--database", database_url]
    cmd += ["--port-file", str(port_file)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the ingest process exited with {proc.returncode} before listening")
            if time.monotonic() > deadline:
                raise RuntimeError("the ingest process did not listen within 120 s")
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        port_file.unlink(missing_ok=True)


# --- simulated agents -------------------------------------------------------------------------


def bench_templates(stores: Sequence[SimStore], seed: int) -> dict[str, list[TrackSummary]]:
    """Per store, simulated summaries whose paths have exactly ``PATH_POINTS`` points."""
    library = TrackLibrary.build(seed, max_points=PATH_POINTS)
    day = simulated_days(1)[0]
    out = {}
    for store in stores:
        sim = generate_day(store, day, library, seed)
        out[store.store_id] = [s for s in sim.summaries if len(s.path) == PATH_POINTS]
    return out


# A store's pushed summaries start one after the other, STREAM_STEP_S apart from STREAM_START on, as
# an agent sends them (in the order its tracks ended): every summary has a key of its own.
STREAM_START = (int(time.time()) // 86_400 - 3) * 86_400
STREAM_STEP_S = 0.25


def build_requests(
    store: SimStore, templates: Sequence[TrackSummary], n: int, rng: np.random.Generator, first: int
) -> list[bytes]:
    """``n`` serialised push requests of ``BATCH`` summaries as columns, as agents send them: the store's
    summaries ``first``, ``first + 1``, ... of the stream, each a template under a new UUID and start time."""
    out = []
    for i in range(n):
        picks = rng.integers(len(templates), size=BATCH).tolist()
        ids = uuid4_strings(rng, BATCH)
        batch = []
        for k, pick in enumerate(picks):
            template = templates[pick]
            start = STREAM_START + (first + i * BATCH + k) * STREAM_STEP_S
            batch.append(
                dataclasses.replace(template, track_id=ids[k], start_time=start, end_time=start + template.duration_s)
            )
        req = pb.PushRequest(agent_id=f"agent-{store.store_id}", store_id=store.store_id, batch_id=uuid.uuid4().hex)
        req.summary_columns.CopyFrom(summary_columns(batch))
        out.append(req.SerializeToString())
    return out


@dataclass
class AgentResult:
    latencies: list[float] = field(default_factory=list)
    stored: int = 0
    other: int = 0  # anything but STORED: a bug in this benchmark or in ingest
    finished: float = 0.0
    error: str = ""


@dataclass
class IngestRow:
    database: str
    agents: int
    batches: int
    stored: int
    seconds: float
    latencies: list[float]
    note: str = ""

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0


def run_agents(
    port: int, stores: Sequence[SimStore], tokens: dict[str, str], requests: dict[str, list[bytes]]
) -> tuple[float, list[AgentResult]]:
    """Each store's agent pushes its requests one after the other; all start together. Wall seconds, results."""
    start_line = threading.Barrier(len(stores) + 1)
    results = [AgentResult() for _ in stores]

    def agent(store: SimStore, out: AgentResult) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 1 << 26)])
        try:
            metadata = (("authorization", f"Bearer {tokens[store.store_id]}"),)
            push: grpc.UnaryUnaryMultiCallable[bytes, pb.PushAck] = channel.unary_unary(
                "/retail_proto.v1.EdgeSync/Push",
                request_serializer=None,  # the requests are serialised already
                response_deserializer=pb.PushAck.FromString,
            )
            # untimed: connect, check the token (scrypt, then cached), declare the zones
            pb_grpc.EdgeSyncStub(channel).Heartbeat(heartbeat(store, time.time()), metadata=metadata, timeout=60)
            start_line.wait()
            for body in requests[store.store_id]:
                sent = time.perf_counter()
                ack: pb.PushAck = push(body, metadata=metadata, timeout=600)
                out.latencies.append(time.perf_counter() - sent)
                stored = sum(1 for r in ack.results if r.status == STORED)
                out.stored += stored
                out.other += len(ack.results) - stored
            out.finished = time.perf_counter()
        except (grpc.RpcError, threading.BrokenBarrierError) as e:
            out.error = str(e)
            start_line.abort()
        finally:
            channel.close()

    threads = [threading.Thread(target=agent, args=(s, r), daemon=True) for s, r in zip(stores, results, strict=True)]
    for t in threads:
        t.start()
    start_line.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} agents failed, first: {errors[0]}")
    return max(r.finished for r in results) - started, results


def ingest_runs(
    db: Database,
    workdir: Path,
    concurrency: Sequence[int],
    summaries: int,
    fleet: Sequence[SimStore],
    templates: dict[str, list[TrackSummary]],
    seed: int,
    profile: Path | None,
) -> list[IngestRow]:
    engine = make_engine(db.url)
    tokens = {s.store_id: create_store(engine, s.store_id, s.name) for s in fleet[: max(concurrency)]}
    engine.dispose()
    rows = []
    rng = np.random.default_rng([seed, 99])
    sent: dict[str, int] = {}  # summaries of each store's stream pushed so far
    with ingest_process(db.url, workdir, profile) as port:
        for agents in concurrency:
            stores = fleet[:agents]
            per_agent = max(1, math.ceil(summaries / BATCH / agents))
            log(f"{db.kind}: {agents} agents x {per_agent} batches: building requests")
            requests = {
                s.store_id: build_requests(s, templates[s.store_id], per_agent, rng, sent.get(s.store_id, 0))
                for s in stores
            }
            for s in stores:
                sent[s.store_id] = sent.get(s.store_id, 0) + per_agent * BATCH
            log(f"{db.kind}: {agents} agents: pushing")
            seconds, results = run_agents(port, stores, tokens, requests)
            other = sum(r.other for r in results)
            rows.append(
                IngestRow(
                    db.kind,
                    agents,
                    per_agent * agents,
                    sum(r.stored for r in results),
                    seconds,
                    [x for r in results for x in r.latencies],
                    note=f"{other} not STORED!" if other else "",
                )
            )
            log(f"{db.kind}: {agents} agents: {rows[-1].rate:,.0f} summaries/s")
    return rows


# --- the ceiling: bare driver inserts of the same rows --------------------------------------------


def _summary_rows(templates: Sequence[TrackSummary], n: int) -> list[tuple[Any, ...]]:
    """``n`` rows as ingest makes them, of one store's stream (as :func:`build_requests` times it)."""
    now = time.time()
    converted = convert.columns_in(summary_columns(templates), templates[0].store_id, now)
    base = [converted.row(i) for i in range(len(converted))]
    rows = []
    for i in range(n):
        template = base[i % len(base)]
        start = STREAM_START + i * STREAM_STEP_S
        row = template | {"track_id": str(uuid.uuid4()), "start_ts": start, "end_ts": start + template["dwell_s"]}
        rows.append(tuple(row[c] for c in SUMMARY_COLUMNS))
    return rows


def insert_sql(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def _as_yardstick(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with the path as JSON ``[[t, x, y], ...]``, as the issue's yardstick has it."""
    at = SUMMARY_COLUMNS.index("path")
    return [(*r[:at], orjson.dumps(paths.readable(r[at])).decode(), *r[at + 1 :]) for r in rows]


def sqlite_ceiling(workdir: Path, templates: Sequence[TrackSummary], n: int, yardstick: bool = False) -> IngestRow:
    """``sqlite3`` ``executemany`` of ``n`` summary rows, WAL (central's pragmas), one transaction per 500:
    into the real schema, or (``yardstick``) as the issue measured its ceiling: the path as JSON, in a table
    whose primary key is the track's UUID."""
    rows = _summary_rows(templates, n)
    if yardstick:
        rows = _as_yardstick(rows)
    with fresh_database("sqlite", workdir, POSTGRES_URL) as db:
        conn = sqlite3.connect(make_url(db.url).database or "", isolation_level=None)
        for pragma in SQLITE_PRAGMAS:  # central's own settings
            conn.execute(pragma)
        table = "track_summaries"
        if yardstick:
            table = "yardstick"
            columns = ", ".join(f"{c} TEXT PRIMARY KEY" if c == "track_id" else c for c in SUMMARY_COLUMNS)
            conn.execute(f"CREATE TABLE {table} ({columns})")
        sql = insert_sql(table, SUMMARY_COLUMNS, "?")
        latencies = []
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(sql, rows[i : i + BATCH])
            conn.execute("COMMIT")
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
        conn.close()
    note = "bare sqlite3 executemany, path as JSON, UUID key (yardstick)" if yardstick else "bare sqlite3 executemany"
    return IngestRow("sqlite", 0, len(latencies), n, seconds, latencies, note=note)


def postgres_ceiling(templates: Sequence[TrackSummary], n: int, workdir: Path) -> IngestRow:
    """psycopg ``executemany`` of the same rows, one transaction per 500."""
    rows = _summary_rows(templates, n)
    with fresh_database("postgresql", workdir, POSTGRES_URL) as db:
        engine = make_engine(db.url)
        raw = engine.raw_connection()
        conn = raw.driver_connection
        sql = insert_sql("track_summaries", SUMMARY_COLUMNS, "%s")
        latencies = []
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            t0 = time.perf_counter()
            with conn.cursor() as cur:  # type: ignore[union-attr]
                cur.executemany(sql, rows[i : i + BATCH])
            conn.commit()  # type: ignore[union-attr]
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
        raw.close()
        engine.dispose()
    return IngestRow("postgresql", 0, len(latencies), n, seconds, latencies, note="bare psycopg executemany")


# --- bulk load for the queries ----------------------------------------------------------------------


@dataclass
class Chunk:
    """One simulated day of every store, as ingest rows, with the rollup deltas ingest would add."""

    day: date
    summaries: list[tuple[Any, ...]]  # values in SUMMARY_COLUMNS order
    tiles: list[tuple[Any, ...]]
    counts: list[tuple[Any, ...]]
    traffic: dict[Any, dict[str, float]]
    lines: dict[Any, dict[str, int]]
    heat: dict[rollups.DayKey, np.ndarray]


@dataclass
class Template:
    values: list[Any]  # a converted summary's row, in SUMMARY_COLUMNS order
    zone_dwell: list[tuple[str, float, int]]


@dataclass
class Templates:
    """A store's summaries as ingest converts them, per camera and behaviour, and a visit's mean heat per camera."""

    by_camera_label: dict[tuple[str, int], list[Template]]
    heat_per_visit: dict[str, np.ndarray]


def load_fleet(n: int, seed: int) -> tuple[list[SimStore], list[date]]:
    days = 28 if n < 1_000_000 else 56
    stores = max(1, math.ceil(n / (days * SUMMARIES_PER_STORE_DAY)))
    return make_stores(stores, seed), simulated_days(days)


def store_templates(store: SimStore, library: TrackLibrary, seed: int, received: float) -> Templates:
    """Summaries of a simulated day, through the real protobuf and ingest conversion."""
    small = dataclasses.replace(store, size=0.25)  # a quiet day is plenty of variety
    sim = generate_day(small, simulated_days(1)[0] - timedelta(days=400), library, seed)
    by: dict[tuple[str, int], list[Template]] = {}
    converted = convert.columns_in(summary_columns(sim.summaries), store.store_id, received)
    for i, s in enumerate(sim.summaries):
        template = Template(list(converted.rows(SUMMARY_COLUMNS, [i])[0]), converted.zone_dwell[i])
        by.setdefault((s.camera_id, LABELS.index(s.behavior or "")), []).append(template)
    for cam in store.cameras:  # a behaviour the quiet day did not show on a camera borrows another's
        any_label = next(p for (c, _), p in by.items() if c == cam.camera_id)
        for label in range(len(LABELS)):
            by.setdefault((cam.camera_id, label), any_label)
    heat = {}
    for cam in store.cameras:
        total = sum(np.asarray(t.person_seconds) for t in sim.tiles if t.camera_id == cam.camera_id)
        visits = sum(1 for s in sim.summaries if s.camera_id == cam.camera_id)
        heat[cam.camera_id] = np.asarray(total) / max(visits, 1)
    return Templates(by, heat)


def uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``str(uuid.UUID(bytes=..., version=4))`` of ``n`` random values, at array speed."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


_COL = {c: i for i, c in enumerate(SUMMARY_COLUMNS)}


def load_chunks(
    n: int,
    seed: int,
    stores: Sequence[SimStore],
    days: Sequence[date],
    templates: dict[str, Templates],
    library: TrackLibrary,
) -> Iterator[Chunk]:
    """Day by day, every store's visits (stopping at ``n`` summaries): template rows under new ids and times."""
    received = time.time()
    left = n
    i_id, i_start, i_end, i_dwell, i_received = (
        _COL[c] for c in ("track_id", "start_ts", "end_ts", "dwell_s", "received_at")
    )
    for day in days:
        rows: list[tuple[Any, ...]] = []
        # what the rollups read of the summaries
        v_stores: list[str] = []
        v_cameras: list[str] = []
        v_starts: list[float] = []
        v_dwells: list[float] = []
        v_behaviors: list[str | None] = []
        v_zones: list[list[tuple[str, float, int]]] = []
        tiles: list[TileIn] = []
        counts: list[LineCountIn] = []
        for store in stores:
            if left <= 0:
                break
            rng = day_rng(seed, store.store_id, day)
            plan = plan_day(store, day, library, rng)
            buckets = plan.buckets
            tpl = templates[store.store_id]
            for visits in plan.visits:
                cam = visits.camera.camera_id
                m = min(len(visits.start), left)
                left -= m
                ids = uuid4_strings(rng, m)
                picks = rng.integers(0, 1 << 30, m).tolist()
                for k, (start, label) in enumerate(
                    zip(visits.start[:m].tolist(), visits.labels[:m].tolist(), strict=True)
                ):
                    pool = tpl.by_camera_label[(cam, label)]
                    t = pool[picks[k] % len(pool)]
                    values = t.values.copy()
                    end = start + values[i_dwell]
                    values[i_id], values[i_start], values[i_end], values[i_dwell] = ids[k], start, end, end - start
                    values[i_received] = received
                    rows.append(tuple(values))
                    v_stores.append(store.store_id)
                    v_cameras.append(cam)
                    v_starts.append(start)
                    v_dwells.append(end - start)
                    v_behaviors.append(values[_COL["behavior"]])
                    v_zones.append(t.zone_dwell)
                in_bucket = np.bincount(
                    ((visits.start - buckets[0]) // BUCKET_S).astype(np.int64).clip(0, len(buckets) - 1),
                    minlength=len(buckets),
                )
                for b, visitors in zip(buckets.tolist(), in_bucket.tolist(), strict=True):
                    cells = (tpl.heat_per_visit[cam] * visitors).astype(np.float32)
                    tile = {
                        "store_id": store.store_id,
                        "camera_id": cam,
                        "bucket_start": b,
                        "bucket_seconds": BUCKET_S,
                        "rows": GRID_ROWS,
                        "cols": GRID_COLS,
                        "cells": cells.tobytes(),
                        "received_at": received,
                    }
                    tiles.append(TileIn(tile, []))
            counts.extend(
                LineCountIn(
                    {
                        "store_id": c.store_id,
                        "camera_id": c.camera_id,
                        "line_id": c.line_id,
                        "bucket_start": c.bucket_start,
                        "bucket_seconds": c.bucket_seconds,
                        "in_count": c.in_count,
                        "out_count": c.out_count,
                        "received_at": received,
                    }
                )
                for c in door_counts(plan)
            )
        if not rows:
            return
        yield Chunk(
            day,
            rows,
            [tuple(t.row[c] for c in TILE_COLUMNS) for t in tiles],
            [tuple(c.row[k] for k in COUNT_COLUMNS) for c in counts],
            rollups.traffic_deltas(
                rollups.Visits(v_stores, v_cameras, np.array(v_starts), np.array(v_dwells), v_behaviors, v_zones)
            ),
            rollups.line_deltas(counts),
            rollups.heatmap_deltas(tiles),
        )


_PG_TYPES = {"String": "text", "Text": "text", "Float": "float8", "Integer": "int4", "LargeBinary": "bytea"}


def _bulk_engine(db: Database) -> Engine:
    """The loader's own connections: no durability waits during the load (the end result is the same)."""
    engine = make_engine(db.url)

    @event.listens_for(engine, "connect")
    def _bulk_settings(dbapi_connection: Any, _record: object) -> None:
        if db.kind == "sqlite":
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            dbapi_connection.execute("PRAGMA cache_size=-1000000")  # 1 GB
        else:
            dbapi_connection.execute("SET synchronous_commit = off")
            dbapi_connection.commit()

    return engine


class Loader:
    """Writes chunks into one database, in its own thread, as ingest would have left it; times its own work."""

    def __init__(self, db: Database, stores: Sequence[SimStore]) -> None:
        self.secondary = sorted(track_summaries.indexes, key=lambda ix: str(ix.name))
        self.db = db
        self.engine = _bulk_engine(db)
        self.writer = IngestWriter(self.engine, IngestLimits())
        self.seconds = 0.0
        self.rows = 0
        self.queue: queue.Queue[Chunk | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"load-{db.kind}", daemon=True)
        started = time.perf_counter()
        for store in stores:
            create_store(self.engine, store.store_id, store.name)
            record_heartbeat(self.engine, convert.heartbeat_in(heartbeat(store, time.time())), 100, max_agents=1)
        with self.engine.begin() as conn:
            for ix in self.secondary:
                ix.drop(conn)  # built once after the load: the same index, far faster than row by row
        self.seconds += time.perf_counter() - started
        self.thread.start()

    def put(self, chunk: Chunk | None) -> None:
        if self.error is not None:
            raise RuntimeError(f"{self.db.kind}: the load failed") from self.error
        self.queue.put(chunk)

    def _run(self) -> None:
        try:
            while (chunk := self.queue.get()) is not None:
                self.write(chunk)
            self.finish()
        except BaseException as e:  # reported by put() and join()
            self.error = e
            while self.queue.get() is not None:  # let the producer finish
                pass

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise RuntimeError(f"{self.db.kind}: the load failed") from self.error

    def write(self, chunk: Chunk) -> None:
        started = time.perf_counter()
        with self.engine.begin() as conn:
            raw = conn.connection.driver_connection
            self._bulk(raw, track_summaries, chunk.summaries)
            self._bulk(raw, heatmap_tiles, chunk.tiles)
            self._bulk(raw, line_counts, chunk.counts)
            self.writer.transaction.add_counters(conn, traffic_hourly, chunk.traffic, rollups.TRAFFIC_COUNTERS)
            self.writer.transaction.add_counters(conn, line_hourly, chunk.lines, ("in_count", "out_count"))
            self.writer.transaction.merge_heatmaps(conn, chunk.heat)
        self.rows += len(chunk.summaries)
        self.seconds += time.perf_counter() - started

    def _bulk(self, raw: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        written = written_columns(table)
        columns = [c.name for c in written]
        if self.db.kind == "sqlite":
            raw.executemany(insert_sql(table.name, columns, "?"), rows)
            return
        types = [_PG_TYPES[type(c.type).__name__] for c in written]
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        started = time.perf_counter()
        with self.engine.begin() as conn:
            for ix in self.secondary:
                ix.create(conn)
        with self.engine.connect() as conn:
            if self.db.kind == "sqlite":
                conn.exec_driver_sql("PRAGMA optimize")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        self.seconds += time.perf_counter() - started
        self.engine.dispose()


# --- the dashboard's queries ------------------------------------------------------------------------


def store_overview_query(conn: Connection, store_id: str, start_hour: int, end_hour: int) -> dict[str, Any]:
    """A store's overview over [start_hour, end_hour): visits and dwell per hour, per zone, behaviour mix."""
    t = traffic_hourly
    window = (t.c.store_id == store_id, t.c.hour >= start_hour, t.c.hour < end_hour)
    per_hour = conn.execute(
        select(t.c.hour, func.sum(t.c.visits), func.sum(t.c.dwell_s))
        .where(*window, t.c.zone_id == "")
        .group_by(t.c.hour)
        .order_by(t.c.hour)
    ).all()
    per_zone = conn.execute(
        select(t.c.camera_id, t.c.zone_id, func.sum(t.c.visits), func.sum(t.c.dwell_s))
        .where(*window, t.c.zone_id != "")
        .group_by(t.c.camera_id, t.c.zone_id)
    ).all()
    columns = [*BEHAVIOR_COLUMNS.values(), UNCLASSIFIED_COLUMN]
    behaviour = conn.execute(select(*(func.sum(t.c[c]) for c in columns)).where(*window, t.c.zone_id == "")).one()
    return {
        "hours": [(int(h), int(v), float(d)) for h, v, d in per_hour],
        "zones": [(c, z, int(v), float(d)) for c, z, v, d in per_zone],
        "behaviour": dict(zip(columns, (int(x or 0) for x in behaviour), strict=True)),
    }


def heatmap_query(conn: Connection, store_id: str, camera_id: str, start_day: int, end_day: int) -> np.ndarray:
    """A camera's person-seconds grid summed over the days in [start_day, end_day)."""
    h = heatmap_daily
    rows = conn.execute(
        select(h.c.rows, h.c.cols, h.c.cells).where(
            h.c.store_id == store_id, h.c.camera_id == camera_id, h.c.day >= start_day, h.c.day < end_day
        )
    ).all()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    total = np.zeros((rows[0][0], rows[0][1]), dtype=np.float64)
    for r, c, cells in rows:
        total += np.frombuffer(cells, dtype=np.float32).reshape(r, c)
    return total


@dataclass
class QueryRow:
    database: str
    summaries: int
    load_s: float
    size_bytes: int
    overview_ms: list[float]
    heatmap_ms: list[float]
    overview_rows: float  # mean rows the overview returned, to show it is not empty
    generate_s: float = 0.0
    wall_s: float = 0.0


def time_queries(db: Database, stores: Sequence[SimStore], last_day: date, runs: int) -> tuple[list[float], ...]:
    engine = make_engine(db.url)
    # the last seven days (UTC: the simulated stores are at UTC+0 to +2, open 8:00-22:00 at most)
    end = int(datetime(last_day.year, last_day.month, last_day.day, tzinfo=timezone.utc).timestamp()) + 86_400
    start = end - 7 * 86_400
    overview, heat, returned = [], [], []
    try:
        with engine.connect() as conn:
            store_overview_query(conn, stores[0].store_id, start, end)  # warm the connection, not the data
            for i in range(runs):
                store = stores[i % len(stores)]
                t0 = time.perf_counter()
                result = store_overview_query(conn, store.store_id, start, end)
                overview.append((time.perf_counter() - t0) * 1000)
                returned.append(float(len(result["hours"]) + len(result["zones"])))
                cam = store.cameras[i % len(store.cameras)].camera_id
                t0 = time.perf_counter()
                heatmap_query(conn, store.store_id, cam, start, end)
                heat.append((time.perf_counter() - t0) * 1000)
    finally:
        engine.dispose()
    return overview, heat, returned


def check_rollups(db: Database, n: int) -> str:
    """Whether the rollups count every loaded summary once (a cheap check of the loader)."""
    engine = make_engine(db.url)
    with engine.connect() as conn:
        raw = conn.execute(select(func.count()).select_from(track_summaries)).scalar_one()
        visits = conn.execute(select(func.sum(traffic_hourly.c.visits)).where(traffic_hourly.c.zone_id == "")).scalar()
    engine.dispose()
    return "" if raw == visits == n else f"rollups off: {raw} rows, {visits} visits, {n} loaded"


# --- tables -------------------------------------------------------------------------------------------


def mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def print_ingest(rows: Sequence[IngestRow], summaries: int, cores: int) -> None:
    print()
    print(f"Ingest: gRPC Push of batches of {BATCH} summaries ({PATH_POINTS}-point paths), about {summaries:,} per run")
    print(
        f"central ingest in a separate process; client and server share this machine's {cores} CPU cores; "
        "requests pre-built and serialised"
    )
    print(
        f"{'database':11s} {'agents':>6s} {'batches':>8s} {'stored':>9s} {'seconds':>8s} "
        f"{'summaries/s':>12s} {'ack p50 ms':>11s} {'ack p99 ms':>11s}  note"
    )
    for r in rows:
        agents = str(r.agents) if r.agents else "-"
        print(
            f"{r.database:11s} {agents:>6s} {r.batches:>8d} {r.stored:>9,d} {r.seconds:>8.2f} {r.rate:>12,.0f} "
            f"{percentile(r.latencies, 50) * 1000:>11.1f} {percentile(r.latencies, 99) * 1000:>11.1f}  {r.note}"
        )


def print_queries(rows: Sequence[QueryRow], runs: int) -> None:
    print()
    print(f"Dashboard queries over the rollups: {runs} runs each, 7-day window, rotating through the stores")
    if rows:
        print(
            f"bulk load of simulated summaries ({PATH_POINTS}-point paths) with tiles and door counts: raw rows, "
            f"rollups, indexes, ANALYZE; both databases written at once by two threads ({rows[0].wall_s:.0f} s wall, "
            f"{rows[0].generate_s:.0f} s of it generating); 'load s' is each database's own writing time"
        )
    print(
        f"{'database':11s} {'summaries':>11s} {'load s':>7s} {'rows/s':>8s} {'db size':>9s} "
        f"{'overview p50':>13s} {'p95 ms':>7s} {'heatmap p50':>12s} {'p95 ms':>7s} {'rows/overview':>14s}"
    )
    for r in rows:
        print(
            f"{r.database:11s} {r.summaries:>11,d} {r.load_s:>7.0f} {r.summaries / max(r.load_s, 1e-9):>8,.0f} "
            f"{mb(r.size_bytes):>9s} {percentile(r.overview_ms, 50):>13.2f} {percentile(r.overview_ms, 95):>7.2f} "
            f"{percentile(r.heatmap_ms, 50):>12.2f} {percentile(r.heatmap_ms, 95):>7.2f} {r.overview_rows:>14.0f}"
        )


def print_profile(path: Path, database: str, limit: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    print()
    print(f"Server profile ({database}, all concurrency levels; cProfile slows the server, so rates above are lower)")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print("\n".join(lines[max(0, start - 3) :]))


# --- main ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command")
    runner = sub.add_parser("serve", help="(internal) run the central gRPC ingest until SIGTERM")
    runner.add_argument("--database", required=True)
    runner.add_argument("--port-file", type=Path, required=True)
    runner.add_argument("--profile", type=Path)
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--agents", default="1,10,50", help="concurrency levels (comma-separated)")
    parser.add_argument("--summaries", type=int, default=200_000, help="summaries pushed per concurrency level")
    parser.add_argument("--load", type=int, default=10_000_000, help="summaries loaded for the query part")
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each query")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, help="where temporary SQLite files go (default: a new temp dir)")
    parser.add_argument("--profile", type=Path, help="cProfile the server into this folder and print the top")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-query", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.database, args.port_file, args.profile)
        return 0

    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    concurrency = [int(a) for a in args.agents.split(",")]
    cores = os.cpu_count() or 1
    print(f"central ingest benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(
        f"{platform.processor() or platform.machine()}, {cores} CPU cores, Python {platform.python_version()}, "
        f"{server_versions(args.postgres_url)}, load average at start {os.getloadavg()[0]:.2f}"
    )
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="central-bench-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        if not args.skip_ingest:
            fleet = make_stores(max(concurrency), args.seed)
            log("building summary templates")
            templates = bench_templates(fleet, args.seed)
            ingest: list[IngestRow] = []
            for kind in kinds:
                if kind == "sqlite":
                    log("sqlite: the bare executemany ceiling")
                    ingest.append(sqlite_ceiling(workdir, templates[fleet[0].store_id], args.summaries, yardstick=True))
                    ingest.append(sqlite_ceiling(workdir, templates[fleet[0].store_id], args.summaries))
                else:
                    log("postgresql: the bare executemany ceiling")
                    ingest.append(postgres_ceiling(templates[fleet[0].store_id], args.summaries, workdir))
                profile = args.profile / f"server-{kind}.prof" if args.profile else None
                with fresh_database(kind, workdir, args.postgres_url) as db:
                    ingest += ingest_runs(
                        db, workdir, concurrency, args.summaries, fleet, templates, args.seed, profile
                    )
            print_ingest(ingest, args.summaries, cores)
            for kind in kinds if args.profile else []:
                print_profile(args.profile / f"server-{kind}.prof", kind)
            sys.stdout.flush()
        if not args.skip_query:
            queries = load_and_query(args, kinds, workdir)
            print_queries(queries, args.runs)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


def load_and_query(args: argparse.Namespace, kinds: Sequence[str], workdir: Path) -> list[QueryRow]:
    stores, days = load_fleet(args.load, args.seed)
    log(f"load: {args.load:,} summaries of {len(stores)} stores over up to {len(days)} days")
    library = TrackLibrary.build(args.seed, max_points=PATH_POINTS)  # paths of 32 points, as in the ingest part
    received = time.time()
    templates = {s.store_id: store_templates(s, library, args.seed, received) for s in stores}
    with contextlib.ExitStack() as stack:
        dbs = [stack.enter_context(fresh_database(kind, workdir, args.postgres_url)) for kind in kinds]
        loaders = [Loader(db, stores) for db in dbs]
        generate_s = 0.0
        started = time.perf_counter()
        chunks = load_chunks(args.load, args.seed, stores, days, templates, library)
        last_day, done = days[-1], 0
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            generate_s += time.perf_counter() - t0
            for loader in loaders:
                loader.put(chunk)
            if chunk is None:
                break
            last_day, done = chunk.day, done + len(chunk.summaries)
            if chunk.day.day % 7 == 0:
                log(f"load: {done:,} summaries generated after {time.perf_counter() - started:.0f} s")
        for loader in loaders:
            loader.join()
        wall = time.perf_counter() - started
        log(f"load: {done:,} summaries in {wall:.0f} s wall (generation {generate_s:.0f} s, databases in parallel)")
        out = []
        for db, loader in zip(dbs, loaders, strict=True):
            problem = check_rollups(db, loader.rows)
            if problem:
                raise RuntimeError(f"{db.kind}: {problem}")
            size = db.size_bytes()
            log(f"{db.kind}: loaded {loader.rows:,} in {loader.seconds:.0f} s, {mb(size)}; timing queries")
            overview, heat, returned = time_queries(db, stores, last_day, args.runs)
            out.append(
                QueryRow(
                    db.kind,
                    loader.rows,
                    loader.seconds,
                    size,
                    overview,
                    heat,
                    statistics.mean(returned),
                    generate_s,
                    wall,
                )
            )
    return out


if __name__ == "__main__":
    sys.exit(main())

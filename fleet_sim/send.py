"""Push a simulated fleet through the real gRPC ingest, as its stores' agents would.

For each store: create it in the central database (or rotate its token when it
exists), declare its cameras' zones and lines in a heartbeat, then push its
days in batches with the store's own token, one agent (thread, channel) per
store and several agents at once. Every acknowledgement is checked: STORED and
DUPLICATE are fine, RETRY is resent with backoff, REJECTED means the simulator
produced something central refuses and is reported.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import grpc
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import Engine

from central.config import CentralConfig, GrpcConfig
from central.db.checkpoint import WalCheckpointer
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.grpc_service import grpc_server
from central.live import LiveFeed
from central.stores import StoreError, create_store, rotate_token
from edge_agent.sync.convert import line_count_pb, summary_columns, tile_pb, timestamp, uptime_pb
from fleet_sim.generate import StoreDay, TrackLibrary, generate_day, simulated_days
from fleet_sim.stores import BEHAVIOR_MODEL, DETECTOR_MODEL, SimStore, make_stores
from fleet_sim.today import until
from retail_common.backoff import Backoff

logger = logging.getLogger(__name__)

MAX_BATCH = 500
AGENT_VERSION = "sim-0.1.0"
_CODE = grpc.StatusCode
_TRANSIENT = frozenset({_CODE.UNAVAILABLE, _CODE.DEADLINE_EXCEEDED, _CODE.RESOURCE_EXHAUSTED, _CODE.ABORTED})
_KIND_NAMES = {k: pb.ItemKind.Name(k)[10:].lower().replace("_", " ") for k in pb.ItemKind.values()}


class SimulationError(RuntimeError):
    """The simulation cannot go on (central unreachable for too long, a token refused, ...)."""


@dataclass
class StoreTotals:
    """What one store's agent sent, and what central answered."""

    store_id: str
    summaries: int = 0
    tiles: int = 0
    line_counts: int = 0
    uptimes: int = 0
    line_in: int = 0
    line_out: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    retried: int = 0  # items resent after a RETRY answer or a transient gRPC error
    failed: int = 0  # items still not stored after the last retry
    batches: int = 0
    rejections: list[str] = field(default_factory=list)  # the first few reasons


@dataclass
class SimulationReport:
    target: str
    seed: int
    days: list[date]
    stores: dict[str, StoreTotals]
    seconds: float

    def total(self, what: str) -> int:
        return sum(int(getattr(s, what)) for s in self.stores.values())

    @property
    def ok(self) -> bool:
        """Everything sent is in central now, and nothing was refused."""
        return self.total("rejected") == 0 and self.total("failed") == 0

    def lines(self) -> list[str]:
        """A short human summary (the CLI prints it)."""
        items = self.total("summaries") + self.total("tiles") + self.total("line_counts") + self.total("uptimes")
        rate = items / self.seconds if self.seconds > 0 else 0.0
        first, last = (self.days[0], self.days[-1]) if self.days else ("-", "-")
        out = [
            f"{len(self.stores)} stores, {len(self.days)} days ({first} .. {last}), seed {self.seed}, to {self.target}",
            f"sent {self.total('summaries')} summaries, {self.total('tiles')} tiles, {self.total('line_counts')} line "
            f"counts, {self.total('uptimes')} uptimes in {self.total('batches')} batches ({self.seconds:.1f} s, "
            f"{rate:,.0f} items/s)",
            f"stored {self.total('stored')}, duplicate {self.total('duplicate')}, "
            f"rejected {self.total('rejected')}, retried {self.total('retried')}, failed {self.total('failed')}",
        ]
        for s in self.stores.values():
            out.extend(f"rejected ({s.store_id}): {reason}" for reason in s.rejections)
        return out


def store_token(engine: Engine, store: SimStore) -> str:
    """The store's enrollment token: a new store (in the fixed-offset zone of its clock), or a rotated token."""
    try:
        return create_store(engine, store.store_id, store.name, store.timezone)
    except StoreError:
        return rotate_token(engine, store.store_id)


def heartbeat(store: SimStore, now: float) -> pb.AgentHeartbeat:
    """What the store's agent reports at start: its models and each camera's zones and lines."""
    return pb.AgentHeartbeat(
        agent_id=agent_id(store),
        store_id=store.store_id,
        sent_at=timestamp(now),
        agent_version=AGENT_VERSION,
        models=[
            pb.ModelVersion(name=ref.split("/")[0], version=ref.split("/")[1], runtime="onnxruntime/CPU", precision=p)
            for ref, p in ((DETECTOR_MODEL, store.detector_precision), (BEHAVIOR_MODEL, "fp32"))
        ],
        cameras=[
            pb.CameraStatus(
                camera_id=cam.camera_id,
                fps=10.0,
                connected=True,
                zone_ids=list(cam.zone_ids),
                line_ids=list(cam.line_ids),
            )
            for cam in store.cameras
        ],
    )


def agent_id(store: SimStore) -> str:
    return f"agent-{store.store_id}"


Item = tuple[str, Any]  # ("summaries", a TrackSummary), ("tiles", a HeatmapTile message), ... by PushRequest field


def batches(day: StoreDay, batch_size: int = MAX_BATCH) -> Iterator[list[Item]]:
    """The day's summaries, tiles, line counts, uptimes (the ack's order), in pushes of at most ``batch_size``."""
    items: list[Item] = [("summaries", s) for s in day.summaries]
    items += [("tiles", tile_pb(t)) for t in day.tiles]
    items += [("line_counts", line_count_pb(c)) for c in day.counts]
    items += [("camera_uptime", uptime_pb(u)) for u in day.uptimes]
    for i in range(0, len(items), batch_size):
        yield items[i : i + batch_size]


def request(store_id: str, agent: str, items: Sequence[Item]) -> pb.PushRequest:
    """A push of ``items`` (summaries first, then tiles, then counts: the acknowledgement's order), its
    summaries as columns, as agents send them."""
    req = pb.PushRequest(agent_id=agent, store_id=store_id, batch_id=f"{agent}-{time.monotonic_ns():x}")
    summaries = [s for kind, s in items if kind == "summaries"]
    if summaries:
        req.summary_columns.CopyFrom(summary_columns(summaries))
    for kind, msg in items:
        if kind != "summaries":
            getattr(req, kind).append(msg)
    return req


class Agent:
    """One simulated store agent: its own channel and token; sends one batch at a time."""

    def __init__(
        self,
        store: SimStore,
        token: str,
        channel: grpc.Channel,
        retries: int = 8,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.stub = pb_grpc.EdgeSyncStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.retries = retries
        self.backoff = backoff or Backoff(initial_s=0.2, max_s=5.0)
        self.sleep = sleep
        self.totals = StoreTotals(store.store_id)

    def heartbeat(self) -> None:
        try:
            self.stub.Heartbeat(heartbeat(self.store, time.time()), metadata=self.metadata, timeout=30)
        except grpc.RpcError as e:
            raise _refused(self.store, "heartbeat", e) from e

    def send_day(self, day: StoreDay, batch_size: int = MAX_BATCH) -> None:
        t = self.totals
        t.summaries += len(day.summaries)
        t.tiles += len(day.tiles)
        t.line_counts += len(day.counts)
        t.uptimes += len(day.uptimes)
        t.line_in += day.line_in
        t.line_out += day.line_out
        for items in batches(day, batch_size):
            self.push(items)

    def push(self, items: list[Item]) -> None:
        """Send until every item is stored, a duplicate or rejected; resend only what central asks to retry."""
        t = self.totals
        self.backoff.reset()
        for attempt in range(self.retries + 1):
            t.batches += 1
            req = request(self.store.store_id, agent_id(self.store), items)
            try:
                ack = self.stub.Push(req, metadata=self.metadata, timeout=120)
            except grpc.RpcError as e:
                if e.code() not in _TRANSIENT:
                    raise _refused(self.store, "push", e) from e
                logger.warning("%s: push failed (%s), resending the batch", self.store.store_id, e.code())
                again = items
            else:
                again = self._tally(items, ack)
            if not again:
                return
            if attempt == self.retries:
                t.failed += len(again)
                logger.error("%s: %d items still not stored after %d retries", self.store.store_id, len(again), attempt)
                return
            t.retried += len(again)
            self.sleep(self.backoff.next_delay())
            items = again

    def _tally(self, items: list[Item], ack: pb.PushAck) -> list[Item]:
        """Count the answers; the items central asked to resend."""
        t = self.totals
        if len(ack.results) != len(items):
            raise SimulationError(
                f"store {self.store.store_id}: {len(ack.results)} results for a batch of {len(items)} items"
            )
        again = []
        for item, result in zip(items, ack.results, strict=True):
            if result.status == pb.ITEM_STATUS_STORED:
                t.stored += 1
            elif result.status == pb.ITEM_STATUS_DUPLICATE:
                t.duplicate += 1
            elif result.status == pb.ITEM_STATUS_RETRY:
                again.append(item)
            else:
                t.rejected += 1
                if len(t.rejections) < 5:
                    t.rejections.append(f"{_KIND_NAMES.get(result.kind, '?')} {result.key}: {result.reason}")
        return again


def _refused(store: SimStore, what: str, e: grpc.RpcError) -> SimulationError:
    code, details = e.code(), e.details()
    hint = ""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        hint = " (is --database the database of the central at --target?)"
    return SimulationError(f"store {store.store_id}: {what} refused: {code.name}: {details}{hint}")


def channel_to(target: str, tls_ca: Path | None = None) -> grpc.Channel:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    if tls_ca is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
    return grpc.secure_channel(target, credentials, options=options)


@contextmanager
def local_ingest(database_url: str) -> Iterator[str]:
    """A central gRPC ingest on 127.0.0.1 in a thread of this process, for runs without ``--target``."""
    config = CentralConfig(database_url=database_url, grpc=GrpcConfig(host="127.0.0.1", port=0))
    engine = make_engine(database_url)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sim-ingest", daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server, port = grpc_server(config, engine, LiveFeed())  # inside the loop that will serve it
        await server.start()
        return server, port

    try:
        server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        try:
            with WalCheckpointer(engine):
                yield f"127.0.0.1:{port}"
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(5), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        engine.dispose()


def send_fleet(
    engine: Engine,
    target: str,
    stores: Sequence[SimStore],
    days: Sequence[date],
    library: TrackLibrary,
    seed: int,
    *,
    tls_ca: Path | None = None,
    agents: int = 8,
    batch_size: int = MAX_BATCH,
    progress: Callable[[str], None] | None = None,
    newest_first: bool = False,
    today: date | None = None,
) -> dict[str, StoreTotals]:
    """Provision every store, then run one agent per store, ``agents`` at a time; per-store totals.

    ``newest_first`` sends each store's days from the most recent back (with ``agents`` at least the number of
    stores, the last day of every store is in first: a dashboard is worth opening before the history is).
    ``today`` adds that day as far as it has gone (finished tracks, closed buckets), before the others when
    ``newest_first``."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size {batch_size} is not within 1-{MAX_BATCH}")
    tokens = {s.store_id: store_token(engine, s) for s in stores}

    def run_agent(store: SimStore) -> StoreTotals:
        channel = channel_to(target, tls_ca)
        try:
            agent = Agent(store, tokens[store.store_id], channel)
            agent.heartbeat()
            order = [*reversed(days)] if newest_first else [*days]
            if today is not None:
                order.insert(0 if newest_first else len(order), today)
            for day in order:
                whole = generate_day(store, day, library, seed)
                agent.send_day(until(whole, time.time()) if day == today else whole, batch_size)
            if progress is not None:
                t = agent.totals
                progress(f"{store.store_id}: {t.summaries} summaries, stored {t.stored}, rejected {t.rejected}")
            return agent.totals
        finally:
            channel.close()

    with ThreadPoolExecutor(max_workers=max(1, min(agents, len(stores))), thread_name_prefix="sim-agent") as pool:
        results = list(pool.map(run_agent, stores))
    return {t.store_id: t for t in results}


def run_simulation(
    database_url: str,
    target: str | None,
    stores: int,
    days: int,
    seed: int = 0,
    *,
    tls_ca: Path | None = None,
    agents: int = 8,
    end: date | None = None,
    batch_size: int = MAX_BATCH,
    library_per_label: int = 24,
    progress: Callable[[str], None] | None = None,
    newest_first: bool = False,
    include_today: bool = False,
) -> SimulationReport:
    """Simulate ``stores`` stores over the ``days`` days before ``end`` (default today) and push them to central.

    ``target`` is the ``HOST:PORT`` of a running central's gRPC ingest that uses
    ``database_url`` (tokens are created there); without it, an ingest on that
    database is started in this process for the run.
    """
    if target is None and tls_ca is not None:
        raise SimulationError("--tls-ca needs --target (the in-process ingest serves plaintext)")
    fleet = make_stores(stores, seed)
    day_list = simulated_days(days, end)
    library = TrackLibrary.build(seed, per_label=library_per_label)
    engine = make_engine(database_url)
    started = time.perf_counter()
    try:
        upgrade(engine)
        with local_ingest(database_url) if target is None else nullcontext(target) as address:
            totals = send_fleet(
                engine,
                address,
                fleet,
                day_list,
                library,
                seed,
                tls_ca=tls_ca,
                agents=agents,
                batch_size=batch_size,
                progress=progress,
                newest_first=newest_first,
                today=(end or datetime.now(timezone.utc).date()) if include_today else None,
            )
        where = target or f"in-process ingest on {database_url.split('+', 1)[0].split(':', 1)[0]}"
    finally:
        engine.dispose()
    return SimulationReport(where, seed, day_list, totals, time.perf_counter() - started)

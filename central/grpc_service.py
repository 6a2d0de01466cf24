"""The gRPC servicer agents call (grpc.aio): store-token authentication, then ingest and heartbeats.

A push goes through two stages, each a single worker thread, so that the event
loop keeps answering while batches are converted and committed:

1. *check*: protobuf to columns, validation, and the rows and rollup sums to
   write (Python, holding the GIL);
2. *commit*: the transaction, which is mostly SQLite's or psycopg's own work
   done without the GIL.

While one batch commits the next is checked, so the database's time overlaps
the Python of the next push. One thread per stage, not a pool: with several
threads converting at once, the committing thread waits for the GIL after
every database call (the convoy effect), and ingest got slower as agents were
added. For the same reason the pushes checked while a transaction runs are
committed together in the next one (group commit, :class:`GroupCommit`): one
set of statements, and one wait for the GIL after each, for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from central.config import CentralConfig
from central.grpc_auth import AUTHENTICATED_STORE, StoreTokenInterceptor
from central.ingest import convert
from central.ingest.fleet import FleetFullError, bounded_errors, heartbeat_problem, record_heartbeat
from central.ingest.fleet import Heartbeat as HeartbeatIn
from central.ingest.items import ItemResult
from central.ingest.writer import Checked, IngestWriter
from central.live import LiveFeed
from central.registry.cache import ArtifactCache, CachedArtifact
from central.registry.files import ArtifactError
from central.rollout.assign import Assignment, InstallReport, may_download, record_reports, reports_problem
from central.rollout.assign import assignments as store_assignments
from central.stores import store_authenticator

logger = logging.getLogger(__name__)

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


# pushes whose items make one transaction bigger than this wait for the next: bounds a transaction's time
GROUP_MAX_ITEMS = 10_000


class GroupCommit:
    """Commits checked pushes in one thread, each transaction taking every push that waits (event loop only)."""

    def __init__(self, commit_many: Callable[[Sequence[Checked]], list[list[ItemResult]]]) -> None:
        self._commit_many = commit_many
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ingest-commit")
        self._waiting: list[tuple[Checked, asyncio.Future[list[ItemResult]]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None  # held: the loop keeps only weak references to tasks

    async def commit(self, checked: Checked) -> list[ItemResult]:
        done: asyncio.Future[list[ItemResult]] = asyncio.get_running_loop().create_future()
        self._waiting.append((checked, done))
        if not self._draining:
            self._draining = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await done

    def _next_group(self) -> list[tuple[Checked, asyncio.Future[list[ItemResult]]]]:
        items = 0
        for n, (checked, _) in enumerate(self._waiting):
            items += checked.batch.size
            if n and items > GROUP_MAX_ITEMS:
                break
        else:
            n = len(self._waiting)
        group, self._waiting = self._waiting[:n], self._waiting[n:]
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group = self._next_group()
                try:
                    results = await loop.run_in_executor(self._thread, self._commit_many, [c for c, _ in group])
                except Exception as e:  # each push of the group fails with it
                    for _, done in group:
                        if not done.done():
                            done.set_exception(e)
                    continue
                for (_, done), result in zip(group, results, strict=True):
                    if not done.done():  # a push whose caller went away is still stored: its resend is a duplicate
                        done.set_result(result)
        finally:
            self._draining = False


class EdgeSyncService(pb_grpc.EdgeSyncServicer):
    def __init__(
        self, engine: Engine, writer: IngestWriter, config: CentralConfig, feed: LiveFeed, cache: ArtifactCache
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.config = config
        self.feed = feed
        self.cache = cache
        self._check = ThreadPoolExecutor(1, thread_name_prefix="ingest-check")
        self._commit = GroupCommit(self._commit_and_publish)

    def _commit_and_publish(self, group: Sequence[Checked]) -> list[list[ItemResult]]:
        """Commit the group (in the commit thread), then hand the summaries it stored to live subscribers: O(1)
        per push, the feed's own thread makes the rows and sends them."""
        committed = self.writer.commit_group(group)
        for c in committed:
            if c.stored:
                self.feed.publish(c.store_id, c.stored_rows, len(c.stored))
        return [c.results for c in committed]

    async def _authorize(self, context: Context, store_id: str) -> str:
        """The token's store (checked by :class:`StoreTokenInterceptor`), which must be the one the call is for."""
        owner = AUTHENTICATED_STORE.get()
        if owner is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing store token")
        if owner != store_id:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"the token of store {owner!r} cannot act for store {store_id!r}"
            )
        return str(owner)

    async def Push(self, request: pb.PushRequest, context: Context) -> pb.PushAck:  # noqa: N802 - gRPC's name
        await self._authorize(context, request.store_id)
        size = len(request.summary_columns.track_id)
        size += len(request.tiles) + len(request.line_counts) + len(request.camera_uptime)
        if size > self.config.limits.max_items:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch of {size} items is larger than the {self.config.limits.max_items} accepted: split it",
            )
        loop = asyncio.get_running_loop()
        try:
            checked = await loop.run_in_executor(self._check, self._check_push, request)
        except convert.MalformedPushError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        results = await self._commit.commit(checked)
        return convert.push_ack(request.batch_id, results)

    def _check_push(self, request: pb.PushRequest) -> Checked:
        return self.writer.check(convert.batch_in(request, time.time()))

    async def Heartbeat(self, request: pb.AgentHeartbeat, context: Context) -> pb.HeartbeatReply:  # noqa: N802
        await self._authorize(context, request.store_id)
        limits = self.config.fleet
        hb = convert.heartbeat_in(request)
        installs = convert.installs_in(request)
        problem = heartbeat_problem(hb, limits) or reports_problem(
            installs, self.config.rollout.max_installs_per_heartbeat
        )
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        hb = bounded_errors(hb, limits.max_error_chars)
        try:
            assigned = await asyncio.to_thread(self._record, hb, installs)
        except FleetFullError as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except SQLAlchemyError as e:  # the statement and its values stay in the log, never go to the caller
            logger.error("store %s agent %s: heartbeat not recorded: %s", hb.store_id, hb.agent_id, e)
            transient = isinstance(e, OperationalError)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE if transient else grpc.StatusCode.INTERNAL,
                "the heartbeat could not be recorded (database error); it is logged on central",
            )
        now = time.time()
        stamp = Timestamp(seconds=int(now), nanos=int(math.modf(now)[0] * 1e9))
        return pb.HeartbeatReply(server_time=stamp, assignments=convert.assignments_out(assigned))

    def _record(self, hb: HeartbeatIn, installs: list[InstallReport]) -> list[Assignment]:
        """The heartbeat, then its install reports and running models applied to the store's rollouts, then the
        models the store should run (read after the reports: a reply never repeats a state they changed)."""
        now = time.time()
        record_heartbeat(
            self.engine,
            hb,
            self.config.heartbeat_history,
            self.config.fleet.max_agents_per_store,
            now=now,
            max_cameras=self.config.cardinality.max_cameras_per_store,
        )
        running = [(m["name"], m["version"]) for m in hb.models]
        record_reports(self.engine, hb.store_id, installs, running, now)
        with self.engine.connect() as conn:
            return store_assignments(conn, hb.store_id)

    async def DownloadModel(  # noqa: N802
        self, request: pb.ModelRef, context: Context
    ) -> AsyncIterator[pb.ModelChunk]:
        """The model file from central's cache in chunks from ``request.offset``: only a version a rollout of the
        token's store names. NOT_FOUND for a version central does not have, PERMISSION_DENIED for one not meant
        for the store, OUT_OF_RANGE for an offset past the end; an offset equal to the size gets one empty chunk
        (the size and SHA-256 still told)."""
        owner = AUTHENTICATED_STORE.get()
        if owner is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing store token")
        ref = f"{request.name[:80]}/{request.version[:40]}"
        found = await asyncio.to_thread(self._servable, str(owner), request.name, request.version)
        if isinstance(found, str):
            code = grpc.StatusCode.NOT_FOUND if found.startswith("no ") else grpc.StatusCode.PERMISSION_DENIED
            await context.abort(code, found)
        artifact, path = found
        if request.offset > artifact.size_bytes:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"offset {request.offset} is past the end of {ref} ({artifact.size_bytes} bytes)",
            )
        chunk = self.config.rollout.chunk_kib * 1024
        offset = int(request.offset)
        with path.open("rb") as f:
            f.seek(offset)
            while True:
                data = await asyncio.to_thread(f.read, chunk)
                if data or offset == request.offset:
                    yield pb.ModelChunk(
                        offset=offset, data=data, total_size=artifact.size_bytes, sha256=artifact.sha256
                    )
                if not data:
                    break
                offset += len(data)

    def _servable(self, store_id: str, name: str, version: str) -> tuple[CachedArtifact, Path] | str:
        """The artifact and its file, or why the store cannot have it (starting "no " when central has none)."""
        ref = f"{name[:80]}/{version[:40]}"
        artifact = self.cache.known(name, version)
        if artifact is None:
            return f"no model {ref} on central: only versions a rollout names are served"
        with self.engine.connect() as conn:
            if not may_download(conn, store_id, name, version):
                return f"model {ref} is not assigned to store {store_id!r}"
        try:
            return artifact, self.cache.ensure_file(artifact)
        except ArtifactError as e:
            logger.error("store %s: model %s cannot be served: %s", store_id, ref, e)
            return f"no servable copy of {ref} on central: {e}"


def grpc_server(config: CentralConfig, engine: Engine, feed: LiveFeed) -> tuple[grpc.aio.Server, int]:
    limit = config.grpc.max_message_mb * 1024 * 1024
    server = grpc.aio.server(
        interceptors=[StoreTokenInterceptor(store_authenticator(engine, config.auth))],
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)],
    )
    writer = IngestWriter(engine, config.limits, cardinality=config.cardinality)
    rollout = config.rollout
    cache = ArtifactCache(engine, rollout.artifact_cache, rollout.tracking_uri, rollout.max_artifact_mb << 20)
    pb_grpc.add_EdgeSyncServicer_to_server(EdgeSyncService(engine, writer, config, feed, cache), server)
    address = f"{config.grpc.host}:{config.grpc.port}"
    if config.grpc.tls is not None:
        credentials = grpc.ssl_server_credentials(
            [(config.grpc.tls.key.read_bytes(), config.grpc.tls.cert.read_bytes())]
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    return server, port

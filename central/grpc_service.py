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
from central.ingest.items import ItemResult
from central.ingest.writer import Checked, IngestWriter
from central.live import LiveFeed
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
    def __init__(self, engine: Engine, writer: IngestWriter, config: CentralConfig, feed: LiveFeed) -> None:
        self.engine = engine
        self.writer = writer
        self.config = config
        self.feed = feed
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
        problem = heartbeat_problem(hb, limits)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        hb = bounded_errors(hb, limits.max_error_chars)
        try:
            await asyncio.to_thread(
                record_heartbeat,
                self.engine,
                hb,
                self.config.heartbeat_history,
                limits.max_agents_per_store,
                max_cameras=self.config.cardinality.max_cameras_per_store,
            )
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
        return pb.HeartbeatReply(server_time=stamp)

    async def DownloadModel(  # noqa: N802
        self, request: pb.ModelRef, context: Context
    ) -> AsyncIterator[pb.ModelChunk]:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"model rollout is not served by this central yet (asked for {request.name}/{request.version})",
        )
        yield pb.ModelChunk()  # unreachable: makes this an async generator, as the stream needs


def grpc_server(config: CentralConfig, engine: Engine, feed: LiveFeed) -> tuple[grpc.aio.Server, int]:
    limit = config.grpc.max_message_mb * 1024 * 1024
    server = grpc.aio.server(
        interceptors=[StoreTokenInterceptor(store_authenticator(engine, config.auth))],
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)],
    )
    writer = IngestWriter(engine, config.limits, cardinality=config.cardinality)
    pb_grpc.add_EdgeSyncServicer_to_server(EdgeSyncService(engine, writer, config, feed), server)
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

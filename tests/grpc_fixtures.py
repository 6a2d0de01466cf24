"""A real central gRPC ingest on 127.0.0.1, run in a background thread, and helpers that build pushes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, make_dataclass
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from central.config import CentralConfig, GrpcConfig, TlsConfig
from central.db.checkpoint import WalCheckpointer
from central.db.engine import make_engine
from central.grpc_service import grpc_server
from central.live import LiveFeed
from edge_agent.sync.convert import summary_columns
from retail_common.summary import TrackSummary


@dataclass
class RunningIngest:
    port: int
    feed: LiveFeed
    config: CentralConfig


@contextmanager
def running_ingest(
    database_url: str, tls: TlsConfig | None = None, port: int = 0, **config: object
) -> Iterator[RunningIngest]:
    cfg = CentralConfig(database_url=database_url, grpc=GrpcConfig(port=port, tls=tls), **config)  # type: ignore[arg-type]
    engine = make_engine(database_url)
    feed = LiveFeed()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        server, port = grpc_server(cfg, engine, feed)
        holder["server"], holder["port"] = server, port
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("gRPC server did not start")
    try:
        with WalCheckpointer(engine, interval_s=0.05):
            yield RunningIngest(int(holder["port"]), feed, cfg)  # type: ignore[call-overload]
    finally:
        server = holder["server"]
        asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stub(port: int, credentials: grpc.ChannelCredentials | None = None) -> pb_grpc.EdgeSyncStub:
    target = f"127.0.0.1:{port}"
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    return pb_grpc.EdgeSyncStub(channel)


def auth(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def stamp(ts: float) -> Timestamp:
    return Timestamp(seconds=int(ts), nanos=round((ts - int(ts)) * 1e9))


HOUR_START = (int(time.time()) // 3600 - 5) * 3600  # five hours ago, on the hour


# A track summary as a test builds it: TrackSummary's fields, mutable and unchecked, so that a test can
# also send what no agent should (an end before the start, a negative distance, 65 points).
WireSummary = make_dataclass("WireSummary", [(f.name, f.type) for f in fields(TrackSummary)])


def summary(
    store_id: str,
    camera_id: str = "cam1",
    start: float = HOUR_START + 60,
    seconds: float = 45.0,
    behavior: str = "interested",
    zones: Sequence[tuple[str, float, int]] = (("z1", 20.0, 1),),
    path_points: int = 8,
    track_id: str | None = None,
) -> Any:
    """A valid summary (a ``WireSummary``), as the agent's pipeline makes them."""
    probs = dict.fromkeys(("decisive", "disinterested", "hesitant", "interested", "confused", "frustrated"), 0.0)
    if behavior:
        probs[behavior] = 1.0
    return WireSummary(
        track_id=track_id or str(uuid.uuid4()),
        store_id=store_id,
        camera_id=camera_id,
        start_time=start,
        end_time=start + seconds,
        path=tuple((i * seconds / max(path_points, 1), 0.5 * i, 1.0) for i in range(path_points)),
        distance_m=3.5,
        mean_speed_mps=0.4,
        max_speed_mps=1.1,
        stop_count=2,
        zone_dwell={z: s for z, s, _ in zones},
        zone_visits={z: v for z, _, v in zones},
        zone_order=tuple(z for z, _, _ in zones),
        detector_model="yolov8n/1",
        behavior=behavior or None,
        behavior_probabilities=probs if behavior else {},
        behavior_model="behavior-classifier/2" if behavior else "",
    )


def columns_of(summaries: Sequence[Any]) -> pb.SummaryColumns:
    """The summaries as the proto's columns, by the agent's own converter: the form agents push."""
    return summary_columns(summaries)


def push(store_id: str, summaries: Sequence[Any] = (), **items: object) -> pb.PushRequest:
    request = pb.PushRequest(agent_id=f"agent-{store_id}", store_id=store_id, batch_id=uuid.uuid4().hex, **items)  # type: ignore[arg-type]
    if summaries:
        request.summary_columns.CopyFrom(columns_of(summaries))
    return request

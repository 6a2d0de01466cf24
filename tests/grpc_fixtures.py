"""A real central gRPC ingest on 127.0.0.1, run in a background thread, and helpers that build pushes."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from central.config import CentralConfig, GrpcConfig, TlsConfig
from central.db.checkpoint import WalCheckpointer
from central.db.engine import make_engine
from central.grpc_service import grpc_server
from central.live import LiveFeed
from edge_agent.sync.convert import pack_path


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


def summary(
    store_id: str,
    camera_id: str = "cam1",
    start: float = HOUR_START + 60,
    seconds: float = 45.0,
    behavior: str = "interested",
    zones: Sequence[tuple[str, float, int]] = (("z1", 20.0, 1),),
    path_points: int = 8,
    track_id: str | None = None,
    packed: bool = True,
) -> pb.TrackSummary:
    """A valid summary; ``packed=False`` sends its path as ``PathPoint`` messages, as the first agents did."""
    probs = dict.fromkeys(("decisive", "disinterested", "hesitant", "interested", "confused", "frustrated"), 0.0)
    if behavior:
        probs[behavior] = 1.0
    points = [(i * seconds / max(path_points, 1), 0.5 * i, 1.0) for i in range(path_points)]
    path_t, path_xy = pack_path(points) if packed else (b"", b"")
    return pb.TrackSummary(
        track_id=track_id or str(uuid.uuid4()),
        store_id=store_id,
        camera_id=camera_id,
        start_time=stamp(start),
        end_time=stamp(start + seconds),
        path_t=path_t,
        path_xy=path_xy,
        path=[] if packed else [pb.PathPoint(t=t, x=x, y=y) for t, x, y in points],
        distance_m=3.5,
        mean_speed_mps=0.4,
        max_speed_mps=1.1,
        stop_count=2,
        zone_dwell=[pb.ZoneDwell(zone_id=z, seconds=s, visits=v) for z, s, v in zones],
        zone_order=[z for z, _, _ in zones],
        behavior=behavior,
        behavior_probabilities=probs if behavior else {},
        detector_model="yolov8n/1",
        behavior_model="behavior-classifier/2" if behavior else "",
    )


def push(store_id: str, summaries: Sequence[pb.TrackSummary] = (), **items: object) -> pb.PushRequest:
    return pb.PushRequest(
        agent_id=f"agent-{store_id}",
        store_id=store_id,
        batch_id=uuid.uuid4().hex,
        summaries=list(summaries),
        **items,  # type: ignore[arg-type]
    )


def columns_of(summaries: Sequence[pb.TrackSummary]) -> pb.SummaryColumns:
    """The same summaries as the proto's columns (the form agents push), times to the nanosecond."""
    labels = sorted({label for s in summaries for label in s.behavior_probabilities})
    points = [np.frombuffer(s.path_t, dtype="<f8") for s in summaries]
    xys = [np.frombuffer(s.path_xy, dtype="<f4") for s in summaries]

    def seconds(stamp: Timestamp) -> float:
        return stamp.seconds + stamp.nanos * 1e-9

    return pb.SummaryColumns(
        track_id=[s.track_id for s in summaries],
        camera_id=[s.camera_id for s in summaries],
        start_time=[seconds(s.start_time) for s in summaries],
        end_time=[seconds(s.end_time) for s in summaries],
        distance_m=[s.distance_m for s in summaries],
        mean_speed_mps=[s.mean_speed_mps for s in summaries],
        max_speed_mps=[s.max_speed_mps for s in summaries],
        stop_count=[s.stop_count for s in summaries],
        behavior=[s.behavior for s in summaries],
        detector_model=[s.detector_model for s in summaries],
        behavior_model=[s.behavior_model for s in summaries],
        path_points=[len(t) for t in points],
        zone_dwell_count=[len(s.zone_dwell) for s in summaries],
        zone_order_count=[len(s.zone_order) for s in summaries],
        probability_labels=labels,
        probabilities=[s.behavior_probabilities.get(k, math.nan) for s in summaries for k in labels],
        path_t=np.concatenate([np.zeros(0), *points]).tolist(),
        path_xy=np.concatenate([np.zeros(0, dtype="<f4"), *xys]).tolist(),
        zone_id=[z.zone_id for s in summaries for z in s.zone_dwell],
        zone_seconds=[z.seconds for s in summaries for z in s.zone_dwell],
        zone_visits=[z.visits for s in summaries for z in s.zone_dwell],
        zone_order=[z for s in summaries for z in s.zone_order],
    )

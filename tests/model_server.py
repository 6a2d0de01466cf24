"""A real gRPC server on 127.0.0.1 playing central's model delivery for the agent's updater tests: heartbeat
replies carrying assignments, and ``DownloadModel`` serving files in chunks, with the faults central's own
server cannot be made to have on cue (a stream cut half-way, bytes corrupted on the way)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from edge_agent.config.models import SyncConfig
from edge_agent.updater.policy import Assignment

CHUNK = 16 * 1024


@dataclass
class Served:
    data: bytes  # what the stream sends
    sha256: str  # what every chunk announces (the artifact's, even when ``data`` was corrupted)


@dataclass
class ModelServer(pb_grpc.EdgeSyncServicer):
    files: dict[tuple[str, str], Served] = field(default_factory=dict)
    assignments: list[pb.ModelAssignment] = field(default_factory=list)
    heartbeats: list[pb.AgentHeartbeat] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (name, version, offset) asked for
    cuts: list[int] = field(default_factory=list)  # cut the next streams after this many bytes each
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, name: str, version: str, path: Path, corrupt: bool = False) -> Assignment:
        """Serves the file at ``path`` as ``name/version``; ``corrupt`` flips a byte on the way, not in the
        announced SHA-256. Returns the assignment central would send."""
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        sent = bytes([data[0] ^ 0xFF]) + data[1:] if corrupt else data
        with self.lock:
            self.files[(name, version)] = Served(sent, sha)
        return Assignment(name, version, sha, len(data), f"rollout-{name}-{version}")

    def assign(self, *assignments: Assignment) -> None:
        with self.lock:
            self.assignments = [
                pb.ModelAssignment(
                    model=pb.ModelVersion(name=a.name, version=a.version, sha256=a.sha256),
                    size_bytes=a.size_bytes,
                    rollout_id=a.rollout_id,
                )
                for a in assignments
            ]

    def Heartbeat(self, request: pb.AgentHeartbeat, context: grpc.ServicerContext) -> pb.HeartbeatReply:  # noqa: N802
        with self.lock:
            self.heartbeats.append(request)
            return pb.HeartbeatReply(assignments=list(self.assignments))

    def DownloadModel(  # noqa: N802
        self, request: pb.ModelRef, context: grpc.ServicerContext
    ) -> Iterator[pb.ModelChunk]:
        with self.lock:
            self.requests.append((request.name, request.version, request.offset))
            served = self.files.get((request.name, request.version))
            cut = self.cuts.pop(0) if self.cuts else None
        if served is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no model {request.name}/{request.version}")
        sent = 0
        for offset in range(request.offset, len(served.data), CHUNK):
            if cut is not None and sent >= cut:
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection cut by the test")
            data = served.data[offset : offset + CHUNK]
            sent += len(data)
            yield pb.ModelChunk(offset=offset, data=data, total_size=len(served.data), sha256=served.sha256)

    def installs(self) -> list[pb.ModelInstallReport]:
        """Every install report of every heartbeat so far, in order."""
        with self.lock:
            return [r for beat in self.heartbeats for r in beat.installs]


@contextmanager
def model_server(tmp_path: Path) -> Iterator[tuple[ModelServer, SyncConfig]]:
    """The server, and a sync configuration for an agent pointing at it (any token: this server checks none)."""
    servicer = ModelServer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_EdgeSyncServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    token = tmp_path / "token"
    token.write_text("s1.secret")
    try:
        yield servicer, SyncConfig(target=f"127.0.0.1:{port}", token_file=token, timeout_s=10)
    finally:
        server.stop(0).wait(5)

"""The agent's gRPC client of central: the store's token on every call, TLS when a CA is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import grpc
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from edge_agent.config.models import SyncConfig
from edge_agent.store.sqlite_store import Outbox
from edge_agent.sync import convert
from edge_agent.updater.download import Chunk, StreamCutError

logger = logging.getLogger(__name__)


class SyncSetupError(RuntimeError):
    """The sync configuration cannot be used (token file missing, CA unreadable)."""


class Outcome(str, Enum):
    ACKNOWLEDGED = "acknowledged"  # stored now or earlier: done
    REJECTED = "rejected"  # bad data: keep with the reason, never resend
    RETRY = "retry"  # central could not store it now


_OUTCOME = {
    pb.ITEM_STATUS_STORED: Outcome.ACKNOWLEDGED,
    pb.ITEM_STATUS_DUPLICATE: Outcome.ACKNOWLEDGED,
    pb.ITEM_STATUS_REJECTED: Outcome.REJECTED,
    pb.ITEM_STATUS_RETRY: Outcome.RETRY,
}


@dataclass(frozen=True)
class ItemOutcome:
    outcome: Outcome
    reason: str


MAX_TOKEN_BYTES = 4096


def read_token(path: Path) -> str:
    """The store's token from its file: a small regular file of printable text (:class:`SyncSetupError` if not)."""
    try:
        if path.exists() and not path.is_file():  # /dev/zero would be read until memory runs out
            raise SyncSetupError(f"the store token file {path} is not a regular file")
        with path.open("rb") as f:
            raw = f.read(MAX_TOKEN_BYTES + 1)
    except OSError as e:
        raise SyncSetupError(f"cannot read the store token from {path}: {e.strerror or e}") from e
    if len(raw) > MAX_TOKEN_BYTES:
        raise SyncSetupError(f"the store token file {path} is larger than {MAX_TOKEN_BYTES} bytes: not a token")
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise SyncSetupError(f"the store token file {path} is not text") from e
    if not token:
        raise SyncSetupError(f"the store token file {path} is empty")
    if not token.isprintable():
        raise SyncSetupError(f"the store token file {path} holds control characters")
    return token


class CentralClient:
    def __init__(self, config: SyncConfig, download_timeout_s: float = 600.0) -> None:
        self.config = config
        self.download_timeout_s = download_timeout_s
        token = read_token(config.token_file)
        self.metadata = (("authorization", f"Bearer {token}"),)
        if config.tls_ca is not None:
            try:
                ca = config.tls_ca.read_bytes()
            except OSError as e:
                raise SyncSetupError(f"cannot read the CA certificate {config.tls_ca}: {e.strerror or e}") from e
            self.channel = grpc.secure_channel(config.target, grpc.ssl_channel_credentials(root_certificates=ca))
        else:
            self.channel = grpc.insecure_channel(config.target)
        self.stub = pb_grpc.EdgeSyncStub(self.channel)

    def push(self, store_id: str, agent_id: str, batch_id: str, outbox: Outbox) -> list[ItemOutcome]:
        """One outcome per item, in the outbox's order; raises grpc.RpcError when the call itself fails."""
        request = pb.PushRequest(
            agent_id=agent_id,
            store_id=store_id,
            batch_id=batch_id,
            summary_columns=convert.summary_columns(outbox.summaries) if outbox.summaries else None,
            tiles=[convert.tile_pb(t) for t in outbox.tiles],
            line_counts=[convert.line_count_pb(c) for c in outbox.line_counts],
            camera_uptime=[convert.uptime_pb(u) for u in outbox.uptimes],
        )
        ack = self.stub.Push(request, metadata=self.metadata, timeout=self.config.timeout_s)
        if len(ack.results) != len(outbox):
            raise ProtocolError(f"central answered {len(ack.results)} results for {len(outbox)} items")
        expected = [s.track_id for s in outbox.summaries]
        if [r.key for r in ack.results[: len(expected)]] != expected:
            raise ProtocolError("central's results are not in the order of the pushed items")
        return [ItemOutcome(_OUTCOME.get(r.status, Outcome.RETRY), r.reason) for r in ack.results]

    def heartbeat(self, heartbeat: pb.AgentHeartbeat) -> pb.HeartbeatReply:
        reply: pb.HeartbeatReply = self.stub.Heartbeat(heartbeat, metadata=self.metadata, timeout=self.config.timeout_s)
        return reply

    def download(self, name: str, version: str, offset: int) -> Iterator[Chunk]:
        """The file's chunks from ``offset`` (``DownloadModel``); :class:`StreamCutError` when the stream breaks."""
        stream = self.stub.DownloadModel(
            pb.ModelRef(name=name, version=version, offset=offset),
            metadata=self.metadata,
            timeout=self.download_timeout_s,
        )
        try:
            for chunk in stream:
                yield Chunk(chunk.offset, chunk.data, chunk.total_size, chunk.sha256)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else None
            details = e.details() if isinstance(e, grpc.Call) else str(e)
            raise StreamCutError(f"{code.name if code else 'error'}: {details}") from e
        finally:
            stream.cancel()

    def close(self) -> None:
        self.channel.close()


class ProtocolError(RuntimeError):
    """Central's answer does not fit the request (a different version or a bug)."""

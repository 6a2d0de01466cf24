"""The agent's status as the heartbeat message central records (the runtime knows nothing of protobuf)."""

from __future__ import annotations

from retail_proto.v1 import edge_sync_pb2 as pb

from edge_agent.status import AgentStatus
from edge_agent.sync.convert import timestamp
from retail_common.models import ModelRef


def _models(status: AgentStatus) -> list[pb.ModelVersion]:
    """Each loaded model as ``name/version`` (the one spelling central and the registry use), with what runs it."""
    out = []
    for model in status.models:
        if model.version:
            ref = ModelRef.parse(model.version)
            out.append(
                pb.ModelVersion(name=ref.name, version=ref.version, runtime=model.runtime, precision=model.precision)
            )
    return out


def heartbeat_pb(status: AgentStatus, sent_at: float) -> pb.AgentHeartbeat:
    """A camera whose reader thread is waiting for its restart or has failed is not connected and says why;
    the agent's ``last_error`` lists failed and restarting workers first, then the sync's last error."""
    return pb.AgentHeartbeat(
        agent_id=status.agent_id,
        store_id=status.store_id,
        sent_at=timestamp(sent_at),
        agent_version=status.agent_version,
        models=_models(status),
        cameras=[
            pb.CameraStatus(
                camera_id=cam.camera_id,
                fps=cam.fps,
                frames_dropped=cam.frames_dropped,
                connected=cam.connected,
                last_error=cam.last_error,
                zone_ids=list(cam.zone_ids),
                line_ids=list(cam.line_ids),
            )
            for cam in status.cameras
        ],
        outbox_backlog=status.backlog,
        last_error="; ".join(status.problems()),
    )

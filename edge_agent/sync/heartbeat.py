"""The agent's status as the heartbeat message central records (the runtime knows nothing of protobuf)."""

from __future__ import annotations

import logging
import re

from retail_proto.v1 import edge_sync_pb2 as pb

from edge_agent.status import AgentStatus
from edge_agent.sync.convert import timestamp
from edge_agent.updater.policy import Assignment, InstallReport, InstallState
from retail_common.models import ModelNameError, ModelRef

logger = logging.getLogger(__name__)

_STATE = {
    InstallState.PENDING: pb.INSTALL_STATE_PENDING,
    InstallState.DOWNLOADING: pb.INSTALL_STATE_DOWNLOADING,
    InstallState.VERIFYING: pb.INSTALL_STATE_VERIFYING,
    InstallState.STAGED: pb.INSTALL_STATE_STAGED,
    InstallState.SMOKE_TESTED: pb.INSTALL_STATE_SMOKE_TESTED,
    InstallState.ACTIVE: pb.INSTALL_STATE_ACTIVE,
    InstallState.FAILED: pb.INSTALL_STATE_FAILED,
    InstallState.ROLLED_BACK: pb.INSTALL_STATE_ROLLED_BACK,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
        installs=[install_pb(r) for r in status.installs if r.rollout_id],  # central refuses one without
        behavior_model_fallback=status.behavior_model_fallback,
    )


def install_pb(r: InstallReport) -> pb.ModelInstallReport:
    return pb.ModelInstallReport(
        rollout_id=r.rollout_id,
        model=pb.ModelVersion(name=r.name, version=r.version, sha256=r.sha256),
        state=_STATE[r.state],
        failure_code=r.failure_code.value if r.failure_code else "",
        message=r.message,
        at=timestamp(r.at),
        bytes_done=r.bytes_done,
    )


def assignments_of(reply: pb.HeartbeatReply) -> list[Assignment]:
    """The reply's assignments as the updater takes them; one that is not well formed is logged and left out."""
    out = []
    for a in reply.assignments:
        sha = a.model.sha256.lower()
        try:
            ModelRef(a.model.name, a.model.version)
        except ModelNameError as e:
            logger.error("assignment ignored: %s", e)
            continue
        if not _SHA256.match(sha):
            logger.error(
                "assignment of %s/%s ignored: SHA-256 %r is not 64 hex digits",
                a.model.name,
                a.model.version,
                a.model.sha256[:80],
            )
            continue
        out.append(Assignment(a.model.name, a.model.version, sha, a.size_bytes, a.rollout_id))
    return out

"""Simulated agents that follow central's model assignments, for measuring a rollout across a large fleet.

Each agent heartbeats every ``heartbeat_s`` with the models it runs and its latest install report per
rollout and model. When a reply assigns a version it does not run, it downloads the file over
``DownloadModel`` (resuming from its offset after a cut, as a real agent does), checks size and SHA-256,
and switches to it: the next heartbeat reports it ACTIVE (or FAILED with the code). Between heartbeats it
pushes a few track summaries stamped with the behaviour model it runs, so that central's canary check has
data. No model is loaded or run: only the rollout's traffic and timing are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc

from edge_agent.sync.convert import summary_columns, timestamp
from fleet_sim.stores import BEHAVIOR_MIX
from retail_common.rollout import BEHAVIOR_MODEL, FailureCode
from retail_common.summary import TrackSummary
from retail_common.taxonomy import LABELS

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_TRIES = 5


@dataclass(frozen=True)
class Wanted:
    """An assignment the agent does not run yet."""

    name: str
    version: str
    sha256: str
    size: int
    rollout_id: str


def to_install(running: dict[str, str], assignments: Sequence[pb.ModelAssignment]) -> list[Wanted]:
    """The assignments whose version differs from what the agent runs (pure: tested with tables)."""
    return [
        Wanted(a.model.name, a.model.version, a.model.sha256, a.size_bytes, a.rollout_id)
        for a in assignments
        if running.get(a.model.name) != a.model.version
    ]


@dataclass
class SimAgent:
    store_id: str
    token: str
    running: dict[str, str]  # model name -> version
    visits_per_beat: int = 0
    mix: Sequence[float] = BEHAVIOR_MIX
    switched_at: dict[str, float] = field(default_factory=dict)  # "name/version" -> when this agent ran it
    reports: dict[tuple[str, str], pb.ModelInstallReport] = field(default_factory=dict)
    failures: int = 0

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    def heartbeat(self) -> pb.AgentHeartbeat:
        return pb.AgentHeartbeat(
            agent_id="sim-agent",
            store_id=self.store_id,
            sent_at=timestamp(time.time()),
            agent_version="sim-0.1.0",
            models=[pb.ModelVersion(name=n, version=v) for n, v in sorted(self.running.items())],
            installs=list(self.reports.values()),
        )

    async def beat(self, client: pb_grpc.EdgeSyncStub) -> None:
        reply = await client.Heartbeat(self.heartbeat(), metadata=self.metadata, timeout=30)  # type: ignore[misc]
        for wanted in to_install(self.running, reply.assignments):
            await self.install(client, wanted)
        if self.visits_per_beat:
            await self.push(client)

    async def install(self, client: pb_grpc.EdgeSyncStub, wanted: Wanted) -> None:
        data = bytearray()
        code = ""
        for _ in range(MAX_DOWNLOAD_TRIES):
            ref = pb.ModelRef(name=wanted.name, version=wanted.version, offset=len(data))
            try:
                async for chunk in client.DownloadModel(ref, metadata=self.metadata, timeout=60):  # type: ignore[attr-defined]
                    data += chunk.data
                break
            except grpc.aio.AioRpcError as e:
                logger.warning("store %s: download of %s/%s cut: %s", self.store_id, wanted.name, wanted.version, e)
        else:
            code = FailureCode.DOWNLOAD_FAILED.value
        if not code and len(data) != wanted.size:
            code = FailureCode.SIZE_MISMATCH.value
        if not code and hashlib.sha256(data).hexdigest() != wanted.sha256:
            code = FailureCode.SHA256_MISMATCH.value
        now = time.time()
        if not code:
            self.running[wanted.name] = wanted.version
            self.switched_at[f"{wanted.name}/{wanted.version}"] = now
        else:
            self.failures += 1
        self.reports[(wanted.rollout_id, wanted.name)] = pb.ModelInstallReport(
            rollout_id=wanted.rollout_id,
            model=pb.ModelVersion(name=wanted.name, version=wanted.version, sha256=wanted.sha256),
            state=pb.INSTALL_STATE_FAILED if code else pb.INSTALL_STATE_ACTIVE,
            failure_code=code,
            message=f"simulated install: {code or 'active'}",
            at=timestamp(now),
            bytes_done=len(data),
        )

    async def push(self, client: pb_grpc.EdgeSyncStub) -> None:
        """A few visits of the last minute, labelled from the agent's mix by the model it runs."""
        rng = np.random.default_rng()
        now = time.time()
        model = f"{BEHAVIOR_MODEL}/{self.running.get(BEHAVIOR_MODEL, '0')}"
        summaries = []
        for label in rng.choice(len(LABELS), self.visits_per_beat, p=np.asarray(self.mix) / sum(self.mix)):
            start = now - 60 - float(rng.uniform(0, 30))
            summaries.append(
                TrackSummary(
                    track_id=str(uuid.uuid4()),
                    store_id=self.store_id,
                    camera_id="cam-1",
                    start_time=start,
                    end_time=start + 40.0,
                    path=((0.0, 0.0, 0.0), (40.0, 4.0, 3.0)),
                    distance_m=5.0,
                    mean_speed_mps=0.125,
                    max_speed_mps=0.8,
                    stop_count=1,
                    zone_dwell={},
                    zone_visits={},
                    zone_order=(),
                    detector_model="yolov8n/1",
                    behavior=LABELS[int(label)],
                    behavior_probabilities={LABELS[int(label)]: 1.0},
                    behavior_model=model,
                )
            )
        request = pb.PushRequest(agent_id="sim-agent", store_id=self.store_id, batch_id=uuid.uuid4().hex)
        request.summary_columns.CopyFrom(summary_columns(summaries))
        await client.Push(request, metadata=self.metadata, timeout=30)  # type: ignore[misc]

    async def run(self, client: pb_grpc.EdgeSyncStub, heartbeat_s: float, stop: asyncio.Event) -> None:
        """Heartbeat every ``heartbeat_s`` (the first after a random part of it, so that a fleet started at
        once spreads out) until ``stop``; an unreachable central is retried at the next beat."""
        first = float(np.random.default_rng().uniform(0, heartbeat_s))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), first)
        while not stop.is_set():
            try:
                await self.beat(client)
            except grpc.aio.AioRpcError as e:
                logger.warning("store %s: heartbeat failed: %s", self.store_id, e.code())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), heartbeat_s)

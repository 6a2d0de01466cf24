"""The running agent's status as one frozen value: what ``/healthz``, ``/metrics``, ``retail-edge status`` and
the heartbeat report.

:meth:`AgentStatus.to_json` is the ``/healthz`` body and :meth:`AgentStatus.from_json` reads it back (the CLI
asks a running agent over HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from edge_agent.updater.policy import InstallReport


class WorkerState(str, Enum):
    RUNNING = "running"
    RESTARTING = "restarting"  # died; started again after its backoff
    FAILED = "failed"  # died more often than the restart policy allows: left stopped until a reload or restart
    STOPPED = "stopped"  # ended by itself (a file that ended)


class Health(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"  # running, but a worker has failed
    STALLED = "stalled"  # the scheduler has not come round for too long
    STOPPING = "stopping"

    @classmethod
    def of(cls, stopping: bool, loop_alive: bool, failed: bool) -> Health:
        if stopping:
            return cls.STOPPING
        if not loop_alive:
            return cls.STALLED
        return cls.DEGRADED if failed else cls.OK


@dataclass(frozen=True)
class WorkerStatus:
    """A supervised thread: its state, how often the supervisor restarted it, and why it last died."""

    state: WorkerState = WorkerState.RUNNING
    restarts: int = 0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "restarts": self.restarts, "last_error": self.last_error}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WorkerStatus:
        return cls(WorkerState(d["state"]), int(d["restarts"]), str(d["last_error"]))


@dataclass(frozen=True)
class CameraStatus:
    camera_id: str
    connected: bool
    finished: bool  # a file that ended without looping
    fps: float  # frames handed to the detector per second, smoothed
    frames_read: int
    frames_dropped: int
    frames_skipped: int
    reconnects: int
    last_error: str
    open_tracks: int
    tracks: int  # tracks summarised
    zone_ids: tuple[str, ...]
    line_ids: tuple[str, ...]
    worker: WorkerStatus

    def to_json(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "finished": self.finished,
            "fps": round(self.fps, 2),
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "frames_skipped": self.frames_skipped,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "open_tracks": self.open_tracks,
            "tracks": self.tracks,
            "zone_ids": list(self.zone_ids),
            "line_ids": list(self.line_ids),
            "worker": self.worker.to_json(),
        }

    @classmethod
    def from_json(cls, camera_id: str, d: dict[str, Any]) -> CameraStatus:
        return cls(
            camera_id=camera_id,
            connected=bool(d["connected"]),
            finished=bool(d["finished"]),
            fps=float(d["fps"]),
            frames_read=int(d["frames_read"]),
            frames_dropped=int(d["frames_dropped"]),
            frames_skipped=int(d["frames_skipped"]),
            reconnects=int(d["reconnects"]),
            last_error=str(d["last_error"]),
            open_tracks=int(d["open_tracks"]),
            tracks=int(d["tracks"]),
            zone_ids=tuple(d["zone_ids"]),
            line_ids=tuple(d["line_ids"]),
            worker=WorkerStatus.from_json(d["worker"]),
        )


@dataclass(frozen=True)
class SyncState:
    acknowledged: int
    rejected: int
    last_success: float | None  # Unix time of the last complete sync
    last_error: str
    worker: WorkerStatus

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "acknowledged": self.acknowledged,
            "rejected": self.rejected,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "worker": self.worker.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SyncState | None:
        if not d["enabled"]:
            return None
        last = d["last_success"]
        return cls(
            int(d["acknowledged"]),
            int(d["rejected"]),
            None if last is None else float(last),
            str(d["last_error"]),
            WorkerStatus.from_json(d["worker"]),
        )


@dataclass(frozen=True)
class ModelInfo:
    kind: str  # "detector", "behavior"
    version: str  # "name/version" (retail_common.models), as stored in every summary
    runtime: str = ""  # what runs it, e.g. "openvino/CPU", "onnxruntime/CUDA" (detectors report theirs)
    precision: str = ""  # "fp32", "int8", "bf16", ... (detectors report theirs)


@dataclass(frozen=True)
class AgentStatus:
    health: Health
    store_id: str
    agent_id: str
    agent_version: str
    cameras: tuple[CameraStatus, ...]
    sync: SyncState | None  # None when the agent only stores locally
    backlog: int  # items not yet acknowledged by central
    store_bytes: int
    budget_exhausted: bool
    inference_s: float
    batches: int
    batched_frames: int
    models: tuple[ModelInfo, ...]
    installs: tuple[InstallReport, ...] = ()  # the latest state of each model install since the agent started
    behavior_model_fallback: bool = False  # the packaged default runs because nothing else could be loaded
    model_warnings: tuple[str, ...] = ()  # e.g. a new detector that finds nobody where the previous one did
    updater: WorkerStatus | None = None  # the model updater's thread (runs only with sync)

    def camera(self, camera_id: str) -> CameraStatus:
        for cam in self.cameras:
            if cam.camera_id == camera_id:
                return cam
        raise KeyError(f"no camera {camera_id!r} (cameras: {', '.join(c.camera_id for c in self.cameras)})")

    def workers(self) -> tuple[tuple[str, WorkerStatus], ...]:
        """Every supervised thread by name: ``camera-<id>`` for each reader, ``sync`` for the sync worker,
        ``updater`` for the model updater."""
        named = tuple((f"camera-{c.camera_id}", c.worker) for c in self.cameras)
        named += (("sync", self.sync.worker),) if self.sync is not None else ()
        return named + ((("updater", self.updater),) if self.updater is not None else ())

    def problems(self) -> tuple[str, ...]:
        """What needs a person's attention, most serious first: failed and restarting workers, then sync."""
        out = [
            f"{name} {worker.state.value}: {worker.last_error}"
            for state in (WorkerState.FAILED, WorkerState.RESTARTING)
            for name, worker in self.workers()
            if worker.state is state
        ]
        if self.sync is not None and self.sync.last_error:
            out.append(self.sync.last_error)
        if self.behavior_model_fallback:
            out.append("running the packaged default behaviour model: no other could be loaded")
        out.extend(self.model_warnings)
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.health.value,
            "store_id": self.store_id,
            "agent_id": self.agent_id,
            "agent_version": self.agent_version,
            "cameras": {c.camera_id: c.to_json() for c in self.cameras},
            "sync": self.sync.to_json() if self.sync is not None else {"enabled": False},
            "backlog": self.backlog,
            "store_bytes": self.store_bytes,
            "budget_exhausted": self.budget_exhausted,
            "inference_s": round(self.inference_s, 3),
            "batches": self.batches,
            "batched_frames": self.batched_frames,
            "inference_ms_mean": round(1000 * self.inference_s / self.batches, 2) if self.batches else None,
            "mean_batch": round(self.batched_frames / self.batches, 2) if self.batches else None,
            "models": {m.kind: m.version for m in self.models},
            "installs": [r.to_json() for r in self.installs],
            "behavior_model_fallback": self.behavior_model_fallback,
            "model_warnings": list(self.model_warnings),
            "updater": self.updater.to_json() if self.updater is not None else None,
            "model_runtimes": {
                m.kind: {"runtime": m.runtime, "precision": m.precision} for m in self.models if m.runtime
            },
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AgentStatus:
        return cls(
            health=Health(d["status"]),
            store_id=str(d["store_id"]),
            agent_id=str(d["agent_id"]),
            agent_version=str(d["agent_version"]),
            cameras=tuple(CameraStatus.from_json(k, v) for k, v in sorted(d["cameras"].items())),
            sync=SyncState.from_json(d["sync"]),
            backlog=int(d["backlog"]),
            store_bytes=int(d["store_bytes"]),
            budget_exhausted=bool(d["budget_exhausted"]),
            inference_s=float(d["inference_s"]),
            batches=int(d["batches"]),
            batched_frames=int(d["batched_frames"]),
            installs=tuple(InstallReport.from_json(r) for r in d["installs"]),
            behavior_model_fallback=bool(d["behavior_model_fallback"]),
            model_warnings=tuple(str(w) for w in d["model_warnings"]),
            updater=WorkerStatus.from_json(d["updater"]) if d["updater"] is not None else None,
            models=tuple(ModelInfo(k, v, **d.get("model_runtimes", {}).get(k, {})) for k, v in d["models"].items()),
        )

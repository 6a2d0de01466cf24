"""The heartbeat built from the agent's status: the same content as before the split, plus the supervisor's."""

from __future__ import annotations

import dataclasses
import json

from retail_proto.v1 import edge_sync_pb2 as pb

from edge_agent.status import (
    AgentStatus,
    CameraStatus,
    Health,
    ModelInfo,
    SyncState,
    WorkerState,
    WorkerStatus,
)
from edge_agent.sync.heartbeat import assignments_of, heartbeat_pb
from edge_agent.updater.policy import Assignment, InstallReport, InstallState
from retail_common.rollout import FailureCode


def camera_status(camera_id: str = "cam1", worker: WorkerStatus | None = None, **fields: object) -> CameraStatus:
    values: dict[str, object] = {
        "connected": True,
        "finished": False,
        "fps": 9.5,
        "frames_read": 100,
        "frames_dropped": 3,
        "frames_skipped": 10,
        "reconnects": 0,
        "last_error": "",
        "open_tracks": 1,
        "tracks": 4,
        "zone_ids": ("table",),
        "line_ids": ("door",),
    } | fields
    return CameraStatus(camera_id=camera_id, worker=worker or WorkerStatus(), **values)  # type: ignore[arg-type]


def agent_status(
    cameras: tuple[CameraStatus, ...] = (), sync: SyncState | None = None, backlog: int = 0
) -> AgentStatus:
    return AgentStatus(
        health=Health.OK,
        store_id="s1",
        agent_id="edge-1",
        agent_version="0.1.0",
        cameras=cameras,
        sync=sync,
        backlog=backlog,
        store_bytes=4096,
        budget_exhausted=False,
        inference_s=1.5,
        batches=10,
        batched_frames=25,
        models=(
            ModelInfo("detector", "person-yolov8s-int8/0123456789ab", "openvino/CPU", "int8"),
            ModelInfo("behavior", "behavior-classifier/2"),
        ),
    )


def test_the_heartbeat_reports_models_cameras_and_backlog() -> None:
    status = agent_status(cameras=(camera_status(),), backlog=7)
    beat = heartbeat_pb(status, sent_at=1_700_000_000.0)
    assert (beat.agent_id, beat.store_id, beat.agent_version) == ("edge-1", "s1", "0.1.0")
    assert (beat.sent_at.seconds, beat.sent_at.nanos) == (1_700_000_000, 0)
    # name/version, as the summaries and the registry spell it (and the fleet simulator reports)
    assert [(m.name, m.version) for m in beat.models] == [
        ("person-yolov8s-int8", "0123456789ab"),
        ("behavior-classifier", "2"),
    ]
    # and what runs the detector, in which precision (the behaviour model says nothing: empty)
    assert [(m.runtime, m.precision) for m in beat.models] == [("openvino/CPU", "int8"), ("", "")]
    (cam,) = beat.cameras
    assert (cam.camera_id, cam.fps, cam.frames_dropped, cam.connected) == ("cam1", 9.5, 3, True)
    assert (list(cam.zone_ids), list(cam.line_ids)) == (["table"], ["door"])
    assert beat.outbox_backlog == 7
    assert beat.last_error == ""


def test_runtime_and_precision_survive_the_healthz_json_that_retail_edge_status_reads() -> None:
    status = agent_status(cameras=(camera_status(),))
    again = AgentStatus.from_json(json.loads(json.dumps(status.to_json())))
    assert again.models == status.models
    assert status.to_json()["model_runtimes"] == {"detector": {"runtime": "openvino/CPU", "precision": "int8"}}


def test_failed_and_restarting_workers_come_first_in_the_agents_last_error() -> None:
    crashed = WorkerStatus(WorkerState.FAILED, 5, "ValueError: decoder exploded")
    waiting = WorkerStatus(WorkerState.RESTARTING, 1, "OSError: no device")
    cameras = (
        camera_status("cam1", crashed, connected=False, last_error="ValueError: decoder exploded"),
        camera_status("cam2", waiting, connected=False, last_error="OSError: no device"),
        camera_status("cam3"),
    )
    sync = SyncState(10, 0, None, "push of 3 item(s) failed: UNAVAILABLE: down", WorkerStatus())
    beat = heartbeat_pb(agent_status(cameras, sync), sent_at=0.0)
    assert beat.last_error == (
        "camera-cam1 failed: ValueError: decoder exploded; camera-cam2 restarting: OSError: no device; "
        "push of 3 item(s) failed: UNAVAILABLE: down"
    )
    assert [(c.camera_id, c.connected, c.last_error) for c in beat.cameras] == [
        ("cam1", False, "ValueError: decoder exploded"),
        ("cam2", False, "OSError: no device"),
        ("cam3", True, ""),
    ]


def test_the_status_reads_back_from_its_json() -> None:
    """``retail-edge status`` reads what ``/healthz`` wrote."""
    sync = SyncState(10, 1, 1_700_000_000.0, "", WorkerStatus(WorkerState.RESTARTING, 2, "OSError: disk"))
    status = agent_status((camera_status("a"), camera_status("b", WorkerStatus(WorkerState.FAILED, 5, "x"))), sync)
    assert AgentStatus.from_json(status.to_json()) == status
    assert AgentStatus.from_json(agent_status().to_json()) == agent_status()


def test_install_reports_and_the_fallback_travel_in_the_heartbeat_and_read_back_from_json() -> None:
    reports = (
        InstallReport("r1", "behavior-classifier", "7", "a" * 64, InstallState.ACTIVE, None, "swapped", 1e9),
        InstallReport(
            "r2", "person-detector", "3", "b" * 64, InstallState.FAILED, FailureCode.DISK_FULL, "no room", 1e9, 4096
        ),
        InstallReport("", "person-detector", "2", "c" * 64, InstallState.ACTIVE, None, "", 1e9),  # no rollout
    )
    status = dataclasses.replace(
        agent_status(),
        installs=reports,
        behavior_model_fallback=True,
        updater=WorkerStatus(WorkerState.RESTARTING, 1, "OSError: models folder not writable"),
    )
    beat = heartbeat_pb(status, sent_at=0.0)
    assert beat.behavior_model_fallback
    assert beat.last_error.startswith("updater restarting: OSError: models folder not writable")
    assert "packaged default behaviour model" in beat.last_error
    # central refuses a heartbeat with a report naming no rollout: such a report stays on the agent
    assert [
        (r.rollout_id, r.model.name, r.model.version, r.state, r.failure_code, r.bytes_done) for r in beat.installs
    ] == [
        ("r1", "behavior-classifier", "7", pb.INSTALL_STATE_ACTIVE, "", 0),
        ("r2", "person-detector", "3", pb.INSTALL_STATE_FAILED, "disk_full", 4096),
    ]
    assert AgentStatus.from_json(status.to_json()) == status


def test_assignments_that_are_not_well_formed_are_left_out() -> None:
    def assignment(name: str, version: str, sha: str) -> pb.ModelAssignment:
        return pb.ModelAssignment(
            model=pb.ModelVersion(name=name, version=version, sha256=sha), size_bytes=10, rollout_id="r"
        )

    reply = pb.HeartbeatReply(
        assignments=[
            assignment("behavior-classifier", "7", "A" * 64),
            assignment("behavior-classifier", "", "a" * 64),
            assignment("person-detector", "1", "not-hex"),
            assignment("bad/name", "1", "a" * 64),
        ]
    )
    assert assignments_of(reply) == [Assignment("behavior-classifier", "7", "a" * 64, 10, "r")]

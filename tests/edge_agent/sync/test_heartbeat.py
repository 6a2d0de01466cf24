"""The heartbeat built from the agent's status: the same content as before the split, plus the supervisor's."""

from __future__ import annotations

import json

from edge_agent.status import (
    AgentStatus,
    CameraStatus,
    Health,
    ModelInfo,
    SyncState,
    WorkerState,
    WorkerStatus,
)
from edge_agent.sync.heartbeat import heartbeat_pb


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

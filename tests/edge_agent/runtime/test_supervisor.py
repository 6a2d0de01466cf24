"""The supervisor with real threads and a clock the test turns: a worker that dies is restarted after its wait,
one that keeps dying is reported failed, one that ends by itself is left stopped."""

from __future__ import annotations

import threading

from edge_agent.config.models import SupervisorConfig
from edge_agent.runtime.supervisor import Supervisor
from edge_agent.status import WorkerState, WorkerStatus


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settle(supervisor: Supervisor, name: str) -> WorkerStatus:
    """Waits for the worker's thread to end, then lets the supervisor look."""
    supervisor.join(name, 10)
    supervisor.check()
    return supervisor.status(name)


def test_a_worker_that_keeps_dying_is_restarted_with_waits_then_failed() -> None:
    runs: list[int] = []

    def crash() -> None:
        runs.append(1)
        raise OSError(f"device gone (run {len(runs)})")

    clock = Clock()
    config = SupervisorConfig(backoff_initial_s=1, backoff_max_s=4, max_restarts=2, window_s=60)
    supervisor = Supervisor(config, clock)
    supervisor.start("camera-cam1", crash)
    assert settle(supervisor, "camera-cam1") == WorkerStatus(WorkerState.RESTARTING, 0, "OSError: device gone (run 1)")
    supervisor.check()  # the wait is not over: not restarted yet
    assert len(runs) == 1
    clock.now = 1.0  # the first wait is at most 1 s
    supervisor.check()
    assert settle(supervisor, "camera-cam1") == WorkerStatus(WorkerState.RESTARTING, 1, "OSError: device gone (run 2)")
    clock.now = 3.0  # the second at most 2 s
    supervisor.check()
    assert settle(supervisor, "camera-cam1") == WorkerStatus(WorkerState.FAILED, 2, "OSError: device gone (run 3)")
    clock.now = 1000.0
    supervisor.check()
    assert supervisor.status("camera-cam1").state is WorkerState.FAILED
    assert len(runs) == 3  # not restarted again


def test_a_worker_that_ends_by_itself_is_not_restarted() -> None:
    supervisor = Supervisor(SupervisorConfig())
    supervisor.start("camera-file", lambda: None)
    assert settle(supervisor, "camera-file") == WorkerStatus(WorkerState.STOPPED, 0, "")


def test_a_restarted_worker_runs_again() -> None:
    clock = Clock()
    supervisor = Supervisor(SupervisorConfig(backoff_initial_s=1), clock)
    runs: list[int] = []
    release = threading.Event()

    def crash_once() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first open failed")
        release.wait(10)

    supervisor.start("sync", crash_once)
    assert settle(supervisor, "sync").state is WorkerState.RESTARTING
    clock.now = 1.0
    supervisor.check()
    assert supervisor.status("sync") == WorkerStatus(WorkerState.RUNNING, 1, "RuntimeError: first open failed")
    assert supervisor.is_alive("sync")
    release.set()
    assert settle(supervisor, "sync").state is WorkerState.STOPPED

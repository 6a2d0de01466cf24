"""Camera reader threads that die, in a running agent: the real video file behind a real :class:`VideoSource`
subclass that throws what a driver or a decoder bug would, at open or mid-stream. The agent restarts them
within its limits and shows it in /healthz, /metrics, ``retail-edge status`` and the heartbeat at central."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from grpc_fixtures import free_port, running_ingest
from sqlalchemy import select
from test_run import agent_config

from central.db.engine import make_engine
from central.db.schema import agents
from central.stores import create_store
from edge_agent.config.loader import load_agent_config
from edge_agent.ingest.video_source import Frame, VideoSource
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.camera_worker import SourceOpener
from edge_agent.runtime.systemd import Notifier


def crashing_source(broken: Path, open_failures: int = 0, frames_before_crash: int | None = None) -> SourceOpener:
    """Opens ``broken`` as a camera that fails its first ``open_failures`` opens with an OSError, and every
    read after ``frames_before_crash`` frames with a ValueError; any other source opens normally."""
    opens = itertools.count()

    class CrashingSource(VideoSource):
        def __init__(self, source: str, fps_hint: float | None = None) -> None:
            if source == str(broken) and next(opens) < open_failures:
                raise OSError("driver refused to open the device")
            super().__init__(source, fps_hint)

        def frames(self) -> Iterator[Frame]:
            crash_at = frames_before_crash if self.source == str(broken) else None
            for frame in super().frames():
                if crash_at is not None and frame.index >= crash_at:
                    raise ValueError("decoder exploded")
                yield frame

    return CrashingSource


def two_cameras(tmp_path: Path, clip: Path, sync: dict[str, object] | None = None) -> tuple[Path, Path]:
    """A configuration with cam1 reading ``broken.mp4`` and cam2 the clip, both looping; quick restarts."""
    broken = tmp_path / "broken.mp4"
    shutil.copy(clip, broken)
    config = agent_config(tmp_path, broken, sync, loop=True)
    cfg = yaml.safe_load(config.read_text())
    cfg["cameras"].append({**cfg["cameras"][0], "id": "cam2", "source": str(clip)})
    cfg["runtime"]["supervisor"] = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "max_restarts": 2}
    config.write_text(yaml.safe_dump(cfg))
    return config, broken


@contextmanager
def running_agent(config: Path, open_source: SourceOpener) -> Iterator[tuple[Agent, str]]:
    """The agent in this process (its scheduler loop in a thread), stopped and shut down afterwards."""
    agent = Agent(load_agent_config(config), config, Notifier(environ={}), open_source=open_source)
    agent.start()
    loop = threading.Thread(target=agent.loop, name="scheduler")
    loop.start()
    try:
        assert agent.health is not None
        yield agent, f"http://127.0.0.1:{agent.health.port}"
    finally:
        agent.stop.set()
        loop.join(30)
        agent.shutdown()


def health(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()
    return result


def until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status_command(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "--url", f"{url}/healthz"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_camera_that_fails_to_open_is_restarted_and_then_reads(tmp_path: Path, visitor_clip: Path) -> None:
    config, broken = two_cameras(tmp_path, visitor_clip)
    with running_agent(config, crashing_source(broken, open_failures=2)) as (_, url):
        until(lambda: health(url)["cameras"]["cam1"]["frames_read"] > 5, "cam1 to read after its restarts")
        response = httpx.get(f"{url}/healthz", timeout=5)
        cam1 = response.json()["cameras"]["cam1"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        shown = status_command(url)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert cam1["connected"]
    assert cam1["worker"] == {
        "state": "running",
        "restarts": 2,
        "last_error": "OSError: driver refused to open the device",
    }
    assert 'retail_edge_worker_restarts_total{worker="camera-cam1"} 2.0' in metrics
    assert 'retail_edge_worker_failed{worker="camera-cam1"} 0.0' in metrics
    assert shown.returncode == 0, shown.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_camera_that_keeps_crashing_is_reported_failed_and_the_others_keep_running(
    tmp_path: Path, visitor_clip: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    (tmp_path / "token").write_text(create_store(engine, "s1"))
    port = free_port()
    sync = {"target": f"127.0.0.1:{port}", "token_file": str(tmp_path / "token"), "interval_s": 0.2, "heartbeat_s": 0.2}
    config, broken = two_cameras(tmp_path, visitor_clip, sync)
    with running_ingest(database_url, port=port), running_agent(config, crashing_source(broken, 0, 3)) as (_, url):
        until(lambda: health(url)["cameras"]["cam1"]["worker"]["state"] == "failed", "cam1 to be given up on")
        response = httpx.get(f"{url}/healthz", timeout=5)
        read_before = response.json()["cameras"]["cam2"]["frames_read"]
        until(lambda: health(url)["cameras"]["cam2"]["frames_read"] > read_before + 5, "cam2 to keep reading")
        cam1_read = health(url)["cameras"]["cam1"]["frames_read"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        shown = status_command(url)

        def central_agent() -> Any:
            with engine.connect() as conn:
                return conn.execute(select(agents)).mappings().one_or_none()

        until(lambda: (row := central_agent()) is not None and "camera-cam1 failed" in row["last_error"], "beat")
        assert health(url)["cameras"]["cam1"]["frames_read"] == cam1_read  # not restarted any more
    row = central_agent()
    engine.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    cam1 = response.json()["cameras"]["cam1"]
    assert cam1["worker"] == {"state": "failed", "restarts": 2, "last_error": "ValueError: decoder exploded"}
    assert not cam1["connected"]
    assert cam1["last_error"] == "ValueError: decoder exploded"
    assert response.json()["cameras"]["cam2"]["worker"]["state"] == "running"
    assert 'retail_edge_worker_failed{worker="camera-cam1"} 1.0' in metrics
    assert 'retail_edge_worker_restarts_total{worker="camera-cam1"} 2.0' in metrics
    assert shown.returncode == 1
    assert "failed" in shown.stdout
    assert "ValueError: decoder exploded" in shown.stdout
    assert row["last_error"].startswith("camera-cam1 failed: ValueError: decoder exploded")
    beat_cameras = {c["camera_id"]: c for c in json.loads(row["cameras"])}
    assert not beat_cameras["cam1"]["connected"]
    assert beat_cameras["cam1"]["last_error"] == "ValueError: decoder exploded"
    assert beat_cameras["cam2"]["connected"]


def test_sighup_starts_a_failed_camera_again(tmp_path: Path, visitor_clip: Path) -> None:
    """Once the camera is fixed (here: its fourth open succeeds), a reload gives it a fresh restart policy."""
    config, broken = two_cameras(tmp_path, visitor_clip)
    with running_agent(config, crashing_source(broken, open_failures=3)) as (agent, url):
        until(lambda: health(url)["cameras"]["cam1"]["worker"]["state"] == "failed", "cam1 to be given up on")
        assert health(url)["cameras"]["cam1"]["frames_read"] == 0
        agent.request_reload()  # what SIGHUP does
        until(lambda: health(url)["cameras"]["cam1"]["frames_read"] > 5, "cam1 to read after the reload")
        after = httpx.get(f"{url}/healthz", timeout=5)
    assert after.status_code == 200
    assert after.json()["cameras"]["cam1"]["worker"] == {"state": "running", "restarts": 0, "last_error": ""}

"""A real RTSP camera (GStreamer's RTSP server on 127.0.0.1) killed mid-stream and started again: the agent
reconnects and carries on, and a second camera reading a file is not disturbed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import shared_path
from grpc_fixtures import free_port
from test_run import agent_config, agent_process

SERVER = Path(__file__).resolve().parents[2] / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_PACKAGES = ("gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-bad")


def rtsp_available() -> str | None:
    """None when GStreamer's RTSP server can run here, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode:
        return f"GStreamer's RTSP server is not installed (Debian packages: {' '.join(RTSP_PACKAGES)})"
    return None


@pytest.fixture
def rtsp_required() -> None:
    reason = rtsp_available()
    if reason is not None:
        if os.environ.get("RETAIL_REQUIRE_RTSP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def rtsp_server(video: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(SERVER), str(video), str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("rtsp://"):
        proc.kill()
        raise AssertionError(f"RTSP server did not start: {proc.communicate(timeout=10)[1]}")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def cameras(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()["cameras"]
    return result


def wait_for(url: str, check: Any, what: str, timeout: float = 45) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cams = cameras(url)
        if check(cams):
            return cams
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: {cameras(url)}")


def test_rtsp_camera_reconnects_and_the_file_camera_carries_on(
    rtsp_required: None, tmp_path: Path, visitor_clip: Path
) -> None:
    port = free_port()
    video = shared_path("data", "intel-sample-videos", "one-by-one-person-detection.mp4")
    config = agent_config(tmp_path, visitor_clip, None, loop=True)
    cfg = yaml.safe_load(config.read_text())
    rtsp_cam = {**cfg["cameras"][0], "id": "rtsp-cam", "source": f"rtsp://127.0.0.1:{port}/cam"}
    del rtsp_cam["loop"]
    cfg["cameras"].append(rtsp_cam)
    cfg["runtime"] |= {"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0}
    config.write_text(yaml.safe_dump(cfg))
    with rtsp_server(video, port) as server, agent_process(config) as (agent, url):
        wait_for(url, lambda c: c["rtsp-cam"]["connected"] and c["rtsp-cam"]["frames_read"] > 20, "RTSP frames")
        server.kill()
        server.wait(10)
        down = wait_for(url, lambda c: not c["rtsp-cam"]["connected"], "the RTSP camera to notice", timeout=30)
        file_before = down["cam1"]["frames_read"]
        time.sleep(3)
        during = cameras(url)
        assert during["cam1"]["frames_read"] > file_before + 15  # ~10 fps file camera undisturbed
        assert not during["rtsp-cam"]["connected"]
        assert during["rtsp-cam"]["last_error"]
        read_before = during["rtsp-cam"]["frames_read"]
        with rtsp_server(video, port):
            back = wait_for(
                url,
                lambda c: c["rtsp-cam"]["connected"] and c["rtsp-cam"]["frames_read"] > read_before + 20,
                "the RTSP camera to come back",
            )
        assert back["rtsp-cam"]["reconnects"] >= 1
        assert agent.poll() is None

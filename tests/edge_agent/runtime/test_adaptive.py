"""Adaptive frame rate: a camera with nobody in view is sampled at idle_fps, at full rate once someone appears."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from test_run import agent_config, agent_process

from edge_agent.config.models import CameraConfig, RuntimeConfig
from edge_agent.runtime.camera_worker import CameraWorker

SOURCE_FPS = 8.0  # a frame every 0.125 s

# (time, people in view, frame taken): active_fps 4, idle_fps 1, idle after 3 s without a person; the camera
# starts active at 0; a person counts as seen only on a frame that was taken (the detector sees no other)
SAMPLING = [
    (0.0, 0, True),  # the first frame
    (0.125, 0, False),  # 4 of the camera's 8 fps
    (0.25, 0, True),
    (3.0, 0, True),  # 3 s without a person is not yet idle
    (3.25, 0, False),  # idle: 1 fps, where active would have taken it
    (3.875, 0, False),
    (4.0, 0, True),
    (4.5, 1, False),  # someone walks in between two idle samples: unseen yet
    (5.0, 1, True),  # seen
    (5.125, 1, False),
    (5.25, 1, True),  # full rate at once, not a second after the last idle sample
    (5.5, 0, True),
    (8.25, 0, True),  # still active 3 s after the last person was seen (5.25)
    (8.5, 0, False),  # idle again
    (9.25, 0, True),
]


def test_sampling_follows_the_people_in_view() -> None:
    now = [0.0]
    worker = CameraWorker(
        CameraConfig(id="cam1", source="clip.mp4"),
        RuntimeConfig(active_fps=4, idle_fps=1, idle_after_s=3),
        threading.Event(),
        clock=lambda: now[0],
    )
    taken = []
    for t, people, _ in SAMPLING:
        now[0] = t
        sampled = worker.sample(t, SOURCE_FPS)
        if sampled and people:
            worker.saw_person()  # what the scheduler does when the detector finds someone
        taken.append((t, people, sampled))
    assert taken == SAMPLING


def test_without_active_fps_a_camera_is_sampled_at_its_own_rate() -> None:
    worker = CameraWorker(CameraConfig(id="cam1", source="clip.mp4"), RuntimeConfig(), threading.Event())
    assert [worker.sample(i / SOURCE_FPS, SOURCE_FPS) for i in range(4)] == [True] * 4


def camera(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()["cameras"]["cam1"]
    return result


def test_an_idle_camera_skips_frames_and_still_catches_the_visitor(tmp_path: Path, visitor_clip: Path) -> None:
    config = agent_config(tmp_path, visitor_clip, None)
    cfg = yaml.safe_load(config.read_text())
    cfg["runtime"] |= {"idle_fps": 1.0, "idle_after_s": 3.0}
    config.write_text(yaml.safe_dump(cfg))
    with agent_process(config) as (proc, url):
        # the clip's first 7 s show an empty room; the visitor stands at the table from about 9 s to 17 s
        deadline = time.monotonic() + 30
        while not camera(url)["open_tracks"] and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = camera(url)
        assert seen["open_tracks"], "the visitor was missed while the camera idled"
        assert seen["frames_skipped"] > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0

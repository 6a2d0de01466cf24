"""Adaptive frame rate: a camera with nobody in view is sampled at idle_fps, at full rate once someone appears."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from test_run import agent_config, agent_process


def camera(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()["cameras"]["cam1"]
    return result


def test_an_empty_view_is_sampled_slowly_and_a_person_brings_full_rate(tmp_path: Path, visitor_clip: Path) -> None:
    config = agent_config(tmp_path, visitor_clip, None)
    cfg = yaml.safe_load(config.read_text())
    cfg["runtime"] |= {"idle_fps": 1.0, "idle_after_s": 3.0}
    config.write_text(yaml.safe_dump(cfg))
    with agent_process(config) as (proc, url):
        # the clip's first 7 s show an empty room: idle from 3 s on
        time.sleep(4.0)
        before = camera(url)
        time.sleep(3)
        after = camera(url)
        read = after["frames_read"] - before["frames_read"]
        assert read >= 20
        assert after["frames_skipped"] - before["frames_skipped"] >= 0.7 * read  # about 9 of 10 not sampled
        # the visitor stands at the table from about 9 s to 17 s: every frame is sampled
        deadline = time.monotonic() + 15
        while not camera(url)["open_tracks"] and time.monotonic() < deadline:
            time.sleep(0.2)
        busy_start = camera(url)
        time.sleep(4)
        busy_end = camera(url)
        read = busy_end["frames_read"] - busy_start["frames_read"]
        skipped = busy_end["frames_skipped"] - busy_start["frames_skipped"]
        assert read >= 30
        assert skipped <= 0.5 * read  # idle would skip about 0.9 of them; HOG misses a person now and then
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0

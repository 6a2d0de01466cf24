"""``retail-edge run`` as a store runs it: a real subprocess, real cameras (clips read at their own pace),
a real central, /healthz and /metrics, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from grpc_fixtures import free_port, running_ingest
from sqlalchemy import func, select

from central.db.engine import make_engine
from central.db.schema import cameras, track_summaries, zones
from central.stores import create_store
from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.config.loader import parse_agent_config

DEMO = Path(__file__).resolve().parents[3] / "edge_agent" / "config" / "demo.yaml"


def agent_config(tmp_path: Path, clip: Path, sync: dict[str, object] | None, **camera: object) -> Path:
    cfg = yaml.safe_load(DEMO.read_text())
    cfg["store_id"] = "s1"
    cam = cfg["cameras"][0]
    cam.update(id="cam1", source=str(clip), **camera)
    cfg["store"] = {"path": str(tmp_path / "edge.db")}
    cfg["runtime"] = {"flush_interval_s": 1, "health": {"port": 0}, "shutdown_sync_s": 10}
    if sync is not None:
        cfg["sync"] = sync
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parse_agent_config(path.read_text())  # the test's own config must be valid
    return path


@contextmanager
def agent_process(config: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if m := re.search(r"health on (http://[\d.]+:\d+)/healthz", line):
            url = m.group(1)
    if url is None:
        proc.kill()
        raise AssertionError(f"agent did not start: {proc.communicate(timeout=10)[1]}")
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def edge_rows(tmp_path: Path) -> list[tuple[str, float | None]]:
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        return conn.execute("SELECT track_id, synced_at FROM track_summaries").fetchall()


def central_ids(url: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(select(track_summaries.c.track_id)).scalars())
    engine.dispose()
    return ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_records_syncs_and_reports_health(tmp_path: Path, visitor_clip: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    (tmp_path / "token").write_text(create_store(engine, "s1"))
    port = free_port()
    sync = {"target": f"127.0.0.1:{port}", "token_file": str(tmp_path / "token"), "interval_s": 1, "heartbeat_s": 2}
    config = agent_config(tmp_path, visitor_clip, sync)
    with running_ingest(database_url, port=port), agent_process(config) as (proc, url):
        time.sleep(3)
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        assert health["status"] == "ok"
        assert health["cameras"]["cam1"]["connected"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert re.search(r'retail_edge_camera_fps\{camera="cam1"\} [1-9]', metrics), metrics
        packaged = BehaviorClassifier().model_version
        assert f'retail_edge_model_info{{kind="behavior",version="{packaged}"}} 1.0' in metrics
        assert re.search(r'retail_edge_model_runtime_info\{kind="detector",precision="fp32",runtime="opencv",', metrics)
        assert re.search(r"retail_edge_inference_seconds_total [0-9.]*[1-9]", metrics)
        shown = subprocess.run(
            [sys.executable, "-m", "edge_agent", "status", "--url", f"{url}/healthz"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert "cam1" in shown.stdout
        assert "connected" in shown.stdout
        assert "(fp32 on opencv)" in shown.stdout
        assert proc.wait(90) == 0  # the clip ends: the agent stops by itself, after a last sync
        recorded = edge_rows(tmp_path)
        assert recorded, "the visitor should have been summarised"
        assert all(synced is not None for _, synced in recorded)
        assert sorted(central_ids(database_url)) == sorted(tid for tid, _ in recorded)
        with sqlite3.connect(tmp_path / "edge.db") as edge:  # the camera was connected while the 22 s clip played
            up = edge.execute("SELECT camera_id, sum(seconds_up) FROM camera_uptime GROUP BY camera_id").fetchall()
        assert [camera for camera, _ in up] == ["cam1"]
        assert 15 <= up[0][1] <= 60, up
        with engine.connect() as conn:
            declared = conn.execute(select(cameras.c.declared)).scalar_one()
            zone_ids = list(conn.execute(select(zones.c.zone_id)).scalars())
        assert declared
        assert zone_ids == ["table"]
    engine.dispose()


def test_sigterm_closes_open_tracks_and_syncs_them(tmp_path: Path, visitor_clip: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    (tmp_path / "token").write_text(create_store(engine, "s1"))
    port = free_port()
    sync = {"target": f"127.0.0.1:{port}", "token_file": str(tmp_path / "token"), "interval_s": 30}
    config = agent_config(tmp_path, visitor_clip, sync, loop=True)
    with running_ingest(database_url, port=port), agent_process(config) as (proc, url):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the visitor is being tracked
            if httpx.get(f"{url}/healthz", timeout=5).json()["cameras"]["cam1"]["open_tracks"]:
                break
            time.sleep(0.5)
        else:
            pytest.fail("no track opened within 30 s")
        time.sleep(7)  # long enough to count as a visit (min_track_seconds 5), still standing at the table
        assert httpx.get(f"{url}/healthz", timeout=5).json()["cameras"]["cam1"]["open_tracks"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        recorded = edge_rows(tmp_path)
        assert recorded  # the open track was closed into a summary
        assert all(synced is not None for _, synced in recorded)  # and the last sync sent it
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(track_summaries)).scalar_one() == len(recorded)
    engine.dispose()

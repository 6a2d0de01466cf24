"""Cameras added and removed by editing the configuration and sending SIGHUP; a central outage mid-run."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from edge_summaries import edge_summaries
from grpc_fixtures import free_port, running_ingest
from sqlalchemy import select
from test_run import agent_config, agent_process

from central.db.engine import make_engine
from central.db.schema import track_summaries
from central.stores import create_store
from edge_agent.store.sqlite_store import EdgeStore


def health(url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()
    return result


def until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sighup_adds_and_removes_cameras(tmp_path: Path, visitor_clip: Path) -> None:
    config = agent_config(tmp_path, visitor_clip, None, loop=True)
    cfg = yaml.safe_load(config.read_text())
    with agent_process(config) as (proc, url):
        until(lambda: health(url)["cameras"]["cam1"]["frames_read"] > 5, "the first camera")
        cfg["cameras"].append({**cfg["cameras"][0], "id": "cam2"})
        config.write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        until(lambda: health(url)["cameras"].get("cam2", {}).get("frames_read", 0) > 5, "the added camera")
        config.write_text("cameras: [this is not valid\n")  # a broken edit is refused, the agent keeps running
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert set(health(url)["cameras"]) == {"cam1", "cam2"}
        cfg["cameras"] = cfg["cameras"][1:]
        config.write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        until(lambda: set(health(url)["cameras"]) == {"cam2"}, "the removed camera to go")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        _, err = proc.communicate(timeout=30)
    assert "configuration not applied" in err


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_central_stopped_mid_run_gets_everything_once(tmp_path: Path, visitor_clip: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    (tmp_path / "token").write_text(create_store(engine, "s1"))
    port = free_port()
    sync = {
        "target": f"127.0.0.1:{port}",
        "token_file": str(tmp_path / "token"),
        "interval_s": 0.2,
        "batch_size": 10,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 1.0,
    }
    config = agent_config(tmp_path, visitor_clip, sync, loop=True)
    with EdgeStore(tmp_path / "edge.db") as store:
        store.add_summaries(edge_summaries(300))
    with agent_process(config) as (proc, url):
        with running_ingest(database_url, port=port):
            until(lambda: health(url)["sync"].get("acknowledged", 0) >= 30, "the first pushes")
        until(lambda: "UNAVAILABLE" in health(url)["sync"]["last_error"], "the agent to notice the outage")
        time.sleep(2)  # central stays down a while; the agent keeps recording
        with running_ingest(database_url, port=port):
            until(lambda: health(url)["backlog"] == 0 and not health(url)["sync"]["last_error"], "the backlog")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        edge = {r[0] for r in conn.execute("SELECT track_id FROM track_summaries WHERE synced_at IS NOT NULL")}
        unsynced = conn.execute("SELECT count(*) FROM track_summaries WHERE synced_at IS NULL").fetchone()[0]
    with engine.connect() as conn:
        central = list(conn.execute(select(track_summaries.c.track_id)).scalars())
    assert unsynced == 0
    assert sorted(central) == sorted(edge)
    assert len(edge) >= 300
    engine.dispose()

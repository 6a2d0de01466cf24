"""The agent under real faults: killed with SIGKILL mid-sync, central unreachable, a full disk budget,
a configuration it cannot run."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from edge_summaries import edge_summaries
from grpc_fixtures import HOUR_START, free_port, running_ingest
from sqlalchemy import select
from test_run import agent_config, agent_process

from central.db.engine import make_engine
from central.db.schema import track_summaries
from central.stores import create_store
from edge_agent.store.sqlite_store import EdgeStore


def edge_ids(path: Path) -> tuple[set[str], int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT track_id, synced_at FROM track_summaries").fetchall()
    return {r[0] for r in rows}, sum(r[1] is None for r in rows)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, visitor_clip: Path, database_url: str
) -> None:
    engine = make_engine(database_url)
    (tmp_path / "token").write_text(create_store(engine, "s1"))
    port = free_port()
    sync = {
        "target": f"127.0.0.1:{port}",
        "token_file": str(tmp_path / "token"),
        "interval_s": 0.2,
        "batch_size": 3,  # many small pushes: kills land between a commit at central and the local mark
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5,
    }
    config = agent_config(tmp_path, visitor_clip, sync, loop=True)
    with EdgeStore(tmp_path / "edge.db") as store:
        store.add_summaries(edge_summaries(400))
    rng = random.Random(7)
    with running_ingest(database_url, port=port):
        for _ in range(4):
            with agent_process(config) as (proc, _url):
                time.sleep(rng.uniform(0.5, 3.0))
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
            ids, pending = edge_ids(tmp_path / "edge.db")
            assert len(ids) >= 400  # nothing recorded was lost
        with agent_process(config) as (proc, url):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and httpx.get(f"{url}/healthz", timeout=5).json()["backlog"]:
                time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
    ids, pending = edge_ids(tmp_path / "edge.db")
    assert pending == 0
    with engine.connect() as conn:
        at_central = list(conn.execute(select(track_summaries.c.track_id)).scalars())
    assert len(at_central) == len(set(at_central))  # the primary key would refuse a duplicate anyway
    assert set(at_central) == ids
    engine.dispose()


def test_an_unreachable_central_at_start_is_reported_and_data_kept(tmp_path: Path, visitor_clip: Path) -> None:
    (tmp_path / "token").write_text("s1." + "x" * 43)
    sync = {"target": f"127.0.0.1:{free_port()}", "token_file": str(tmp_path / "token"), "interval_s": 0.2}
    with EdgeStore(tmp_path / "edge.db") as store:
        store.add_summaries(edge_summaries(5))
    config = agent_config(tmp_path, visitor_clip, sync, loop=True)
    with agent_process(config) as (proc, url):
        deadline = time.monotonic() + 20
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        while not health["sync"]["last_error"] and time.monotonic() < deadline:
            time.sleep(0.2)
            health = httpx.get(f"{url}/healthz", timeout=5).json()
        assert health["status"] == "ok"  # the cameras keep running
        assert "UNAVAILABLE" in health["sync"]["last_error"]
        assert health["backlog"] == 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        _, err = proc.communicate(timeout=30)
    assert "last sync incomplete" in err
    assert edge_ids(tmp_path / "edge.db")[1] == 5  # kept for the next start


def test_the_disk_budget_deletes_synced_data_first_and_never_unsynced(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        summaries = edge_summaries(2000)
        store.add_summaries(summaries)
        synced = store.pending(1000, 0)
        store.mark_synced(synced, at=HOUR_START)
        full = store.used_bytes()
        result = store.purge(older_than=0, budget_bytes=full // 3)
        left, pending = edge_ids(tmp_path / "edge.db")
        assert pending == 1000  # every unsynced summary is still there
        assert result.deleted == 1000  # all synced ones went, oldest first, and it was not enough
        assert result.exhausted
        assert store.purge(older_than=0, budget_bytes=full * 2).exhausted is False
    assert left == {s.track_id for s in summaries[1000:]}


def test_the_agent_reports_an_exhausted_budget(tmp_path: Path, visitor_clip: Path) -> None:
    (tmp_path / "token").write_text("s1." + "x" * 43)
    sync = {"target": f"127.0.0.1:{free_port()}", "token_file": str(tmp_path / "token")}
    with EdgeStore(tmp_path / "edge.db") as store:
        store.add_summaries(edge_summaries(3000))
    config = agent_config(tmp_path, visitor_clip, sync, loop=True)
    text = config.read_text().replace("flush_interval_s: 1", "flush_interval_s: 1\n  disk_budget_mb: 0.1")
    config.write_text(text)
    with agent_process(config) as (proc, url):
        deadline = time.monotonic() + 20
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        while not health["budget_exhausted"] and time.monotonic() < deadline:  # the first housekeeping round
            time.sleep(0.2)
            health = httpx.get(f"{url}/healthz", timeout=5).json()
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        _, err = proc.communicate(timeout=30)
    assert health["budget_exhausted"]
    assert "retail_edge_disk_budget_exhausted 1.0" in metrics
    assert "disk budget of 0 MB exhausted by data not yet synced" in err
    assert edge_ids(tmp_path / "edge.db")[1] == 3000


def test_a_camera_of_unknown_type_is_refused_before_anything_starts(tmp_path: Path, visitor_clip: Path) -> None:
    config = agent_config(tmp_path, visitor_clip, None)
    config.write_text(config.read_text().replace(f"source: {visitor_clip}", "source: onvif://10.0.0.7/stream"))
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "cameras[0].source" in done.stderr
    assert "unknown camera source type 'onvif'" in done.stderr
    assert not (tmp_path / "edge.db").exists()

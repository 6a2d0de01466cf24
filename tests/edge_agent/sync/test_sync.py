"""Store-and-forward against a real central on 127.0.0.1: outages, lost acknowledgements, refused items."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from edge_summaries import edge_summary
from grpc_fixtures import HOUR_START, free_port, running_ingest
from sqlalchemy import func, select
from test_heartbeat import agent_status

from central.db.engine import make_engine
from central.db.schema import agents, heatmap_tiles, line_counts, track_summaries
from central.stores import create_store
from edge_agent.config.models import SyncConfig
from edge_agent.status import AgentStatus
from edge_agent.store.sqlite_store import EdgeStore
from edge_agent.sync.client import CentralClient, SyncSetupError
from edge_agent.sync.worker import SyncFailedError, SyncWorker
from retail_common.summary import HeatmapTile, LineCount


def central_count(url: str, table: object) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[arg-type]
    engine.dispose()
    return int(n)


def setup(tmp_path: Path, database_url: str, port: int, **sync: object) -> tuple[EdgeStore, SyncWorker]:
    engine = make_engine(database_url)
    token_file = tmp_path / "token"
    token_file.write_text(create_store(engine, "s1") + "\n")
    engine.dispose()
    config = SyncConfig(
        target=f"127.0.0.1:{port}",
        token_file=token_file,
        timeout_s=5,
        interval_s=0.1,
        backoff_initial_s=0.05,
        backoff_max_s=0.3,
        bucket_grace_s=0,
        **sync,  # type: ignore[arg-type]
    )
    store = EdgeStore(tmp_path / "edge.db")
    return store, SyncWorker(store, CentralClient(config), config, "s1", "edge-1")


def test_everything_arrives_exactly_once_across_a_central_outage(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    store, worker = setup(tmp_path, database_url, port, batch_size=7)
    store.add_summaries([edge_summary() for _ in range(30)])
    with running_ingest(database_url, port=port):
        assert worker.sync_once() == 30
    assert central_count(database_url, track_summaries) == 30

    # central is down: the agent keeps recording, pushes fail, nothing is marked
    store.add_summaries([edge_summary() for _ in range(20)])
    store.put_tiles([HeatmapTile("s1", "cam1", HOUR_START + 60 * i, 60, 2, 2, (0.0, 1.0, 2.0, 3.0)) for i in range(2)])
    store.put_line_counts([LineCount("s1", "cam1", "door", HOUR_START + 60 * i, 60, 3, 1) for i in range(2)])
    with pytest.raises(SyncFailedError, match="UNAVAILABLE"):
        worker.sync_once()
    assert store.backlog() == 24

    with running_ingest(database_url, port=port):
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 30
        while store.backlog() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(10)
        assert store.backlog() == 0
        # acknowledgements lost (the agent died before marking): everything is sent again, stored once
        store.conn.execute("UPDATE track_summaries SET synced_at = NULL")
        store.conn.commit()
        assert worker.sync_once() == 50
    assert central_count(database_url, track_summaries) == 50
    assert central_count(database_url, heatmap_tiles) == 2
    assert central_count(database_url, line_counts) == 2
    assert worker.status.last_error == ""
    store.close()


def test_refused_items_are_kept_with_the_reason_and_not_resent(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    store, worker = setup(tmp_path, database_url, port)
    store.add_summaries([edge_summary(), edge_summary(behavior="angry"), edge_summary()])
    with running_ingest(database_url, port=port):
        assert worker.sync_once() == 2
        assert worker.sync_once() == 0  # the refused one is not pushed again
    assert store.backlog() == 0
    assert store.rejected() == [
        (
            "track_summaries",
            "unknown behaviour 'angry' (known: decisive, disinterested, hesitant, interested, confused, frustrated)",
        )
    ]
    assert worker.status.rejected == 1
    assert central_count(database_url, track_summaries) == 2
    store.close()


def test_open_buckets_wait_until_they_end(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    store, worker = setup(tmp_path, database_url, port)
    now = time.time()
    store.put_line_counts([LineCount("s1", "cam1", "door", now - now % 60, 60, 1, 0)])  # this minute: still open
    with running_ingest(database_url, port=port):
        assert worker.sync_once() == 0
    assert store.backlog() == 1
    store.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_heartbeats_reach_central(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    store, worker = setup(tmp_path, database_url, port, heartbeat_s=60)

    def status() -> AgentStatus:  # what the agent reports: the sync worker's backlog, refreshed before each beat
        return agent_status(backlog=worker.status.backlog)

    worker.agent_status = status
    store.add_summaries([edge_summary()])
    with running_ingest(database_url, port=port):
        worker.heartbeat_if_due()
        worker.heartbeat_if_due()  # not due again for a minute
    engine = make_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(select(agents)).mappings().one()
    engine.dispose()
    assert (row["agent_id"], row["outbox_backlog"]) == ("edge-1", 1)
    store.close()


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SyncSetupError, match=r"cannot read the store token from .*absent"):
        CentralClient(SyncConfig(target="127.0.0.1:1", token_file=tmp_path / "absent"))

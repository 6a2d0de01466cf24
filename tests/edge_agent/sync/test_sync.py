"""Store-and-forward against a real central on 127.0.0.1: outages, lost acknowledgements, refused items."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from edge_summaries import edge_summary
from grpc_fixtures import HOUR_START, free_port, running_ingest
from retail_proto.v1 import edge_sync_pb2 as pb
from retail_proto.v1 import edge_sync_pb2_grpc as pb_grpc
from sqlalchemy import func, select
from test_heartbeat import agent_status

from central.db.engine import make_engine
from central.db.schema import agents, heatmap_tiles, line_counts, track_summaries, uptime_hourly
from central.ingest.convert import columns_in
from central.stores import create_store
from edge_agent.config.models import SyncConfig
from edge_agent.status import AgentStatus
from edge_agent.store.sqlite_store import EdgeStore
from edge_agent.sync.client import CentralClient, SyncSetupError
from edge_agent.sync.convert import summary_columns
from edge_agent.sync.worker import SyncFailedError, SyncWorker
from retail_common.summary import CameraUptime, HeatmapTile, LineCount, TrackSummary


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
def test_camera_uptime_reaches_central_and_a_later_merge_replaces_it(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    store, worker = setup(tmp_path, database_url, port)
    store.merge_uptimes(
        [CameraUptime("cam1", HOUR_START, 900, 600.0), CameraUptime("cam1", HOUR_START + 900, 900, 0.0)]
    )
    with running_ingest(database_url, port=port):
        assert worker.sync_once() == 2
        assert store.backlog() == 0
        # the agent restarted within the first bucket and saw 200 s more of it: sent again, with the sum
        store.merge_uptimes([CameraUptime("cam1", HOUR_START, 900, 200.0)])
        assert store.backlog() == 1
        assert worker.sync_once() == 1
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(select(uptime_hourly.c.hour, uptime_hourly.c.seconds_up)).all() == [(HOUR_START, 800.0)]
    engine.dispose()
    store.close()


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


class OneItemFails(pb_grpc.EdgeSyncServicer):
    """A proxy in front of a real central that makes central answer RETRY for one summary, every time, while
    it stores the rest of each push: what a central that cannot store one item alone answers."""

    def __init__(self, central_port: int, poison: str) -> None:
        self.central = pb_grpc.EdgeSyncStub(grpc.insecure_channel(f"127.0.0.1:{central_port}"))
        self.poison = poison
        self.refused = 0

    def Push(self, request: pb.PushRequest, context: grpc.ServicerContext) -> pb.PushAck:  # noqa: N802
        ids = list(request.summary_columns.track_id)
        if self.poison not in ids:
            return self.central.Push(request, metadata=context.invocation_metadata())
        self.refused += 1
        keep = [s for s in decoded(request.summary_columns) if s.track_id != self.poison]
        forwarded = pb.PushRequest(agent_id=request.agent_id, store_id=request.store_id, batch_id=request.batch_id)
        forwarded.summary_columns.CopyFrom(summary_columns(keep))
        ack = self.central.Push(forwarded, metadata=context.invocation_metadata())
        results = list(ack.results)
        results.insert(
            ids.index(self.poison),
            pb.ItemResult(kind=pb.ITEM_KIND_SUMMARY, key=self.poison, status=pb.ITEM_STATUS_RETRY,
                          reason="central could not store it: value too long for type character varying(128)"),
        )  # fmt: skip
        return pb.PushAck(batch_id=ack.batch_id, results=results)


def decoded(columns: pb.SummaryColumns) -> list[TrackSummary]:
    """The summaries of a push, read back with central's own converter."""
    c = columns_in(columns, "s1", time.time())
    return [
        TrackSummary(
            track_id=c.track_id[i], store_id="s1", camera_id=c.camera_id[i], start_time=float(c.start_ts[i]),
            end_time=float(c.end_ts[i]), path=tuple(tuple(p) for p in c.path(i).tolist()),
            distance_m=float(c.distance_m[i]), mean_speed_mps=float(c.mean_speed_mps[i]),
            max_speed_mps=float(c.max_speed_mps[i]), stop_count=int(c.stop_count[i]),
            zone_dwell={z: s for z, s, _ in c.zone_dwell[i]}, zone_visits={z: v for z, _, v in c.zone_dwell[i]},
            zone_order=tuple(c.zone_order[i]), detector_model=c.detector_model[i], behavior=c.behavior[i],
            behavior_probabilities=c.probabilities[i], behavior_model=c.behavior_model[i],
        )
        for i in range(len(c))
    ]  # fmt: skip


def test_an_item_central_keeps_failing_alone_is_set_aside_and_the_rest_moves_on(
    tmp_path: Path, database_url: str
) -> None:
    proxy_port = free_port()
    store, worker = setup(tmp_path, database_url, proxy_port, batch_size=3, max_item_retries=3, set_aside_s=600)
    summaries = [edge_summary(start=HOUR_START + 10 * i) for i in range(9)]
    store.add_summaries(summaries)
    poison = summaries[0].track_id  # the oldest: first in every push
    with running_ingest(database_url) as central:
        proxy = OneItemFails(central.port, poison)
        server = grpc.server(ThreadPoolExecutor(2))
        pb_grpc.add_EdgeSyncServicer_to_server(proxy, server)
        server.add_insecure_port(f"127.0.0.1:{proxy_port}")
        server.start()
        try:
            for _ in range(3):  # three pushes in a row fail that one item while storing the others
                with pytest.raises(SyncFailedError, match="value too long"):
                    worker.sync_once()
            assert worker.sync_once() == 9 - 1 - 2 * 3  # the rest moves on past it
        finally:
            server.stop(None)
    assert proxy.refused == 3
    assert central_count(database_url, track_summaries) == 8
    assert store.backlog() == 1  # kept, not lost
    later = store.pending(10, 0.0, now=time.time() + 601)
    assert [s.track_id for s in later.summaries] == [poison]  # tried again once set_aside_s has passed
    assert len(store.pending(10, 0.0)) == 0
    store.close()

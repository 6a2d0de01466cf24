"""The edge store: WAL, versioned schema, round trips, and refusing a schema from the future."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from edge_summaries import edge_summaries

from edge_agent.store import EdgeStore, StoreError
from edge_agent.store.migrations import SCHEMA_VERSION
from retail_common.summary import HeatmapTile, LineCount, TrackSummary


def make_summary(track_id: str = "0b7c1f4e-0000-4000-8000-000000000001") -> TrackSummary:
    return TrackSummary(
        track_id=track_id,
        store_id="s1",
        camera_id="cam",
        start_time=1_700_000_000.0,
        end_time=1_700_000_012.5,
        path=((0.0, 1.0, 2.0), (12.5, 3.0, 4.0)),
        distance_m=2.9,
        mean_speed_mps=0.23,
        max_speed_mps=1.1,
        stop_count=1,
        zone_dwell={"table": 9.5},
        zone_visits={"table": 1},
        zone_order=("table",),
        detector_model="opencv-hog/4.14.0",
    )


def test_round_trip_and_wal(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        store.add_summaries([make_summary()])
        store.add_summaries([make_summary()])  # the same UUID again is stored once
        assert [s.track_id for s in store.summaries()] == [make_summary().track_id]
        assert next(store.summaries()) == make_summary()
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert store.schema_version == SCHEMA_VERSION


def test_tiles_and_counts_are_replaced_per_bucket(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        tile = HeatmapTile("s1", "cam", 900.0, 900, 1, 2, (1.0, 2.0))
        store.put_tiles([tile])
        store.put_tiles([HeatmapTile("s1", "cam", 900.0, 900, 1, 2, (3.0, 4.0))])
        store.put_line_counts([LineCount("s1", "cam", "door", 900.0, 900, 2, 1)])
        store.put_line_counts([LineCount("s1", "cam", "door", 900.0, 900, 5, 3)])
        assert store.count("heatmap_tiles") == 1
        assert store.count("line_counts") == 1
        row = next(store.db.table("line_counts").rows)
        assert (row["in_count"], row["out_count"]) == (5, 3)


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with EdgeStore(path) as store:
        store.add_summaries([make_summary()])
    with EdgeStore(path) as store:
        assert store.count("track_summaries") == 1


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with EdgeStore(path) as store:
        store.add_summaries([make_summary()])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this agent"):
        EdgeStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM track_summaries").fetchone()[0] == 1


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open edge store"):
        EdgeStore(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end_time": 1.0}, "before start_time"),
        ({"path": tuple((float(i), 0.0, 0.0) for i in range(65))}, "at most 64"),
        ({"distance_m": float("nan")}, "finite"),
    ],
)
def test_summary_validation(change: dict[str, object], message: str) -> None:
    fields = {**make_summary().__dict__, **change}
    with pytest.raises(ValueError, match=message):
        TrackSummary(**fields)  # type: ignore[arg-type]


def test_buckets_flushed_twice_are_added_up_until_synced(tmp_path: Path) -> None:
    """An agent restarted within a bucket stores the bucket twice: the counts add up, not replace."""
    with EdgeStore(tmp_path / "edge.db") as store:
        store.merge_tiles([HeatmapTile("s", "cam", 600.0, 60, 1, 2, (1.0, 2.0))])
        store.merge_tiles([HeatmapTile("s", "cam", 600.0, 60, 1, 2, (0.5, 0.5))])
        store.merge_line_counts([LineCount("s", "cam", "door", 600.0, 60, 2, 1)])
        store.merge_line_counts([LineCount("s", "cam", "door", 600.0, 60, 1, 0)])
        pending = store.pending(10, buckets_ended_before=1000.0)
        assert [t.person_seconds for t in pending.tiles] == [(1.5, 2.5)]
        assert [(c.in_count, c.out_count) for c in pending.line_counts] == [(3, 1)]
        assert len(store.pending(10, buckets_ended_before=650.0)) == 0  # the bucket has not ended by then


def test_retention_deletes_old_synced_data_only(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        old = edge_summaries(4)
        store.add_summaries(old)
        store.mark_synced(store.pending(2, 0.0))
        cutoff = max(s.end_time for s in old) + 1
        result = store.purge(older_than=cutoff, budget_bytes=10**9)
        assert result.deleted == 2
        assert store.backlog() == 2  # the two unsynced ones stay, however old
        assert store.purge(older_than=cutoff, budget_bytes=10**9, unsynced_too=True).deleted == 2


def test_late_data_never_overwrites_a_bucket_already_sent(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        store.merge_line_counts([LineCount("s", "cam", "door", 600.0, 60, 2, 1)])
        store.mark_synced(store.pending(10, buckets_ended_before=1000.0))
        store.merge_line_counts([LineCount("s", "cam", "door", 600.0, 60, 1, 0)])  # a late frame
        assert store.backlog() == 0
        row = store.conn.execute("SELECT in_count, out_count, synced_at FROM line_counts").fetchone()
        assert row[:2] == (2, 1)
        assert row[2] is not None


def test_refused_items_age_out_with_the_retention(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "edge.db") as store:
        old = edge_summaries(2)
        store.add_summaries(old)
        store.mark_rejected(store.pending(1, 0.0), ["refused"])
        assert store.purge(older_than=max(s.end_time for s in old) + 1, budget_bytes=10**9).deleted == 1
        assert store.backlog() == 1

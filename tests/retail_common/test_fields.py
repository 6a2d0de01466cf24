"""The summary's field table is the one declaration every converter follows: a field that one side forgets
to carry, or carries into a column that cannot hold it, fails here."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path

import numpy as np
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import Integer, String

from central.api.models import TrackOut
from central.db import paths
from central.db.schema import CENTRAL_SUMMARY_COLUMNS, track_summaries
from central.ingest.convert import columns_in
from edge_agent.store.sqlite_store import EdgeStore
from edge_agent.sync.convert import summary_columns
from retail_common.fields import INT32_MAX, SUMMARY_FIELDS, Kind
from retail_common.summary import TrackSummary

START = 1_760_000_000.123456


def full_summary() -> TrackSummary:
    """A summary in which every field holds something other than its default."""
    return TrackSummary(
        track_id=str(uuid.uuid4()),
        store_id="store-7",
        camera_id="cam.entrance",
        start_time=START,
        end_time=START + 42.5,
        path=((0.0, 1.0, 2.0), (20.25, 3.5, 4.0), (42.5, 5.0, 6.25)),
        distance_m=7.5,
        mean_speed_mps=0.25,
        max_speed_mps=1.5,
        stop_count=3,
        zone_dwell={"till": 12.5, "bakery": 4.0},
        zone_visits={"till": 2, "bakery": 1},
        zone_order=("bakery", "till"),
        detector_model="person-yolov8s/3",
        behavior="hesitant",
        behavior_probabilities={"hesitant": 0.75, "confused": 0.25},
        behavior_model="behavior-classifier/4",
    )


def test_the_table_names_every_field_of_the_summary_once() -> None:
    names = [f.name for f in SUMMARY_FIELDS]
    assert len(names) == len(set(names))
    assert set(names) == {f.name for f in dataclasses.fields(TrackSummary)}


def test_every_proto_column_belongs_to_one_field() -> None:
    proto = [f.name for f in pb.SummaryColumns.DESCRIPTOR.fields]
    carried = [column for f in SUMMARY_FIELDS for column in f.proto]
    assert sorted(carried) == sorted(proto)


def test_centrals_columns_are_the_tables_and_can_hold_what_it_allows() -> None:
    columns = {c.name: c for c in track_summaries.columns}
    assert set(columns) == {f.sql for f in SUMMARY_FIELDS} | set(CENTRAL_SUMMARY_COLUMNS)
    for f in SUMMARY_FIELDS:
        column = columns[f.sql]
        assert column.nullable == f.nullable, f.name
        if f.max_length is not None:
            assert isinstance(column.type, String), f.name
            assert column.type.length == f.max_length, f.name
        if f.kind is Kind.COUNT:
            assert isinstance(column.type, Integer), f.name
            assert f.maximum is not None
            assert f.maximum <= INT32_MAX, f.name  # the narrowest integer column of both databases


def test_the_rest_api_shows_every_stored_field() -> None:
    assert {f.sql for f in SUMMARY_FIELDS} <= set(TrackOut.model_fields)


def test_the_agents_store_keeps_every_field(tmp_path: Path) -> None:
    sent = full_summary()
    store = EdgeStore(tmp_path / "edge.db")
    store.add_summaries([sent])
    assert list(store.summaries()) == [sent]
    store.close()


def test_every_field_crosses_from_the_agent_to_centrals_row() -> None:
    sent = full_summary()
    received = columns_in(summary_columns([sent]), sent.store_id, time.time())
    row = received.row(0)
    expected = {
        "track_id": sent.track_id,
        "store_id": sent.store_id,
        "camera_id": sent.camera_id,
        "start_ts": sent.start_time,
        "end_ts": sent.end_time,
        "distance_m": sent.distance_m,
        "mean_speed_mps": sent.mean_speed_mps,
        "max_speed_mps": sent.max_speed_mps,
        "stop_count": sent.stop_count,
        "behavior": sent.behavior,
        "probabilities": sent.behavior_probabilities,
        "zone_dwell": [[z, s, sent.zone_visits[z]] for z, s in sent.zone_dwell.items()],
        "zone_order": list(sent.zone_order),
        "path": [list(p) for p in sent.path],
        "detector_model": sent.detector_model,
        "behavior_model": sent.behavior_model,
    }
    got = {f.sql: row[f.sql] for f in SUMMARY_FIELDS}
    for name in ("probabilities", "zone_dwell", "zone_order"):
        got[name] = json.loads(got[name])
    got["path"] = paths.unpack(got["path"]).tolist()
    assert got == expected
    assert np.isclose(row["dwell_s"], 42.5)
    assert row["behavior_confidence"] == 0.75  # the probability of the label it was given

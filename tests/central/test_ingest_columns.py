"""Summaries pushed as columns (the form agents send): stored with the values and key they were sent with, each
bad one rejected alone, a torn push refused whole."""

from __future__ import annotations

import json

import grpc
import pytest
from grpc_fixtures import HOUR_START, auth, columns_of, push, running_ingest, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import select

from central.db.engine import make_engine
from central.db.schema import track_summaries, written_columns
from central.stores import create_store

STORED, DUPLICATE, REJECTED = pb.ITEM_STATUS_STORED, pb.ITEM_STATUS_DUPLICATE, pb.ITEM_STATUS_REJECTED


def stored_rows(url: str) -> dict[str, dict[str, object]]:
    engine = make_engine(url)
    names = [c.name for c in written_columns(track_summaries) if c.name not in ("track_id", "received_at")]
    with engine.connect() as conn:
        rows = conn.execute(select(track_summaries)).mappings().all()
    engine.dispose()
    return {str(r["track_id"]): {n: r[n] for n in names} for r in rows}


def test_columns_are_stored_as_sent_and_keep_their_key(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    kinds = [summary("s1", seconds=31.5 + i, behavior=b) for i, b in enumerate(["interested", "", "confused"])]
    kinds.append(summary("s1", zones=(("z1", 5.0, 2), ("till", 3.25, 1)), path_points=64))
    kinds.append(summary("s1", zones=(), path_points=0))
    # an agent's times are doubles, finer than a millisecond: a resend must find the same key
    starts = [HOUR_START + 60.123456789 + 7.3 * i for i in range(len(kinds))]
    for s, start in zip(kinds, starts, strict=True):
        s.start_time, s.end_time = start, start + 45.2
    with running_ingest(database_url) as central:
        client = stub(central.port)
        first = client.Push(push("s1", kinds), metadata=auth(token))
        resent = client.Push(push("s1", kinds), metadata=auth(token))
    assert [r.status for r in first.results] == [STORED] * len(kinds)
    assert [r.key for r in first.results] == [s.track_id for s in kinds]
    assert [r.status for r in resent.results] == [DUPLICATE] * len(kinds)
    rows = stored_rows(database_url)
    assert len(rows) == len(kinds)
    for s in kinds:
        row = rows[s.track_id]
        assert (row["start_ts"], row["end_ts"]) == (s.start_time, s.end_time)
        assert json.loads(str(row["zone_dwell"])) == [
            [z, seconds, s.zone_visits[z]] for z, seconds in s.zone_dwell.items()
        ]
    engine.dispose()


def test_bad_summaries_in_columns_are_rejected_alone(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    good = [summary("s1"), summary("s1")]
    angry = summary("s1", behavior="angry")
    long_path = summary("s1", path_points=65)
    with running_ingest(database_url) as central:
        ack = stub(central.port).Push(push("s1", [good[0], angry, long_path, good[1]]), metadata=auth(token))
    statuses = [r.status for r in ack.results]
    assert statuses == [STORED, REJECTED, REJECTED, STORED]
    assert "unknown behaviour 'angry'" in ack.results[1].reason
    assert "path has 65 points" in ack.results[2].reason
    assert set(stored_rows(database_url)) == {good[0].track_id, good[1].track_id}
    engine.dispose()


@pytest.mark.parametrize(
    ("tear", "named"),
    [
        (lambda c: c.camera_id.pop(), "camera_id has 1 entries for 2 summaries"),
        (lambda c: c.path_t.append(1.0), "path_t has 17 and path_xy 32 values where path_points makes 16"),
        (lambda c: c.zone_visits.pop(), "zone_visits has 1 entries where zone_dwell_count makes 2"),
        (lambda c: c.probabilities.pop(), "probabilities has 11 values, not 2 summaries x 6 labels"),
        (lambda c: c.probability_labels.append("decisive"), "name a label twice"),
    ],
)
def test_a_torn_push_is_refused_whole_with_the_column_named(database_url: str, tear: object, named: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    request = pb.PushRequest(store_id="s1", summary_columns=columns_of([summary("s1"), summary("s1")]))
    tear(request.summary_columns)  # type: ignore[operator]
    with running_ingest(database_url) as central, pytest.raises(grpc.RpcError) as refused:
        stub(central.port).Push(request, metadata=auth(token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in str(refused.value.details())
    assert stored_rows(database_url) == {}
    engine.dispose()


def test_summaries_in_the_retired_message_form_are_refused_not_ignored(database_url: str) -> None:
    """Field 4 (TrackSummary messages) is reserved: an agent still sending it must hear so, not get an
    acknowledgement that says nothing of its summaries."""
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    retired = bytes([0x22, 0x04, 0x0A, 0x02, 0x74, 0x31])  # field 4, a message holding track_id "t1"
    raw = push("s1", [summary("s1")]).SerializeToString() + retired
    with running_ingest(database_url) as central:
        channel = grpc.insecure_channel(f"127.0.0.1:{central.port}")
        send = channel.unary_unary(
            "/retail_proto.v1.EdgeSync/Push",
            request_serializer=lambda b: b,
            response_deserializer=pb.PushAck.FromString,
        )
        with pytest.raises(grpc.RpcError) as refused:
            send(raw, metadata=auth(token), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PushRequest field 4" in str(refused.value.details())
    assert "upgrade the agent" in str(refused.value.details())
    assert stored_rows(database_url) == {}
    engine.dispose()

"""A real gRPC client pushes to a real central ingest on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from grpc_fixtures import HOUR_START, auth, columns_of, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import func, select

from central.db import paths
from central.db.engine import make_engine
from central.db.schema import agent_heartbeats, agents, heatmap_daily, line_hourly, track_summaries, traffic_hourly
from central.stores import create_store, rotate_token

STORED, DUPLICATE, REJECTED = pb.ITEM_STATUS_STORED, pb.ITEM_STATUS_DUPLICATE, pb.ITEM_STATUS_REJECTED


def count(url: str, table: object) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[arg-type]
    engine.dispose()
    return int(n)


def camera_row(url: str, store: str, zone: str = "") -> dict[str, float]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(traffic_hourly).where(traffic_hourly.c.store_id == store, traffic_hourly.c.zone_id == zone)
        ).mappings()
        out: dict[str, float] = {}
        for row in rows:
            for k, v in row.items():
                if isinstance(v, int | float) and k != "hour":
                    out[k] = out.get(k, 0) + v
    engine.dispose()
    return out


def test_a_batch_sent_twice_is_stored_once_with_its_rollups(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url) as central:
        client = stub(central.port)
        batch = push("s1", [summary("s1", seconds=20 + i) for i in range(40)])
        first = client.Push(batch, metadata=auth(token))
        again = client.Push(batch, metadata=auth(token))
    assert [r.status for r in first.results] == [STORED] * 40
    assert [r.status for r in again.results] == [DUPLICATE] * 40
    assert [r.key for r in first.results] == list(batch.summary_columns.track_id)
    assert count(database_url, track_summaries) == 40
    cam = camera_row(database_url, "s1")
    assert cam["visits"] == 40
    assert cam["dwell_s"] == pytest.approx(sum(20 + i for i in range(40)), abs=1e-3)
    assert cam["n_interested"] == 40
    assert cam["dwell_under_30s"] == 10
    assert cam["dwell_30s_2m"] == 30
    assert camera_row(database_url, "s1", "z1")["visits"] == 40
    engine.dispose()


def test_bad_items_are_rejected_alone_with_a_reason(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    good = summary("s1")
    now = time.time()
    bad = {
        "end before start": summary("s1", seconds=-5),
        "in the future": summary("s1", start=now + 3 * 86400),
        "unknown behaviour": summary("s1", behavior="angry"),
        "path over 64 points": summary("s1", path_points=65),
        "not a UUID": summary("s1", track_id="person-42"),
    }
    negative = summary("s1")
    negative.distance_m = -1.0
    bad["negative distance"] = negative
    with running_ingest(database_url) as central:
        ack = stub(central.port).Push(push("s1", [good, *bad.values()]), metadata=auth(token))
    results = {r.key: r for r in ack.results}
    assert results[good.track_id].status == STORED
    reasons = {what: results[s.track_id] for what, s in bad.items()}
    assert all(r.status == REJECTED for r in reasons.values())
    assert "before start_time" in reasons["end before start"].reason
    assert "in the future" in reasons["in the future"].reason
    assert "unknown behaviour 'angry'" in reasons["unknown behaviour"].reason
    assert "65 points (at most 64)" in reasons["path over 64 points"].reason
    assert "not a UUID" in reasons["not a UUID"].reason
    assert "negative" in reasons["negative distance"].reason
    assert count(database_url, track_summaries) == 1
    engine.dispose()


def test_values_no_column_can_hold_are_rejected_alone_before_the_transaction(database_url: str) -> None:
    """What the database would refuse (PostgreSQL does, SQLite would store it) is refused per item with a reason,
    so that it never turns the whole push into RETRY."""
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    fine = summary("s1")
    bad = {
        "visits beyond a 32-bit column": summary("s1"),
        "long model name": summary("s1"),
        "NUL in a model name": summary("s1"),
        "newline after an id": summary("s1", camera_id="cam1\n"),
        "zone id with a newline": summary("s1", zones=[("z1\n", 5.0, 1)]),
    }
    bad["long model name"].detector_model = "m" * 120 + "@" + "ab" * 8
    bad["NUL in a model name"].behavior_model = "behavior\x00classifier/2"
    columns = columns_of([*bad.values(), fine])
    columns.zone_visits[0] = 2**31  # the first summary's one zone
    with running_ingest(database_url) as central:
        ack = stub(central.port).Push(pb.PushRequest(store_id="s1", summary_columns=columns), metadata=auth(token))
    results = {r.key: r for r in ack.results}
    reasons = {what: results[s.track_id] for what, s in bad.items()}
    assert all(r.status == REJECTED for r in reasons.values()), reasons
    assert "2147483648 visits (1 to 676 in a 45 s track)" in reasons["visits beyond a 32-bit column"].reason
    assert "detector_model has 137 characters (at most 128)" in reasons["long model name"].reason
    assert "behavior_model" in reasons["NUL in a model name"].reason
    assert "camera_id 'cam1\\n'" in reasons["newline after an id"].reason
    assert "zone_id 'z1\\n'" in reasons["zone id with a newline"].reason
    assert results[fine.track_id].status == STORED
    assert count(database_url, track_summaries) == 1
    engine.dispose()


def test_a_path_is_stored_as_the_agent_sent_it(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    sent = summary("s1", path_points=5, seconds=30.0)
    with running_ingest(database_url) as central:
        ack = stub(central.port).Push(push("s1", [sent]), metadata=auth(token))
    assert [r.status for r in ack.results] == [STORED]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(track_summaries.c.track_id, track_summaries.c.path)).all())
    assert paths.readable(stored[sent.track_id]) == [[6.0 * i, 0.5 * i, 1.0] for i in range(5)]
    engine.dispose()


def test_zones_and_lines_declared_by_a_heartbeat_are_enforced(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    heartbeat = pb.AgentHeartbeat(
        agent_id="agent-s1",
        store_id="s1",
        sent_at=stamp(time.time()),
        agent_version="0.1.0",
        models=[pb.ModelVersion(name="behavior-classifier", version="2", sha256="ab" * 32)],
        cameras=[
            pb.CameraStatus(camera_id="cam1", fps=9.5, connected=True, zone_ids=["z1", "till"], line_ids=["door"])
        ],
        outbox_backlog=12,
    )
    known = summary("s1", zones=[("till", 30.0, 1)])
    unknown = summary("s1", zones=[("stockroom", 30.0, 1)])
    counts = [
        pb.LineCount(store_id="s1", camera_id="cam1", line_id=line, bucket_start=stamp(HOUR_START), bucket_seconds=60)
        for line in ("door", "window")
    ]
    with running_ingest(database_url, heartbeat_history=3) as central:
        client = stub(central.port)
        for _ in range(5):
            client.Heartbeat(heartbeat, metadata=auth(token))
        ack = client.Push(push("s1", [known, unknown], line_counts=counts), metadata=auth(token))
    status = [(r.status, r.reason) for r in ack.results]
    assert status[0] == (STORED, "")
    assert status[1][0] == REJECTED
    assert "unknown zone 'stockroom'" in status[1][1]
    assert status[2] == (STORED, "")
    assert status[3][0] == REJECTED
    assert "unknown line 'window'" in status[3][1]
    with engine.connect() as conn:
        agent = conn.execute(select(agents)).mappings().one()
        history = conn.execute(select(func.count()).select_from(agent_heartbeats)).scalar_one()
    assert agent["outbox_backlog"] == 12
    assert "9.5" in agent["cameras"]
    assert history == 3
    engine.dispose()


def test_tiles_and_line_counts_roll_up_once(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    grid = np.arange(6, dtype=np.float32)
    tiles = [
        pb.HeatmapTile(
            store_id="s1",
            camera_id="cam1",
            bucket_start=stamp(HOUR_START + 60 * i),
            bucket_seconds=60,
            rows=2,
            cols=3,
            person_seconds=grid.tolist(),
        )
        for i in range(3)
    ]
    counts = [
        pb.LineCount(
            store_id="s1",
            camera_id="cam1",
            line_id="door",
            bucket_start=stamp(HOUR_START + 60 * i),
            bucket_seconds=60,
            in_count=2,
            out_count=1,
        )
        for i in range(3)
    ]
    bad_tile = pb.HeatmapTile(
        store_id="s1", camera_id="cam1", bucket_start=stamp(HOUR_START), bucket_seconds=60, rows=2, cols=3
    )
    with running_ingest(database_url) as central:
        client = stub(central.port)
        first = client.Push(push("s1", tiles=[*tiles, bad_tile], line_counts=counts), metadata=auth(token))
        again = client.Push(push("s1", tiles=tiles, line_counts=counts), metadata=auth(token))
    assert [r.status for r in first.results] == [STORED] * 3 + [REJECTED] + [STORED] * 3
    assert "0 values for a 2x3 grid" in first.results[3].reason
    assert {r.status for r in again.results} == {DUPLICATE}
    assert first.results[0].key.startswith("cam1/")
    with engine.connect() as conn:
        day = conn.execute(select(heatmap_daily)).mappings().one()
        line = conn.execute(select(line_hourly)).mappings().one()
    np.testing.assert_allclose(np.frombuffer(day["cells"], np.float32).reshape(2, 3), 3 * grid.reshape(2, 3))
    assert (line["in_count"], line["out_count"]) == (6, 3)
    engine.dispose()


def test_token_rules(database_url: str) -> None:
    engine = make_engine(database_url)
    token_a = create_store(engine, "store-a")
    create_store(engine, "store-b")
    with running_ingest(database_url) as central:
        client = stub(central.port)
        request = push("store-b", [summary("store-b")])
        for metadata, code, words in (
            ([], grpc.StatusCode.UNAUTHENTICATED, "missing store token"),
            (auth("store-b." + "x" * 43), grpc.StatusCode.UNAUTHENTICATED, "invalid store token"),
            (auth(token_a), grpc.StatusCode.PERMISSION_DENIED, "store 'store-a' cannot act for store 'store-b'"),
        ):
            with pytest.raises(grpc.RpcError) as err:
                client.Push(request, metadata=metadata)
            assert err.value.code() == code
            assert words in (err.value.details() or "")
        assert client.Push(push("store-a", [summary("store-a")]), metadata=auth(token_a)).results[0].status == STORED
        new_a = rotate_token(engine, "store-a")
        with pytest.raises(grpc.RpcError) as err:
            client.Push(push("store-a", [summary("store-a")]), metadata=auth(token_a))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert client.Push(push("store-a", [summary("store-a")]), metadata=auth(new_a)).results[0].status == STORED
    engine.dispose()


def test_an_oversized_batch_is_refused_whole(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    with running_ingest(database_url, limits={"max_items": 10}) as central, pytest.raises(grpc.RpcError) as err:
        stub(central.port).Push(push("s1", [summary("s1") for _ in range(11)]), metadata=auth(token))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "11 items" in (err.value.details() or "")
    assert count(database_url, track_summaries) == 0
    engine.dispose()


def test_a_track_resent_under_another_start_time_is_one_visit(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    first = summary("s1", start=HOUR_START + 60)
    moved = summary("s1", start=HOUR_START + 75, track_id=first.track_id)  # its clock was stepped 15 s
    twin = summary("s1", start=HOUR_START + 300)
    twin_moved = summary("s1", start=HOUR_START + 301, track_id=twin.track_id)
    with running_ingest(database_url) as central:
        client = stub(central.port)
        stored = client.Push(push("s1", [first]), metadata=auth(token))
        again = client.Push(push("s1", [moved, first, twin, twin_moved]), metadata=auth(token))
    assert [r.status for r in stored.results] == [STORED]
    assert [r.status for r in again.results] == [REJECTED, DUPLICATE, STORED, REJECTED]
    assert "is already stored with start time" in again.results[0].reason
    assert "is earlier in this push with start time" in again.results[3].reason
    assert count(database_url, track_summaries) == 2
    assert camera_row(database_url, "s1", "")["visits"] == 2  # one visit each, not four
    engine.dispose()


def test_a_unary_call_carrying_two_messages_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    one = push("s1", [summary("s1")]).SerializeToString()
    with running_ingest(database_url) as central:
        channel = grpc.insecure_channel(f"127.0.0.1:{central.port}")
        send = channel.stream_unary("/retail_proto.v1.EdgeSync/Push", request_serializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as refused:
            send(iter([one, one]), metadata=auth(token), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected one request message, got more" in str(refused.value.details())
    assert count(database_url, track_summaries) == 0
    engine.dispose()

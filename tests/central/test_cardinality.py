"""Bounded cardinality: no push can give a store endless cameras, zones or lines, and no REST response can
grow without end. Real gRPC ingest and real uvicorn on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from api_server import running
from grpc_fixtures import HOUR_START, auth, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import Engine, func, select

from central.api.app import create_app
from central.api.deps import ApiSettings
from central.api.keys import create_api_key
from central.auth import Role
from central.config import CardinalityLimits, ResponseLimits
from central.db.engine import make_engine
from central.db.schema import cameras, traffic_hourly, zones
from central.live import LiveFeed
from central.stores import create_store

STORED, REJECTED = pb.ITEM_STATUS_STORED, pb.ITEM_STATUS_REJECTED


def _count(engine: Engine, table: Any, store_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(table.c.store_id == store_id)).scalar())


def _line_count(store_id: str, camera_id: str, line_id: str) -> pb.LineCount:
    return pb.LineCount(
        store_id=store_id, camera_id=camera_id, line_id=line_id, bucket_start=stamp(HOUR_START), bucket_seconds=60
    )


def test_a_push_of_too_many_zone_ids_is_rejected_while_another_store_is_stored(database_url: str) -> None:
    engine = make_engine(database_url)
    hostile, neighbour = create_store(engine, "hostile"), create_store(engine, "neighbour")
    # 400 summaries of one camera, each naming zones no agent declared: 1,200 distinct zone ids
    flood = [
        summary("hostile", start=HOUR_START + i, zones=[(f"z{3 * i + k}", 5.0, 1) for k in range(3)])
        for i in range(400)
    ]
    calm = [summary("neighbour", start=HOUR_START + i) for i in range(200)]
    limits = CardinalityLimits(max_zones_per_camera=30)
    with running_ingest(database_url, cardinality=limits) as central, ThreadPoolExecutor(2) as pool:
        client = stub(central.port)
        hostile_ack = pool.submit(client.Push, push("hostile", flood), metadata=auth(hostile))
        neighbour_ack = pool.submit(client.Push, push("neighbour", calm), metadata=auth(neighbour))
        hostile_results, neighbour_results = hostile_ack.result(60).results, neighbour_ack.result(60).results
        # a later push of the hostile store with the zones it already has is stored
        again = client.Push(push("hostile", [summary("hostile", zones=[("z0", 5.0, 1)])]), metadata=auth(hostile))
    assert [r.status for r in neighbour_results] == [STORED] * 200
    assert [r.status for r in hostile_results] == [STORED] * 10 + [REJECTED] * 390
    reason = hostile_results[10].reason
    assert "at most 30 learned zones per camera (cardinality.max_zones_per_camera)" in reason
    assert "'z30'" in reason
    assert [r.status for r in again.results] == [STORED]
    assert _count(engine, zones, "hostile") == 30
    with engine.connect() as conn:
        series = conn.execute(
            select(func.count(func.distinct(traffic_hourly.c.zone_id))).where(traffic_hourly.c.store_id == "hostile")
        ).scalar()
    assert series == 31  # the 30 zones and the whole camera view
    engine.dispose()


def test_the_camera_past_the_store_maximum_is_rejected(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    limits = CardinalityLimits(max_cameras_per_store=3, max_lines_per_camera=2)
    with running_ingest(database_url, cardinality=limits) as central:
        client = stub(central.port)
        first = client.Push(push("s1", [summary("s1", camera_id=f"cam{i}") for i in range(1, 5)]), metadata=auth(token))
        counts = [_line_count("s1", "cam5", "door"), *(_line_count("s1", "cam1", f"line{i}") for i in range(3))]
        tile = pb.HeatmapTile(
            store_id="s1", camera_id="cam6", bucket_start=stamp(HOUR_START), bucket_seconds=60, rows=1, cols=1
        )
        tile.person_seconds.append(1.0)
        second = client.Push(
            push("s1", [summary("s1", camera_id="cam2")], line_counts=counts, tiles=[tile]), metadata=auth(token)
        )
    assert [r.status for r in first.results] == [STORED, STORED, STORED, REJECTED]
    assert "camera 'cam4' would be store 's1''s camera number 4" in first.results[3].reason
    assert "(cardinality.max_cameras_per_store)" in first.results[3].reason
    # results: the summary, the tile, then the line counts
    assert [r.status for r in second.results] == [STORED, REJECTED, REJECTED, STORED, STORED, REJECTED]
    assert "camera 'cam6'" in second.results[1].reason
    assert "camera 'cam5'" in second.results[2].reason
    assert "(cardinality.max_lines_per_camera)" in second.results[5].reason
    assert _count(engine, cameras, "s1") == 3
    engine.dispose()


def test_a_declared_layout_bounds_its_camera_instead_of_the_learned_maximum(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    declared = [f"aisle{i}" for i in range(6)]
    heartbeat = pb.AgentHeartbeat(
        agent_id="agent-s1",
        store_id="s1",
        sent_at=stamp(time.time()),
        agent_version="0.1.0",
        cameras=[pb.CameraStatus(camera_id="cam1", fps=10.0, connected=True, zone_ids=declared)],
    )
    many = summary("s1", zones=[(z, 2.0, 1) for z in declared])
    crowded = summary("s1", camera_id="cam2", zones=[(f"z{i}", 1.0, 1) for i in range(5)])
    limits = CardinalityLimits(max_zones_per_camera=4, max_zone_entries_per_summary=6)
    with running_ingest(database_url, cardinality=limits) as central:
        client = stub(central.port)
        client.Heartbeat(heartbeat, metadata=auth(token))
        ack = client.Push(push("s1", [many, crowded]), metadata=auth(token))
        too_long = summary("s1", camera_id="cam3", zones=[(f"q{i}", 1.0, 1) for i in range(7)])
        second = client.Push(push("s1", [too_long]), metadata=auth(token))
    assert [r.status for r in ack.results] == [STORED, REJECTED]
    assert "(cardinality.max_zones_per_camera)" in ack.results[1].reason
    assert second.results[0].status == REJECTED
    assert "7 zone_dwell entries: at most 6 per summary" in second.results[0].reason
    engine.dispose()


def test_a_response_past_the_bound_is_refused_saying_how_to_narrow_it(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    # 3 cameras with 4 zones and 3 lines each: 12 zone series, 9 line series
    tracks = [
        summary("s1", camera_id=f"cam{c}", start=HOUR_START + 60 * z, zones=[(f"zone{z}", 10.0, 1)])
        for c in range(3)
        for z in range(4)
    ]
    counts = [_line_count("s1", f"cam{c}", f"line{n}") for c in range(3) for n in range(3)]
    with running_ingest(database_url) as central:
        ack = stub(central.port).Push(push("s1", tracks, line_counts=counts), metadata=auth(token))
    assert {r.status for r in ack.results} == {STORED}
    key = create_api_key(engine, "dashboard", Role.VIEWER)
    settings = ApiSettings(responses=ResponseLimits(max_points=1000, max_layout_ids=20))
    with running(create_app(engine, LiveFeed(), settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        headers = {"Authorization": f"Bearer {key}"}

        def get(path: str, **params: str) -> httpx.Response:
            return client.get(f"/api/v1/stores{path}", params=params, headers=headers)

        # the last 7 days by hour: 12 zones x 168 or 169 hours
        refused = get("/s1/traffic", group_by="zone")
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "responses.max_points" in detail
        assert "bucket=day" in detail
        assert "camera_id" in detail
        by_day = get("/s1/traffic", group_by="zone", bucket="day")
        assert by_day.status_code == 200
        assert len(by_day.json()["series"]) == 12
        assert by_day.json()["visits"] == 12
        one_camera = get("/s1/traffic", group_by="zone", camera_id="cam1")
        assert one_camera.status_code == 200
        assert len(one_camera.json()["series"]) == 4
        # 9 lines x 169 hours; one camera's 3 lines fit
        lines_refused = get("/s1/lines")
        assert lines_refused.status_code == 422
        assert "responses.max_points" in lines_refused.json()["detail"]
        assert len(get("/s1/lines", camera_id="cam2").json()["lines"]) == 3
        # 3 cameras + 12 zones + 9 lines = 24 entries, over 20
        for path in ("", "/s1"):
            listing = get(path)
            assert listing.status_code == 422
            assert "24 cameras, zones and lines" in listing.json()["detail"]
            assert "responses.max_layout_ids" in listing.json()["detail"]
    engine.dispose()


def test_pushes_in_flight_cannot_pass_a_bound_together_across_a_refresh(database_url: str) -> None:
    """Two pushes checked before either commits, with the store's ids read again in between: the second is
    counted with the first's new zones, not with the database's alone."""
    from central.config import IngestLimits
    from central.ingest.convert import batch_in
    from central.ingest.items import Status
    from central.ingest.writer import IngestWriter

    engine = make_engine(database_url)
    create_store(engine, "s1")
    limits = CardinalityLimits(max_zones_per_camera=3, refresh_s=1e-6)  # every check reads the store again
    writer = IngestWriter(engine, IngestLimits(), cardinality=limits)
    now = time.time()
    first = writer.check(batch_in(push("s1", [summary("s1", zones=(("z1", 5.0, 1), ("z2", 5.0, 1)))]), now))
    second = writer.check(
        batch_in(push("s1", [summary("s1", zones=(("z3", 5.0, 1),)), summary("s1", zones=(("z4", 5.0, 1),))]), now)
    )
    results = writer.commit_many([first, second])
    assert [r.status for r in results[0]] == [Status.STORED]
    assert [r.status for r in results[1]] == [Status.STORED, Status.REJECTED]
    assert "at most 3 learned zones per camera" in results[1][1].reason
    engine.dispose()

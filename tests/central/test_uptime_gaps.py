"""Camera uptime pushed over real gRPC is upserted once with its hourly rollup, and the REST API shows the hours
a camera was down or unreported as missing (null), never as zero; on SQLite and PostgreSQL."""

from __future__ import annotations

from grpc_fixtures import HOUR_START, auth, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import select

from central.db.engine import make_engine
from central.db.schema import camera_uptime, cameras, uptime_hourly
from central.ingest.items import bucket_key
from central.stores import create_store
from tests.central.rollup_rows import HOUR, served

STORED, DUPLICATE, REJECTED = pb.ITEM_STATUS_STORED, pb.ITEM_STATUS_DUPLICATE, pb.ITEM_STATUS_REJECTED
H = HOUR_START  # five hours ago, on the hour


def uptime(camera: str, start: float, seconds: int, up: float) -> pb.CameraUptime:
    return pb.CameraUptime(camera_id=camera, bucket_start=stamp(start), bucket_seconds=seconds, seconds_up=up)


def test_uptime_is_upserted_once_with_its_hourly_rollup(database_url: str) -> None:
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    quarters = [uptime("cam1", H + 900 * i, 900, 900.0 if i < 3 else 300.0) for i in range(4)]
    bad = [
        uptime("cam1", H, 900, 901.0),  # more than the bucket
        uptime("cam1", H, 7200, 10.0),  # not within one hour
        uptime("cam1", H + 30, 900, 10.0),  # not aligned
        uptime("cam 1", H, 900, 10.0),  # not an id
    ]
    with running_ingest(database_url) as central:
        client = stub(central.port)
        first = client.Push(push("s1", camera_uptime=[*quarters, *bad]), metadata=auth(token))
        again = client.Push(push("s1", camera_uptime=quarters), metadata=auth(token))
        # the agent counted on after a restart: the last quarter is sent again with more uptime
        later = client.Push(push("s1", camera_uptime=[uptime("cam1", H + 2700, 900, 900.0)]), metadata=auth(token))
    assert [r.status for r in first.results] == [STORED] * 4 + [REJECTED] * 4
    assert {r.kind for r in first.results} == {pb.ITEM_KIND_CAMERA_UPTIME}
    assert first.results[0].key == f"cam1/{bucket_key(H)}"
    assert "seconds_up 901 is not within 0-900" in first.results[4].reason
    assert "does not divide an hour" in first.results[5].reason
    assert "not a multiple of bucket_seconds" in first.results[6].reason
    assert "camera_id" in first.results[7].reason
    assert [r.status for r in again.results] == [DUPLICATE] * 4
    assert [r.status for r in later.results] == [STORED]
    with engine.connect() as conn:
        assert conn.execute(select(uptime_hourly.c.hour, uptime_hourly.c.seconds_up)).all() == [(H, 3600.0)]
        assert len(conn.execute(select(camera_uptime)).all()) == 4
        assert conn.execute(select(cameras.c.camera_id, cameras.c.uptime_since)).all() == [("cam1", H)]
    engine.dispose()


def test_hours_with_a_camera_down_or_unreported_are_missing_not_zero(database_url: str) -> None:
    """cam1 is up at H, disconnected at H+1 and its agent silent at H+2; cam2 is up throughout."""
    engine = make_engine(database_url)
    token = create_store(engine, "s1")
    visits = [summary("s1", "cam1", H + 60), summary("s1", "cam1", H + 120), summary("s1", "cam2", H + 60)]
    visits.append(summary("s1", "cam2", H + HOUR + 60))
    reports = [uptime("cam1", H, 3600, 3600.0), uptime("cam1", H + HOUR, 3600, 0.0)]
    reports += [uptime("cam2", H + i * HOUR, 3600, 3600.0) for i in range(3)]
    with running_ingest(database_url) as central:
        done = stub(central.port).Push(push("s1", visits, camera_uptime=reports), metadata=auth(token))
    assert {r.status for r in done.results} == {STORED}
    window = {"from": str(H), "to": str(H + 3 * HOUR)}
    with served(engine) as api:
        store = api.ok("/api/v1/stores/s1/traffic", **window)["series"][0]["points"]
        assert [(p["visits"], p["missing"], p["coverage"]) for p in store] == [
            (3, False, 1.0),
            (None, True, 0.5),  # cam1 disconnected: its visits are unknown, not zero
            (None, True, 0.5),  # cam1's agent sent nothing
        ]
        per_camera = api.ok("/api/v1/stores/s1/traffic", group_by="camera", **window)["series"]
        assert {s["camera_id"]: [p["visits"] for p in s["points"]] for s in per_camera} == {
            "cam1": [2, None, None],
            "cam2": [1, 1, 0],  # a quiet hour of a camera that was up is a real zero
        }
        dwell = api.ok("/api/v1/stores/s1/dwell", **window)
        assert [p["visits"] for p in dwell["points"]] == [3, None, None]
        assert dwell["visits"] == 3
        trend = api.ok("/api/v1/stores/s1/behavior", **window)["trend"]
        assert [p["counts"] is None for p in trend] == [False, True, True]
        # cam2's agent has sent nothing since H+3: that hour is missing too, once it is over by gaps.pending_s
        cam2 = api.ok("/api/v1/stores/s1/traffic", camera_id="cam2", **{"from": str(H), "to": str(H + 4 * HOUR)})
        assert [p["visits"] for p in cam2["series"][0]["points"]] == [1, 1, 0, None]
        overview = api.ok("/api/v1/overview", **window)["stores"][0]
        assert overview["has_gaps"] is True
        healthy = api.ok("/api/v1/overview", **{"from": str(H), "to": str(H + HOUR)})["stores"][0]
        assert healthy["has_gaps"] is False
    engine.dispose()

"""The REST API over real HTTP (uvicorn on 127.0.0.1), on SQLite and PostgreSQL.

The database is filled with SQLAlchemy Core the way ingest fills it: raw rows
plus the rollups that follow from them (one visit per summary in the camera
row of its start hour, one per zone visit in the zone rows, dwell bins,
behaviour counts; line counts per hour; heatmap tiles summed per day). The
answers are checked against numbers worked out by hand from those summaries.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, insert

from central.api.app import create_app
from central.api.deps import ApiSettings
from central.api.keys import create_api_key, list_api_keys, revoke_api_key
from central.db import paths
from central.db.engine import make_engine
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    DWELL_BINS_S,
    DWELL_COLUMNS,
    UNCLASSIFIED_COLUMN,
    agent_heartbeats,
    agents,
    cameras,
    heatmap_daily,
    heatmap_tiles,
    line_counts,
    line_hourly,
    lines,
    stores,
    track_summaries,
    traffic_hourly,
    zones,
)
from central.live import LiveFeed
from tests.central.api_server import running

HOUR = 3600
DAY = 86_400
NOW = time.time()
TODAY = int(NOW // DAY) * DAY
D = TODAY - 10 * DAY  # the seeded day: midnight UTC ten days ago
D_ISO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(D))


@dataclass
class Summary:
    store: str
    camera: str
    start: float
    dwell: float
    behavior: str | None
    zone_dwell: list[tuple[str, float, int]] = field(default_factory=list)
    track_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    confidence: float = 0.9  # calibrated probability of the label


# store s1: cam-a (zones entrance, shelf), cam-b (zone till, line door); store s2: c1
SUMMARIES = [
    Summary("s1", "cam-a", D + 10 * HOUR + 5 * 60, 20, "decisive", [("entrance", 10, 1)]),
    Summary("s1", "cam-a", D + 10 * HOUR + 40 * 60, 200, "interested", [("entrance", 5, 1), ("shelf", 150, 2)]),
    Summary("s1", "cam-a", D + 11 * HOUR + 10 * 60, 1000, None, [("shelf", 900, 1)]),
    Summary("s1", "cam-b", D + 10 * HOUR + 20 * 60, 60, "hesitant", [("till", 40, 1)], confidence=0.45),
    Summary("s1", "cam-b", D + DAY + 9 * HOUR, 400, "decisive"),
    Summary("s2", "c1", D + 10 * HOUR, 30, "confused"),
]
NEWEST_FIRST = sorted((s for s in SUMMARIES if s.store == "s1"), key=lambda s: -s.start)
TODAY_SUMMARY = Summary("s1", "cam-a", max(TODAY, int(NOW) - 5), 45, "hesitant", [("shelf", 30, 1)])


def _dwell_column(dwell: float) -> str:
    for bound, column in zip(DWELL_BINS_S, DWELL_COLUMNS, strict=False):
        if dwell < bound:
            return column
    return DWELL_COLUMNS[-1]


def _zero_traffic() -> dict[str, Any]:
    return {
        "visits": 0,
        "dwell_s": 0.0,
        **dict.fromkeys(DWELL_COLUMNS, 0),
        **dict.fromkeys(BEHAVIOR_COLUMNS.values(), 0),
        UNCLASSIFIED_COLUMN: 0,
    }


def traffic_rollup(summaries: list[Summary]) -> list[dict[str, Any]]:
    """traffic_hourly rows as ingest keeps them."""
    rows: dict[tuple[str, str, str, int], dict[str, Any]] = defaultdict(_zero_traffic)
    for s in summaries:
        hour = int(s.start // HOUR) * HOUR
        behavior_column = BEHAVIOR_COLUMNS[s.behavior] if s.behavior else UNCLASSIFIED_COLUMN
        row = rows[s.store, s.camera, "", hour]
        row["visits"] += 1
        row["dwell_s"] += s.dwell
        row[_dwell_column(s.dwell)] += 1
        row[behavior_column] += 1
        for zone, seconds, visits in s.zone_dwell:
            zone_row = rows[s.store, s.camera, zone, hour]
            zone_row["visits"] += visits
            zone_row["dwell_s"] += seconds
            zone_row[_dwell_column(seconds)] += 1
            zone_row[behavior_column] += 1
    return [{"store_id": k[0], "camera_id": k[1], "zone_id": k[2], "hour": k[3], **v} for k, v in sorted(rows.items())]


def summary_row(s: Summary) -> dict[str, Any]:
    probabilities = {s.behavior: s.confidence, "frustrated": round(1 - s.confidence, 2)} if s.behavior else None
    return {
        "track_id": s.track_id,
        "store_id": s.store,
        "camera_id": s.camera,
        "start_ts": s.start,
        "end_ts": s.start + s.dwell,
        "dwell_s": s.dwell,
        "distance_m": 3.5,
        "mean_speed_mps": 0.4,
        "max_speed_mps": 1.2,
        "stop_count": 1,
        "behavior": s.behavior,
        "probabilities": json.dumps(probabilities) if probabilities else None,
        "behavior_confidence": s.confidence if s.behavior else None,
        "zone_dwell": json.dumps([list(z) for z in s.zone_dwell]),
        "zone_order": json.dumps([z[0] for z in s.zone_dwell]),
        "path": paths.pack(np.array([[s.start, 1.0, 2.0], [s.start + s.dwell, 3.0, 4.0]])),
        "detector_model": "yolov8n/1",
        "behavior_model": "behavior-classifier/2" if s.behavior else "",
        "received_at": s.start + s.dwell + 1,
    }


def seed(engine: Engine) -> None:
    summaries = [*SUMMARIES, TODAY_SUMMARY]
    with engine.begin() as conn:
        for store_id, name in (("s1", "Downtown"), ("s2", "Mall")):
            conn.execute(
                insert(stores).values(
                    store_id=store_id,
                    name=name,
                    token_salt=b"salt",
                    token_hash=b"hash",
                    created_at=D - DAY,
                    token_rotated_at=D - DAY,
                )
            )
        for store_id, camera_id in (("s1", "cam-a"), ("s1", "cam-b"), ("s2", "c1")):
            conn.execute(
                insert(cameras).values(
                    store_id=store_id, camera_id=camera_id, first_seen=D, last_seen=NOW, declared=store_id == "s1"
                )
            )
        conn.execute(
            insert(zones),
            [
                {"store_id": "s1", "camera_id": c, "zone_id": z, "first_seen": D}
                for c, z in (("cam-a", "entrance"), ("cam-a", "shelf"), ("cam-b", "till"))
            ],
        )
        conn.execute(insert(lines).values(store_id="s1", camera_id="cam-b", line_id="door", first_seen=D))
        conn.execute(insert(track_summaries), [summary_row(s) for s in summaries])
        conn.execute(insert(traffic_hourly), traffic_rollup(summaries))
        # line "door": in/out per 15-minute bucket, summed per hour in line_hourly
        buckets = [(D + 10 * HOUR, 5, 3), (D + 10 * HOUR + 900, 2, 1), (D + 11 * HOUR, 1, 4)]
        conn.execute(
            insert(line_counts),
            [
                {
                    "store_id": "s1",
                    "camera_id": "cam-b",
                    "line_id": "door",
                    "bucket_start": float(start),
                    "bucket_seconds": 900,
                    "in_count": n_in,
                    "out_count": n_out,
                    "received_at": start + 900.0,
                }
                for start, n_in, n_out in buckets
            ],
        )
        conn.execute(
            insert(line_hourly),
            [
                {"store_id": "s1", "camera_id": "cam-b", "line_id": "door", "hour": h, "in_count": i, "out_count": o}
                for h, i, o in ((D + 10 * HOUR, 7, 4), (D + 11 * HOUR, 1, 4))
            ],
        )
        # heatmap of cam-a: a 2 x 3 grid on day D and another on day D + 1
        grids = {D: np.arange(6, dtype=np.float32).reshape(2, 3), D + DAY: np.ones((2, 3), dtype=np.float32)}
        for day, grid in grids.items():
            cells = grid.astype("<f4").tobytes()
            conn.execute(
                insert(heatmap_tiles).values(
                    store_id="s1",
                    camera_id="cam-a",
                    bucket_start=float(day + 12 * HOUR),
                    bucket_seconds=3600,
                    rows=2,
                    cols=3,
                    cells=cells,
                    received_at=day + 13.0 * HOUR,
                )
            )
            conn.execute(
                insert(heatmap_daily).values(store_id="s1", camera_id="cam-a", day=day, rows=2, cols=3, cells=cells)
            )
        # online is judged against the clock when a test asks, which may be minutes after this module was imported
        seeded_at = time.time()
        for agent_id, store_id, last_seen in (("edge-s1", "s1", seeded_at - 10), ("edge-s2", "s2", seeded_at - 600)):
            conn.execute(
                insert(agents).values(
                    agent_id=agent_id,
                    store_id=store_id,
                    first_seen=D,
                    last_seen=last_seen,
                    agent_version="0.1.0",
                    models=json.dumps(
                        [
                            {"name": "behavior-classifier", "version": "2", "sha256": "ab" * 32},
                            {"name": "yolov8n", "version": "4", "runtime": "openvino/CPU", "precision": "int8"},
                        ]
                    ),
                    cameras=json.dumps(
                        [{"camera_id": "cam-a", "fps": 14.5, "frames_dropped": 3, "connected": True, "last_error": ""}]
                    ),
                    outbox_backlog=12,
                    last_error="" if store_id == "s1" else "camera c1: connection refused",
                )
            )
        conn.execute(
            insert(agent_heartbeats),
            [
                {
                    "store_id": "s1",
                    "agent_id": "edge-s1",
                    "received_at": NOW - age,
                    "payload": json.dumps({"outbox_backlog": age}),
                }
                for age in (70, 40, 10)
            ],
        )


@dataclass
class Api:
    url: str
    engine: Engine
    feed: LiveFeed
    admin: str
    viewer: str
    client: httpx.Client

    def get(self, path: str, key: str | None = "admin", **params: Any) -> httpx.Response:
        token = {"admin": self.admin, "viewer": self.viewer}.get(key or "", key)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, params=params or None, headers=headers)  # {} would drop a query in path

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    engine = make_engine(database_url)
    seed(engine)
    feed = LiveFeed()
    app = create_app(engine, feed, ApiSettings(sse_keepalive_s=0.3, live_max_s=20))
    admin = create_api_key(engine, "ops", "admin")
    viewer = create_api_key(engine, "dashboard", "viewer")
    with running(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield Api(url, engine, feed, admin, viewer, client)
    engine.dispose()


SEEDED = {"from": D_ISO, "to": str(D + 2 * DAY)}  # ISO start, epoch end: both spellings in one range


def _points(series: dict[str, Any], key: str = "visits") -> dict[int, int]:
    return {p["ts"]: p[key] for p in series["points"] if p[key]}


# --- stores -------------------------------------------------------------------------------------


def test_stores_list_their_cameras_zones_and_lines(api: Api) -> None:
    body = api.ok("/api/v1/stores", key="viewer")
    assert body["total"] == 2
    assert [s["store_id"] for s in body["stores"]] == ["s1", "s2"]
    s1 = body["stores"][0]
    assert s1["name"] == "Downtown"
    assert {c["camera_id"]: (c["zones"], c["lines"]) for c in s1["cameras"]} == {
        "cam-a": (["entrance", "shelf"], []),
        "cam-b": (["till"], ["door"]),
    }
    assert "token_hash" not in json.dumps(body)
    page = api.ok("/api/v1/stores", limit=1, offset=1)
    assert [s["store_id"] for s in page["stores"]] == ["s2"]
    assert page["total"] == 2
    assert api.ok("/api/v1/stores/s2")["cameras"][0]["camera_id"] == "c1"


# --- traffic, dwell, behaviour ------------------------------------------------------------------


def test_traffic_per_hour_and_day(api: Api) -> None:
    hourly = api.ok("/api/v1/stores/s1/traffic", **SEEDED)
    assert hourly["visits"] == 5
    assert hourly["range"]["start_ts"] == D
    assert len(hourly["series"]) == 1
    points = hourly["series"][0]["points"]
    assert len(points) == 48  # zero-filled: every hour of the two days
    assert points[10]["time"].endswith("T10:00:00Z")
    assert _points(hourly["series"][0]) == {D + 10 * HOUR: 3, D + 11 * HOUR: 1, D + DAY + 9 * HOUR: 1}

    daily = api.ok("/api/v1/stores/s1/traffic", bucket="day", **SEEDED)
    assert [(p["ts"], p["visits"]) for p in daily["series"][0]["points"]] == [(D, 4), (D + DAY, 1)]

    cam_b = api.ok("/api/v1/stores/s1/traffic", camera_id="cam-b", bucket="day", **SEEDED)
    assert cam_b["visits"] == 2
    assert cam_b["series"][0]["camera_id"] == "cam-b"


def test_traffic_grouped_per_camera_and_zone(api: Api) -> None:
    per_camera = api.ok("/api/v1/stores/s1/traffic", group_by="camera", bucket="day", **SEEDED)
    assert {s["camera_id"]: s["visits"] for s in per_camera["series"]} == {"cam-a": 3, "cam-b": 2}
    per_zone = api.ok("/api/v1/stores/s1/traffic", group_by="zone", bucket="day", **SEEDED)
    assert {(s["camera_id"], s["zone_id"]): s["visits"] for s in per_zone["series"]} == {
        ("cam-a", "entrance"): 2,
        ("cam-a", "shelf"): 3,  # one track entered it twice
        ("cam-b", "till"): 1,
    }
    shelf = api.ok("/api/v1/stores/s1/traffic", zone_id="shelf", **SEEDED)
    assert _points(shelf["series"][0]) == {D + 10 * HOUR: 2, D + 11 * HOUR: 1}


def test_a_range_inside_an_hour_reports_that_whole_hour(api: Api) -> None:
    body = api.ok("/api/v1/stores/s1/traffic", **{"from": str(D + 10 * HOUR + 1800), "to": str(D + 10 * HOUR + 1801)})
    assert [(p["ts"], p["visits"]) for p in body["series"][0]["points"]] == [(D + 10 * HOUR, 3)]


def test_dwell_mean_total_and_distribution(api: Api) -> None:
    body = api.ok("/api/v1/stores/s1/dwell", bucket="day", **SEEDED)
    assert body["visits"] == 5
    assert body["total_dwell_s"] == pytest.approx(1680)
    assert body["mean_dwell_s"] == pytest.approx(336)
    assert [(b["bin"], b["min_s"], b["max_s"], b["visits"]) for b in body["bins"]] == [
        ("under_30s", 0, 30, 1),
        ("30s_2m", 30, 120, 1),
        ("2m_5m", 120, 300, 1),
        ("5m_15m", 300, 900, 1),
        ("over_15m", 900, None, 1),
    ]
    assert [(p["visits"], p["mean_dwell_s"]) for p in body["points"]] == [(4, 320.0), (1, 400.0)]
    empty = api.ok("/api/v1/stores/s2/dwell", **{"from": str(D + 5 * DAY), "to": str(D + 6 * DAY)})
    assert (empty["visits"], empty["mean_dwell_s"]) == (0, None)


def test_behaviour_distribution_and_trend(api: Api) -> None:
    body = api.ok("/api/v1/stores/s1/behavior", bucket="day", **SEEDED)
    counts = {d["behavior"]: d["count"] for d in body["distribution"]}
    assert counts == {
        "decisive": 2,
        "disinterested": 0,
        "hesitant": 1,
        "interested": 1,
        "confused": 0,
        "frustrated": 0,
        "unclassified": 1,
    }
    assert {d["behavior"]: d["share"] for d in body["distribution"]}["decisive"] == pytest.approx(0.4)
    assert [(p["total"], p["counts"]["decisive"]) for p in body["trend"]] == [(4, 1), (1, 1)]


def test_overview_reads_today_and_the_range(api: Api) -> None:
    body = api.ok("/api/v1/stores/s1/overview", **SEEDED)
    assert body["name"] == "Downtown"
    assert body["period"]["visits"] == 5
    assert body["period"]["mean_dwell_s"] == pytest.approx(336)
    assert body["busiest_hour"]["ts"] == D + 10 * HOUR
    assert body["busiest_hour"]["visits"] == 3
    assert body["busiest_hour_of_day"] == {"hour_of_day": 10, "visits": 3}
    assert [(z["zone_id"], z["visits"]) for z in body["top_zones"]] == [("shelf", 3), ("entrance", 2), ("till", 1)]
    assert {b["behavior"]: b["count"] for b in body["behavior"]}["unclassified"] == 1
    if int(body["generated_at"] // DAY) * DAY == TODAY:  # not when the test ran across midnight UTC
        assert body["today"] == {"visits": 1, "total_dwell_s": 45.0, "mean_dwell_s": 45.0}
    default = api.ok("/api/v1/stores/s1/overview")  # the last 7 days: only today's visit
    assert default["period"]["visits"] == 1
    assert default["range"]["end_ts"] - default["range"]["start_ts"] == pytest.approx(7 * DAY)


# --- lines, heatmaps ----------------------------------------------------------------------------


def test_line_counts_per_bucket(api: Api) -> None:
    body = api.ok("/api/v1/stores/s1/lines", **SEEDED)
    (door,) = body["lines"]
    assert (door["camera_id"], door["line_id"], door["in_count"], door["out_count"]) == ("cam-b", "door", 8, 8)
    assert {p["ts"]: (p["in_count"], p["out_count"]) for p in door["points"] if p["in_count"] or p["out_count"]} == {
        D + 10 * HOUR: (7, 4),
        D + 11 * HOUR: (1, 4),
    }
    daily = api.ok("/api/v1/stores/s1/lines", bucket="day", line_id="door", **SEEDED)
    assert [(p["in_count"], p["out_count"]) for p in daily["lines"][0]["points"]] == [(8, 8), (0, 0)]
    assert api.ok("/api/v1/stores/s2/lines", **SEEDED)["lines"] == []


def test_heatmap_grid_sums_the_days_of_the_range(api: Api) -> None:
    both = api.ok("/api/v1/stores/s1/heatmap", camera_id="cam-a", **SEEDED)
    assert (both["rows"], both["cols"], both["days"]) == (2, 3, 2)
    assert both["cells"] == [[1, 2, 3], [4, 5, 6]]
    assert (both["max"], both["total_person_s"]) == (6, 21)
    first_day = api.ok("/api/v1/stores/s1/heatmap", camera_id="cam-a", **{"from": D_ISO, "to": str(D + DAY)})
    assert first_day["cells"] == [[0, 1, 2], [3, 4, 5]]
    none = api.ok("/api/v1/stores/s1/heatmap", camera_id="cam-b", **SEEDED)
    assert (none["rows"], none["cols"], none["cells"]) == (0, 0, [])


def test_heatmap_png_decodes_to_the_grid_size(api: Api) -> None:
    response = api.get("/api/v1/stores/s1/heatmap.png", camera_id="cam-a", scale=4, **{"from": D_ISO, "to": D + DAY})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.size == (3 * 4, 2 * 4)  # cols x rows cells of 4 x 4 pixels
    rgb = np.asarray(image.convert("RGB"), dtype=int)
    darkest, brightest = rgb[0, 0].sum(), rgb[-1, -1].sum()  # cell 0 person-seconds, cell 5 (the most)
    assert darkest < 30
    assert brightest > 600
    assert (rgb[:4, :4] == rgb[0, 0]).all()  # one flat block per cell
    missing = api.get("/api/v1/stores/s1/heatmap.png", camera_id="cam-b", **SEEDED)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


# --- track summaries ----------------------------------------------------------------------------


def test_tracks_are_paged_newest_first_without_gaps(api: Api) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {**SEEDED, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.ok("/api/v1/stores/s1/tracks", **params)
        pages += 1
        seen += [t["track_id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [s.track_id for s in NEWEST_FIRST]
    first = api.ok(f"/api/v1/stores/s1/tracks/{NEWEST_FIRST[-1].track_id}")
    assert first["zone_dwell"] == [{"zone_id": "entrance", "seconds": 10.0, "visits": 1}]
    assert first["probabilities"] == {"decisive": 0.9, "frustrated": 0.1}
    assert (first["behavior_confidence"], first["uncertain"]) == (0.9, False)
    assert first["path"][0] == [NEWEST_FIRST[-1].start, 1.0, 2.0]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"camera_id": "cam-b"}, [4, 3]),
        ({"zone_id": "shelf"}, [2, 1]),
        ({"zone_id": "Shelf"}, []),  # exact, case-sensitive
        ({"zone_id": "shel"}, []),  # a whole zone id, not a prefix
        ({"behavior": "decisive"}, [4, 0]),
        ({"behavior": "unclassified"}, [2]),
        ({"behavior": "confused"}, []),
        ({"camera_id": "cam-a", "zone_id": "entrance", "behavior": "interested"}, [1]),
        ({"uncertain": "true"}, [3]),  # its label's calibrated probability is 0.45
        ({"uncertain": "false"}, [4, 1, 0]),  # the unclassified track is in neither
    ],
)
def test_track_filters(api: Api, filters: dict[str, str], expected: list[int]) -> None:
    """``expected``: indexes into SUMMARIES."""
    items = api.ok("/api/v1/stores/s1/tracks", **SEEDED, **filters)["items"]
    index_of = {s.track_id: i for i, s in enumerate(SUMMARIES)}
    assert [index_of[t["track_id"]] for t in items] == expected  # newest first


def test_track_of_another_store_is_not_found(api: Api) -> None:
    other = next(s for s in SUMMARIES if s.store == "s2")
    assert api.get(f"/api/v1/stores/s1/tracks/{other.track_id}").status_code == 404
    assert api.ok(f"/api/v1/stores/s2/tracks/{other.track_id}")["camera_id"] == "c1"


# --- fleet --------------------------------------------------------------------------------------


def test_fleet_shows_agents_online_and_their_heartbeats(api: Api) -> None:
    body = api.ok("/api/v1/fleet", key="viewer")
    assert (body["total"], body["online"]) == (2, 1)
    by_id = {a["agent_id"]: a for a in body["agents"]}
    assert by_id["edge-s1"]["online"] is True
    assert by_id["edge-s2"]["online"] is False
    assert by_id["edge-s2"]["last_error"] == "camera c1: connection refused"
    assert by_id["edge-s1"]["cameras"] == [
        {"camera_id": "cam-a", "fps": 14.5, "frames_dropped": 3, "connected": True, "last_error": ""}
    ]
    assert by_id["edge-s1"]["models"][0]["version"] == "2"
    assert (by_id["edge-s1"]["models"][0]["runtime"], by_id["edge-s1"]["models"][0]["precision"]) == ("", "")
    assert (by_id["edge-s1"]["models"][1]["runtime"], by_id["edge-s1"]["models"][1]["precision"]) == (
        "openvino/CPU",
        "int8",
    )
    assert by_id["edge-s1"]["outbox_backlog"] == 12
    assert [a["agent_id"] for a in api.ok("/api/v1/fleet", store_id="s2")["agents"]] == ["edge-s2"]
    beats = api.ok("/api/v1/fleet/stores/s1/agents/edge-s1/heartbeats", limit=2)["heartbeats"]
    assert [b["payload"]["outbox_backlog"] for b in beats] == [10, 40]
    assert api.ok("/api/v1/fleet/stores/s1/agents/edge-s1")["online"] is True


# --- auth ---------------------------------------------------------------------------------------


def test_every_api_route_needs_a_valid_key(api: Api) -> None:
    schema_paths = api.client.get("/openapi.json").json()["paths"]
    routes = [(p, m) for p, item in schema_paths.items() if p.startswith("/api/v1") for m in item]
    assert len(routes) >= 15
    for path, method in routes:
        concrete = path.format(
            store_id="s1",
            agent_id="edge-s1",
            track_id=SUMMARIES[0].track_id,
            rollout_id="0123456789abcdef",
            camera_id="cam-a",
        )
        response = api.client.request(method.upper(), concrete)
        assert response.status_code == 401, (method, concrete)
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer 0123456789abcdef.wrong-secret-wrong-secret"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "0123456789abcdef.wrong-secret-wrong-secret"},
    ],
)
def test_wrong_keys_are_refused(api: Api, header: dict[str, str]) -> None:
    response = api.client.get("/api/v1/stores", headers=header)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_roles_and_revocation(api: Api) -> None:
    assert api.client.get("/api/v1/me", headers={"X-API-Key": api.viewer}).json()["role"] == "viewer"
    forbidden = api.get("/api/v1/apikeys", key="viewer")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "forbidden"
    listed = api.ok("/api/v1/apikeys")["keys"]
    assert {k["name"]: k["role"] for k in listed} == {"ops": "admin", "dashboard": "viewer"}
    assert api.viewer.split(".")[1] not in json.dumps(listed)

    assert api.get("/api/v1/stores", key="viewer").status_code == 200  # remembered by the verifier ...
    assert revoke_api_key(api.engine, api.viewer.split(".")[0]) is True
    assert api.get("/api/v1/stores", key="viewer").status_code == 401  # ... and refused at once all the same
    assert revoke_api_key(api.engine, api.viewer.split(".")[0]) is False
    assert [k.active for k in list_api_keys(api.engine)] == [True, False]
    with pytest.raises(ValueError, match="unknown role"):
        create_api_key(api.engine, "x", "root")


def test_health_needs_no_key(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert api.client.get("/docs").status_code == 200


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stores/nope",
        "/api/v1/stores/nope/overview",
        "/api/v1/stores/nope/traffic",
        "/api/v1/stores/nope/live",
        "/api/v1/stores/s1/traffic?camera_id=cam-z",
        "/api/v1/stores/s1/heatmap?camera_id=cam-z",
        "/api/v1/stores/s1/tracks/0b7c1f4e-0000-4000-8000-000000000001",
        "/api/v1/fleet/stores/s1/agents/nope",
        "/api/v1/fleet/stores/s1/agents/nope/heartbeats",
        "/api/v1/fleet/stores/s2/agents/edge-s1",  # edge-s1 is store s1's agent
        "/api/v1/fleet/stores/s2/agents/edge-s1/heartbeats",
        "/api/v1/no-such-route",
    ],
)
def test_unknown_things_are_404(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        ({"from": "2026-11-20", "to": "2026-11-19"}, "query.from", "is after to"),
        ({"from": "yesterday"}, "query.from", "from='yesterday' is not epoch seconds or an ISO-8601"),
        ({"to": "1e300"}, "query.to", "is not epoch seconds"),
        ({"to": "4200000000"}, "query.to", "outside 1970-01-01 .. 2100-01-01"),
        ({"from": "2026-13-01"}, "query.from", "from='2026-13-01' is neither epoch seconds nor an ISO-8601"),
        ({"bucket": "week"}, "query.bucket", "hour"),
        ({"group_by": "aisle"}, "query.group_by", "camera"),
        ({"camera_id": "cam\x01a"}, "query.camera_id", "is not 1 to 64 characters without control characters"),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(
    api: Api, params: dict[str, str], loc: str, message: str
) -> None:
    response = api.get("/api/v1/stores/s1/traffic", **params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"][0]["loc"] == loc
    assert message in body["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/stores/s1/tracks", {"limit": 0}, 422),
        ("/api/v1/stores/s1/tracks", {"limit": 501}, 422),
        ("/api/v1/stores/s1/tracks", {"behavior": "happy"}, 422),
        ("/api/v1/stores/s1/tracks", {"cursor": "not-a-cursor"}, 400),
        ("/api/v1/stores/s1/heatmap", {}, 422),  # camera_id is required
        ("/api/v1/stores/s1/heatmap.png", {"camera_id": "cam-a", "scale": 0}, 422),
        ("/api/v1/stores", {"limit": 100_000}, 422),
        ("/api/v1/stores/s1/live", {"limit": 0}, 422),
    ],
)
def test_bad_paging_and_shapes(api: Api, path: str, params: dict[str, Any], status: int) -> None:
    response = api.get(path, **params)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}


def test_absurd_ranges_are_capped(api: Api) -> None:
    hourly = api.ok("/api/v1/stores/s1/traffic", **{"from": "0", "to": str(D + 2 * DAY)})
    assert hourly["range"]["capped"] is True
    assert hourly["range"]["end_ts"] - hourly["range"]["start_ts"] == 92 * DAY
    assert len(hourly["series"][0]["points"]) == 92 * 24
    assert hourly["visits"] == 5
    daily = api.ok("/api/v1/stores/s1/traffic", bucket="day", **{"from": "1970-01-01", "to": "2099-12-31"})
    assert daily["range"]["capped"] is True
    assert len(daily["series"][0]["points"]) == 1096
    overview = api.ok("/api/v1/stores/s1/overview", **{"from": "0", "to": "2099-01-01T00:00:00+02:00"})
    assert overview["range"]["capped"] is True


# --- live ---------------------------------------------------------------------------------------


def _read_sse(lines: Iterator[str], until: str) -> list[str]:
    got = []
    for line in lines:
        got.append(line)
        if line.startswith(until):
            return got
    raise AssertionError(f"stream ended before {until!r}: {got}")


def test_live_stream_delivers_published_summaries(api: Api) -> None:
    stored = summary_row(Summary("s1", "cam-b", NOW, 12.5, "hesitant", [("till", 10.0, 1)]))  # as ingest publishes
    other = {"track_id": str(uuid.uuid4()), "camera_id": "cam-b", "note": "not a row: sent as published"}
    with api.client.stream(
        "GET", "/api/v1/stores/s1/live", params={"limit": 2, "camera_id": "cam-b"}, headers=_auth(api.viewer)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        _read_sse(lines, ": subscribed")
        _read_sse(lines, ": keep-alive")  # idle: a comment every 0.3 s here (15 s by default)
        api.feed.publish("s2", lambda: [{**stored, "store_id": "s2"}], 1)  # another store
        api.feed.publish("s1", lambda: [{**stored, "camera_id": "cam-a"}, stored, other], 3)  # cam-a filtered out
        first = _read_sse(lines, "data:")
        assert "event: summary" in first
        assert f"id: {stored['track_id']}" in first
        event = json.loads(first[-1].removeprefix("data:"))
        assert event["track_id"] == stored["track_id"]
        assert event["zone_dwell"] == [{"zone_id": "till", "seconds": 10.0, "visits": 1}]  # as /tracks shows it
        assert event["path"] == paths.readable(stored["path"])
        second = _read_sse(lines, "data:")
        assert json.loads(second[-1].removeprefix("data:")) == other
        assert list(lines) == [""]  # limit=2: the server ends the stream
    deadline = time.monotonic() + 5
    while api.feed.subscribers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.feed.subscribers == 0


def test_live_stream_subscription_ends_when_the_client_leaves(api: Api) -> None:
    with api.client.stream("GET", "/api/v1/stores/s1/live", headers=_auth(api.admin)) as response:
        lines = response.iter_lines()  # kept: dropping the iterator closes the connection
        _read_sse(lines, ": subscribed")
        assert api.feed.subscribers == 1
    deadline = time.monotonic() + 5
    while api.feed.subscribers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.feed.subscribers == 0


def test_concurrent_readers_get_consistent_answers(api: Api) -> None:
    errors: list[str] = []

    def read() -> None:
        with httpx.Client(base_url=api.url, timeout=20, headers=_auth(api.viewer)) as client:
            for _ in range(5):
                response = client.get("/api/v1/stores/s1/overview", params=SEEDED)
                if response.status_code != 200 or response.json()["period"]["visits"] != 5:
                    errors.append(response.text)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}

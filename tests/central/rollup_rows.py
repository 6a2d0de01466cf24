"""Rows for the dashboard's reads, written with SQLAlchemy Core as ingest writes them, and a served API to ask.

Stores in a time zone, camera rows of ``traffic_hourly``, cameras with their uptime (``uptime_hourly`` and
``cameras.uptime_since``), agents: what the chain overview, the local series and the gaps are computed from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, insert

from central.api.app import create_app
from central.api.deps import ApiSettings
from central.api.keys import create_api_key
from central.db.schema import (
    BEHAVIOR_COLUMNS,
    DWELL_COLUMNS,
    UNCLASSIFIED_COLUMN,
    agents,
    cameras,
    stores,
    traffic_hourly,
    uptime_hourly,
)
from central.live import LiveFeed
from tests.central.api_server import running

HOUR = 3600


def add_store(engine: Engine, store_id: str, timezone: str = "UTC", name: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(stores).values(
                store_id=store_id,
                name=name or store_id.title(),
                token_salt=b"salt",
                token_hash=b"hash",
                created_at=1.7e9,
                token_rotated_at=1.7e9,
                timezone=timezone,
            )
        )


def add_camera(engine: Engine, store_id: str, camera_id: str, uptime_since: float | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(cameras).values(
                store_id=store_id,
                camera_id=camera_id,
                first_seen=1.7e9,
                last_seen=1.7e9,
                declared=False,
                uptime_since=uptime_since,
            )
        )


def add_visits(
    engine: Engine, store_id: str, camera_id: str, visits: dict[int, int], dwell_s: float = 60.0, behavior: str = ""
) -> None:
    """Camera rows (zone "") of ``traffic_hourly``: ``visits`` per UTC hour, each of ``dwell_s`` seconds."""
    counted = BEHAVIOR_COLUMNS[behavior] if behavior else UNCLASSIFIED_COLUMN
    rows = []
    for hour, n in sorted(visits.items()):
        row: dict[str, Any] = {
            "store_id": store_id,
            "camera_id": camera_id,
            "zone_id": "",
            "hour": hour,
            "visits": n,
            "dwell_s": n * dwell_s,
            **dict.fromkeys(DWELL_COLUMNS, 0),
            **dict.fromkeys(BEHAVIOR_COLUMNS.values(), 0),
            UNCLASSIFIED_COLUMN: 0,
        }
        row[DWELL_COLUMNS[1]] = n
        row[counted] = n
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(insert(traffic_hourly), rows)


def add_uptime(engine: Engine, store_id: str, camera_id: str, seconds: dict[int, float]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(uptime_hourly),
            [{"store_id": store_id, "camera_id": camera_id, "hour": h, "seconds_up": s} for h, s in seconds.items()],
        )


def add_agent(
    engine: Engine, store_id: str, agent_id: str, last_seen: float, connected: dict[str, bool], backlog: int = 0
) -> None:
    reports = [
        {"camera_id": c, "fps": 10.0, "frames_dropped": 0, "connected": up, "last_error": ""}
        for c, up in connected.items()
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(agents).values(
                store_id=store_id,
                agent_id=agent_id,
                first_seen=1.7e9,
                last_seen=last_seen,
                agent_version="0.1.0",
                models="[]",
                cameras=json.dumps(reports),
                outbox_backlog=backlog,
                last_error="",
            )
        )


@dataclass
class Served:
    engine: Engine
    client: httpx.Client
    admin: dict[str, str]
    viewer: dict[str, str]

    def ok(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.viewer)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def served(engine: Engine, settings: ApiSettings | None = None) -> Iterator[Served]:
    """The REST API over ``engine`` on a real uvicorn server, with an admin and a viewer key."""
    app = create_app(engine, LiveFeed(), settings or ApiSettings())
    admin = create_api_key(engine, "ops", "admin")
    viewer = create_api_key(engine, "dashboard", "viewer")
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Served(engine, client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {viewer}"})

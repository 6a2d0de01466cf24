"""The REST API of the central service: ``create_app(engine, feed)`` wires routes, auth and errors.

Every route under ``/api/v1`` needs an API key (``Authorization: Bearer
<key_id>.<secret>`` or ``X-API-Key``); ``/healthz``, ``/docs`` and
``/openapi.json`` do not. Nothing is built at import: the app holds the engine,
the live feed and the settings it was given, so replicas and tests each make
their own.
"""

from __future__ import annotations

import threading
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine

from central.api.deps import PATTERN_HINTS, ApiContext, ApiSettings, current_principal
from central.api.errors import install_error_handlers, responses
from central.api.head import HeadAsGet
from central.api.keys import key_authenticator
from central.api.routes import (
    backgrounds,
    chain,
    fleet,
    health,
    heatmap,
    keys,
    lines,
    live,
    rollouts,
    stores,
    tracks,
    traffic,
)
from central.live import LiveFeed
from central.registry.cache import ArtifactCache

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Anonymous shopper analytics of every store: traffic, dwell, behaviour, heatmaps,
line counts, track summaries, the fleet of edge agents and a live stream.

Authenticate with an API key from `retail-central apikeys create`:
`Authorization: Bearer <key_id>.<secret>` (or `X-API-Key: <key_id>.<secret>`).
Times are epoch seconds or ISO-8601 (UTC unless an offset is given); ranges are
`[from, to)`, by default the last 7 days. Errors are JSON `{"error", "detail"}`.

Series (`bucket=hour|day`) are in each store's own time zone (`timezone` of the
store, UTC by default). Rollups are kept per UTC hour, so a local day is the UTC
hours that start on that local date (23 or 25 of them where clocks change), and
where a zone's offset is not a whole hour (Asia/Kolkata, Australia/Adelaide) each
UTC hour stays one bucket, labelled by its local start (09:30-10:30): its visits
are never split between two local hours. Every point has `local`, its start in
the store's time, beside `ts` and `time` (UTC).

Gaps are not zeros: a bucket in which a camera of the series was disconnected,
or its agent sent nothing, is `"missing": true` with null values and a
`coverage` fraction (see `gaps` in the central configuration).
"""


def _version() -> str:
    try:
        return version("retail-analytics")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(engine: Engine, feed: LiveFeed, settings: ApiSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="Retail analytics central API",
        version=_version(),
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    settings = settings or ApiSettings()
    app.state.api = ApiContext(
        engine=engine,
        feed=feed,
        settings=settings,
        keys=key_authenticator(engine, settings.auth),
        png_slots=threading.BoundedSemaphore(settings.max_png_renders),
        artifacts=ArtifactCache(
            engine,
            settings.rollout.artifact_cache,
            settings.rollout.tracking_uri,
            settings.rollout.max_artifact_mb << 20,
        ),
    )
    install_error_handlers(app, PATTERN_HINTS)
    app.add_middleware(HeadAsGet)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(current_principal)], responses=responses(401, 422, 429))
    for module in (chain, stores, traffic, lines, heatmap, backgrounds, tracks, live, fleet, keys, rollouts):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    return app

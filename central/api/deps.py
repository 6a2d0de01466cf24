"""Dependencies of the REST routes, as ``Annotated`` aliases: context, connection, API key, store, time range."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from central.api.errors import ApiError, invalid, not_found
from central.api.keys import Principal
from central.api.queries import stores as store_queries
from central.api.queries.columns import UNCLASSIFIED, ResponseTooLargeError
from central.api.queries.series import SeriesRequest
from central.api.sessions import DashboardSession
from central.api.timerange import MAX_SPAN_S, Bucket, InvalidTimeError, TimeRange, resolve_range
from central.auth import Authenticator, AuthRefusedError, Role, ThrottledError
from central.config import AuthConfig, BackgroundLimits, GapConfig, ResponseLimits, RolloutConfig
from central.live import LiveFeed
from central.registry.cache import ArtifactCache
from retail_common.taxonomy import LABELS

# ids of stores, cameras, zones, lines and agents: 1-64 characters, no control characters
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
ID_MAX = 64


@dataclass(frozen=True)
class ApiSettings:
    """Knobs of the REST API that tests and deployments may change."""

    sse_keepalive_s: float = 15.0  # comment line sent on an idle live stream, so proxies keep it open
    live_max_s: float = 3600.0  # a live stream ends after this long; EventSource clients reconnect by themselves
    online_window_s: float = 120.0  # an agent is online when its last heartbeat is at most this old
    auth: AuthConfig = field(default_factory=AuthConfig)  # bounds on checking API keys
    max_png_renders: int = 2  # heatmap PNGs rendered at once (HttpConfig.max_png_renders)
    max_png_side_px: int = 2048  # longest side of a heatmap PNG (HttpConfig.max_png_side_px)
    responses: ResponseLimits = field(default_factory=ResponseLimits)  # how large one response may grow
    gaps: GapConfig = field(default_factory=GapConfig)  # when an hour of a camera is missing data
    backgrounds: BackgroundLimits = field(default_factory=BackgroundLimits)  # camera pictures admins upload
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # the registry and cache rollouts start from


@dataclass(frozen=True)
class ApiContext:
    engine: Engine
    feed: LiveFeed
    settings: ApiSettings
    keys: Authenticator[Principal]
    png_slots: threading.BoundedSemaphore
    artifacts: ArtifactCache


def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.api
    return ctx


Context = Annotated[ApiContext, Depends(get_context)]


def too_large(e: ResponseTooLargeError) -> ApiError:
    """A response over a bound of :class:`~central.config.ResponseLimits`: 422, saying how to narrow the request."""
    return ApiError(422, str(e))


def get_connection(ctx: Context) -> Iterator[Connection]:
    """One connection per request, returned to the pool when the response is done."""
    with ctx.engine.connect() as conn:
        yield conn


Conn = Annotated[Connection, Depends(get_connection)]

# --- API keys -----------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer <key_id>.<secret>`")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="`X-API-Key: <key_id>.<secret>`"
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="retail-central"'}


def _dashboard_session(request: Request) -> DashboardSession | None:
    """The dashboard login a browser's request carries (its cookie), where the dashboard is mounted."""
    state = getattr(request.app.state, "dashboard", None)
    return state.codec.of(request) if state is not None else None


def current_principal(
    ctx: Context,
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    credential = bearer.credentials if bearer is not None else api_key
    if not credential:
        session = _dashboard_session(request)
        if session is not None:
            return Principal(session.key_id, session.name, session.role)
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key_id>.<secret>' or 'X-API-Key: <key_id>.<secret>'",
            headers=_CHALLENGE,
        )
    peer = request.client.host if request.client is not None else "unknown"
    try:
        principal = ctx.keys.authenticate(credential, peer)
    except AuthRefusedError as e:
        retry = {"Retry-After": str(max(1, math.ceil(e.retry_after_s)))}
        raise ApiError(429 if isinstance(e, ThrottledError) else 503, str(e), headers=retry) from None
    if principal is None:
        raise ApiError(401, "API key not accepted: malformed, unknown, revoked or wrong secret", headers=_CHALLENGE)
    return principal


Viewer = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: Viewer) -> Principal:
    if principal.role is not Role.ADMIN:
        raise ApiError(403, f"API key {principal.key_id!r} has role {principal.role.value!r}; this route needs admin")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]

# --- path and query values ----------------------------------------------------------------------

StoreIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description="store id")]
OptionalId = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX)]
CameraFilter = Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX, description="one camera only")]
ZoneFilter = Annotated[
    str | None,
    Query(pattern=ID_PATTERN, max_length=ID_MAX, description="one zone only (default: whole camera views)"),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (at most 1000)")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
# epoch seconds, or an ISO-8601 date or time (offset optional: UTC without one); empty means the default
TIME_PATTERN = (
    r"^(\d{1,10}(\.\d{1,9})?"  # epoch seconds
    r"|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"  # ISO-8601
)
FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        pattern=TIME_PATTERN,
        description="start: epoch seconds or ISO-8601 (UTC when no offset); default 7 days before `to`",
        examples=["2026-11-16", "2026-11-16T08:00:00Z", "1795132800"],
    ),
]
ToParam = Annotated[
    str | None,
    Query(
        alias="to",
        pattern=TIME_PATTERN,
        description="end (exclusive): epoch seconds or ISO-8601; default now",
        examples=["2026-11-23", "2026-11-23T00:00:00+01:00"],
    ),
]
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
TRACK_ID_PATTERN = r"^[0-9A-Za-z-]{1,36}$"
BEHAVIOR_PATTERN = "^(" + "|".join((*LABELS, UNCLASSIFIED)) + ")$"

# what a value that fails a pattern should have looked like, for the 422's message
PATTERN_HINTS = {
    ID_PATTERN: "1 to 64 characters without control characters",
    TIME_PATTERN: "epoch seconds or an ISO-8601 date or time such as 2026-11-20 or 2026-11-20T08:00:00Z",
    CURSOR_PATTERN: "a next_cursor returned by this API",
    TRACK_ID_PATTERN: "a track's UUID",
    BEHAVIOR_PATTERN: f"one of {', '.join((*LABELS, UNCLASSIFIED))}",
}

BucketParam = Annotated[
    Bucket,
    Query(
        description="bucket size of series: `hour` or `day` in the store's time zone. Days have 23 or 25 hours "
        "where clocks change; where the zone's offset is not a whole hour (Asia/Kolkata), each UTC hour is one "
        "bucket labelled by its local start (09:30-10:30) and a day runs from 00:30 to 00:30"
    ),
]


def existing_store(conn: Conn, store_id: StoreIdPath) -> store_queries.StoreRef:
    store = store_queries.find_store(conn, store_id)
    if store is None:
        raise not_found(f"store {store_id!r}")
    return store


Store = Annotated[store_queries.StoreRef, Depends(existing_store)]


def existing_camera(conn: Conn, store: Store, camera_id: CameraFilter = None) -> str | None:
    """The ``camera_id`` filter, checked to name a camera of the store (404 otherwise)."""
    if camera_id is not None and not store_queries.camera_exists(conn, store.store_id, camera_id):
        raise not_found(f"camera {camera_id!r} of store {store.store_id!r}")
    return camera_id


CameraId = Annotated[str | None, Depends(existing_camera)]


def _resolve(start: str | None, end: str | None, max_span_s: float) -> TimeRange:
    try:
        return resolve_range(start or None, end or None, now=time.time(), max_span_s=max_span_s)
    except InvalidTimeError as e:
        raise invalid(e.param, e.message) from None


def time_range(start: FromParam = None, end: ToParam = None) -> TimeRange:
    """``from``/``to`` of routes without buckets; spans over 3 years are capped."""
    return _resolve(start, end, MAX_SPAN_S[Bucket.DAY])


Range = Annotated[TimeRange, Depends(time_range)]


@dataclass(frozen=True)
class SeriesWindow:
    range: TimeRange
    bucket: Bucket


def series_window(start: FromParam = None, end: ToParam = None, bucket: BucketParam = Bucket.HOUR) -> SeriesWindow:
    """``from``/``to``/``bucket`` of series; hourly series span at most 92 days, daily ones 3 years."""
    return SeriesWindow(_resolve(start, end, MAX_SPAN_S[bucket]), bucket)


Window = Annotated[SeriesWindow, Depends(series_window)]


def series_request(ctx: Context, store: Store, window: Window) -> SeriesRequest:
    """A series' store, range and buckets (the store's local ones), and the rule for missing data."""
    return SeriesRequest(store, window.range, window.bucket, time.time(), ctx.settings.gaps)


Series = Annotated[SeriesRequest, Depends(series_request)]

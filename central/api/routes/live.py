"""``GET /stores/{store_id}/live``: Server-Sent Events of track summaries as they arrive.

Each summary is ``event: summary`` with its JSON as ``data`` (and its track id
as ``id``). An idle stream gets a comment every ``sse_keepalive_s`` so proxies
keep it open. A stream ends after ``limit`` events or ``live_max_s``; browsers'
EventSource reconnects by itself. The route holds no database connection while
it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from central.api.deps import CameraFilter, Context, StoreIdPath
from central.api.errors import not_found, responses
from central.api.queries import stores as store_queries
from central.api.queries import tracks as track_queries
from central.live import LiveFeed

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/stores/{store_id}", tags=["live"])

RETRY_MS = 3000


def format_event(event: dict[str, Any]) -> bytes:
    """One SSE event. A stored summary row (what ingest publishes) is sent as ``/tracks`` shows it."""
    payload: Any = event
    if event.keys() >= track_queries.TRACK_COLUMNS:
        try:
            payload = track_queries.track_out(event).model_dump(mode="json")
        except (ValueError, TypeError, KeyError) as e:
            logger.warning("store %s: live event sent as published, not as a track: %s", event.get("store_id"), e)
    data = orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)  # one line: orjson never indents
    track_id = event.get("track_id")
    head = f"id: {track_id}\n".encode() if isinstance(track_id, str) and track_id.isprintable() else b""
    return b"event: summary\n" + head + b"data: " + data + b"\n\n"


async def stream_events(
    feed: LiveFeed, store_id: str, camera_id: str | None, limit: int | None, keepalive_s: float, max_s: float
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    events = feed.subscribe(store_id)
    # The subscription exists once the generator waits on its queue: start it before telling the client.
    pending: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(events.__anext__())
    try:
        await asyncio.sleep(0)
        yield f"retry: {RETRY_MS}\n: subscribed to store {store_id}\n\n".encode()
        sent = 0
        while limit is None or sent < limit:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait({pending}, timeout=min(keepalive_s, remaining))
            if not done:
                if loop.time() < deadline:
                    yield b": keep-alive\n\n"
                continue
            event = pending.result()
            pending = asyncio.ensure_future(events.__anext__())
            if camera_id is not None and event.get("camera_id") != camera_id:
                continue
            yield format_event(event)
            sent += 1
    finally:
        if pending.done():
            # the subscription waits at its yield: closing it runs its clean-up without awaiting anything
            with contextlib.suppress(BaseException):
                pending.result()
            if isinstance(events, AsyncGenerator):
                await events.aclose()
        else:
            pending.cancel()  # throws into the subscription's wait; its clean-up removes the subscriber


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`event: summary` / `data: <summary JSON>` per arriving summary, comments as keep-alives",
        },
        **responses(404),
    },
    summary="Server-Sent Events of the store's arriving track summaries",
)
async def live(
    ctx: Context,
    store_id: StoreIdPath,
    camera_id: CameraFilter = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="end the stream after this many")] = None,
) -> StreamingResponse:
    def find() -> store_queries.StoreRef | None:
        with ctx.engine.connect() as conn:
            return store_queries.find_store(conn, store_id)

    if await run_in_threadpool(find) is None:
        raise not_found(f"store {store_id!r}")
    settings = ctx.settings
    return StreamingResponse(
        stream_events(ctx.feed, store_id, camera_id, limit, settings.sse_keepalive_s, settings.live_max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

"""``GET /stores/{store_id}/live``: Server-Sent Events of track summaries as they arrive.

Each summary is ``event: summary`` with its JSON as ``data`` (and its track id
as ``id``). An idle stream gets a comment every ``sse_keepalive_s`` so proxies
keep it open. A stream ends after ``limit`` events or ``live_max_s``; browsers'
EventSource reconnects by itself. The route holds no database connection while
it streams.

A stream that falls behind by more than ``live.subscriber_buffer`` summaries
loses the oldest and gets ``event: dropped`` with ``{"dropped": N, "reason":
...}`` before the summaries that follow. Streams are capped per API key (429)
and per process (503); see :mod:`central.live`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from central.api.deps import CameraFilter, Context, StoreIdPath, Viewer
from central.api.errors import ApiError, ErrorResponse, not_found, responses
from central.api.queries import stores as store_queries
from central.live import SubscriberLimitError, Subscription, dropped_frame

router = APIRouter(prefix="/stores/{store_id}", tags=["live"])

RETRY_MS = 3000


async def stream_events(
    sub: Subscription, limit: int | None, keepalive_s: float, max_s: float, buffer: int
) -> AsyncIterator[bytes]:
    """The stream's bytes: what waits in the subscription, as one chunk per wake-up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    yield f"retry: {RETRY_MS}\n: subscribed to store {sub.store_id}\n\n".encode()
    sent = 0
    while limit is None or sent < limit:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        if not await sub.wait(min(keepalive_s, remaining)):
            if loop.time() < deadline:
                yield b": keep-alive\n\n"
            continue
        frames, dropped = sub.take(None if limit is None else limit - sent)
        sent += len(frames)
        if dropped:
            frames.insert(0, dropped_frame(dropped, buffer))
        yield b"".join(frames)


class LiveResponse(StreamingResponse):
    """A streaming response that calls ``on_close`` however it ends (finished, client gone, cancelled)."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`event: summary` / `data: <summary JSON>` per arriving summary, comments as keep-alives",
        },
        **responses(404, 429),
        503: {"model": ErrorResponse, "description": "the server has as many live streams open as it may"},
    },
    summary="Server-Sent Events of the store's arriving track summaries",
)
async def live(
    ctx: Context,
    principal: Viewer,
    store_id: StoreIdPath,
    camera_id: CameraFilter = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="end the stream after this many")] = None,
) -> StreamingResponse:
    def find() -> store_queries.StoreRef | None:
        with ctx.engine.connect() as conn:
            return store_queries.find_store(conn, store_id)

    if await run_in_threadpool(find) is None:
        raise not_found(f"store {store_id!r}")
    try:
        sub = ctx.feed.subscribe(principal.key_id, store_id, camera_id)
    except SubscriberLimitError as e:
        if e.scope == "key":
            raise ApiError(
                429, f"API key {principal.key_id!r} already has {e.limit} live streams open; close one first"
            ) from None
        raise ApiError(503, f"this server already serves {e.limit} live streams; retry later") from None
    settings = ctx.settings
    return LiveResponse(
        stream_events(sub, limit, settings.sse_keepalive_s, settings.live_max_s, ctx.feed.config.subscriber_buffer),
        on_close=lambda: ctx.feed.unsubscribe(sub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

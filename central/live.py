"""Arriving track summaries fanned out to live subscribers (the REST API's Server-Sent Events).

In-process: each replica streams what it ingested itself. The work is split so
that ingest never waits for a subscriber:

- the commit thread hands each stored push over with :meth:`LiveFeed.publish`,
  which appends a callable to a queue and returns (it does not even build the
  rows);
- one fan-out thread builds the rows, encodes each summary once as its SSE
  frame (bytes shared by every subscriber it goes to), and appends one
  reference per push to each subscriber's buffer;
- each subscriber's stream (on the event loop) takes everything waiting in its
  buffer and writes it as one chunk.

Everything is bounded by :class:`~central.config.LiveConfig`: a subscriber
that does not keep up loses its oldest summaries and is told how many with an
``event: dropped`` before the next ones; if the fan-out thread itself falls
behind, the oldest pushes waiting for it are dropped and counted the same way
for their store's subscribers. The number of subscribers is capped per API key
and in total (:class:`SubscriberLimitError`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from central.api.queries import tracks as track_queries
from central.config import LiveConfig

logger = logging.getLogger(__name__)

Rows = Callable[[], Sequence[Mapping[str, Any]]]


def summary_frame(event: Mapping[str, Any]) -> bytes:
    """One ``event: summary`` SSE frame. A stored summary row (what ingest publishes) is sent as ``/tracks``
    shows it; anything else as published."""
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


def dropped_frame(dropped: int, buffer: int) -> bytes:
    """The ``event: dropped`` frame a subscriber gets before the summaries that follow a loss."""
    data = orjson.dumps(
        {
            "dropped": dropped,
            "reason": f"this stream fell behind: more than {buffer} summaries were waiting to be sent, "
            "the oldest were dropped",
        }
    )
    return b"event: dropped\ndata: " + data + b"\n\n"


@dataclass(frozen=True, slots=True)
class Frame:
    """One summary as encoded: its camera (to pick what subscribers of one camera get) and its SSE bytes."""

    camera_id: object
    data: bytes


@dataclass(frozen=True)
class LiveStats:
    """The feed at one moment, for operators and tests."""

    subscribers: int
    buffered: int  # summaries waiting in subscribers' buffers, all together
    pending: int  # stored summaries waiting for the fan-out thread
    dropped: int  # summaries lost by subscribers since the feed started, all together


class SubscriberLimitError(Exception):
    """No more subscribers: ``scope`` says whose limit (the API key's or the process's) was reached."""

    def __init__(self, scope: Literal["key", "total"], limit: int) -> None:
        super().__init__(f"{scope} limit of {limit} live streams reached")
        self.scope = scope
        self.limit = limit


class Subscription:
    """One subscriber's bounded buffer of frames. Filled by the fan-out thread, emptied on its event loop."""

    def __init__(self, feed: LiveFeed, key_id: str, store_id: str, camera_id: str | None) -> None:
        self.key_id = key_id
        self.store_id = store_id
        self.camera_id = camera_id
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._chunks: deque[Sequence[bytes]] = deque()  # guarded by the feed's lock, as are the counts below
        self._buffered = 0
        self._dropped = 0  # lost since the last take
        self._waiter: asyncio.Future[None] | None = None

    def _offer(self, frames: Sequence[bytes], limit: int) -> asyncio.Future[None] | None:
        """Buffer ``frames``, dropping the oldest past ``limit`` (the feed's lock held); returns the stream's
        waiter to wake, if it waits."""
        self._chunks.append(frames)
        self._buffered += len(frames)
        excess = self._buffered - limit
        if excess > 0:
            self._buffered -= excess
            self._dropped += excess
            while excess > 0:
                head = self._chunks[0]
                if len(head) <= excess:
                    self._chunks.popleft()
                    excess -= len(head)
                else:
                    self._chunks[0] = head[excess:]
                    excess = 0
        return self._waiter

    async def wait(self, timeout: float) -> bool:
        """Whether frames or a loss are waiting, after waiting up to ``timeout`` seconds for them."""
        with self._feed._lock:
            if self._buffered or self._dropped:
                return True
            waiter = self._waiter = self._loop.create_future()
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            with self._feed._lock:
                self._waiter = None
            waiter.cancel()
        with self._feed._lock:
            return bool(self._buffered or self._dropped)

    def take(self, most: int | None = None) -> tuple[list[bytes], int]:
        """Up to ``most`` waiting frames, oldest first, and how many were lost before them."""
        with self._feed._lock:
            out: list[bytes] = []
            while self._chunks and (most is None or len(out) < most):
                head = self._chunks.popleft()
                room = len(head) if most is None else min(len(head), most - len(out))
                out.extend(head[:room])
                if room < len(head):
                    self._chunks.appendleft(head[room:])
            self._buffered -= len(out)
            dropped, self._dropped = self._dropped, 0
            return out, dropped


class LiveFeed:
    """Live subscribers per store, and the thread that fans stored summaries out to them."""

    def __init__(self, config: LiveConfig | None = None, encode: Callable[[Mapping[str, Any]], bytes] = summary_frame):
        self.config = config or LiveConfig()
        self._encode = encode
        self._lock = threading.Lock()
        self._by_store: dict[str, set[Subscription]] = {}
        self._per_key: dict[str, int] = {}
        self._count = 0
        self._pending: deque[tuple[str, Rows, int]] = deque()  # (store, its rows, how many) from the commit thread
        self._pending_rows = 0
        self._ready = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.dropped = 0  # summaries lost by subscribers, all together (see stats())
        self._published: dict[str, int] = {}  # summaries stored per store, see published()

    # --- ingest side (any thread) --------------------------------------------------------------

    def publish(self, store_id: str, rows: Rows, count: int) -> None:
        """Hand over ``count`` stored summaries of ``store_id``; ``rows`` makes them, in the fan-out thread.

        O(1): called by the commit thread after each commit, it never waits for a subscriber.
        """
        with self._lock:
            # one counter per store (stores are created by an admin: bounded), read by dashboard pages
            self._published[store_id] = self._published.get(store_id, 0) + count
            if not self._by_store.get(store_id) or self._closed:
                return
            self._pending.append((store_id, rows, count))
            self._pending_rows += count
            while self._pending_rows > self.config.max_pending and len(self._pending) > 1:
                lost_store, _, lost = self._pending.popleft()
                self._pending_rows -= lost
                for sub in self._by_store.get(lost_store, ()):
                    sub._dropped += lost  # never buffered: only counted
                    self.dropped += lost
            self._ready.notify()

    def published(self, store_id: str) -> int:
        """Summaries of ``store_id`` stored through this process since it started: a page redraws when it moves."""
        return self._published.get(store_id, 0)

    def published_total(self) -> int:
        """Summaries of every store stored through this process since it started."""
        with self._lock:
            return sum(self._published.values())

    # --- subscriber side (the event loop) ------------------------------------------------------

    def subscribe(self, key_id: str, store_id: str, camera_id: str | None = None) -> Subscription:
        """A new subscriber, or :class:`SubscriberLimitError` when its key or the process is full."""
        with self._lock:
            if self._count >= self.config.max_subscribers:
                raise SubscriberLimitError("total", self.config.max_subscribers)
            if self._per_key.get(key_id, 0) >= self.config.max_subscribers_per_key:
                raise SubscriberLimitError("key", self.config.max_subscribers_per_key)
            sub = Subscription(self, key_id, store_id, camera_id)
            self._by_store.setdefault(store_id, set()).add(sub)
            self._per_key[key_id] = self._per_key.get(key_id, 0) + 1
            self._count += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._fan_out, name="live-fanout", daemon=True)
                self._thread.start()
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub`` (again is harmless): its slot is free for the next subscriber."""
        with self._lock:
            subs = self._by_store.get(sub.store_id)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._by_store[sub.store_id]
            self._per_key[sub.key_id] -= 1
            if not self._per_key[sub.key_id]:
                del self._per_key[sub.key_id]
            self._count -= 1

    @property
    def subscribers(self) -> int:
        with self._lock:
            return self._count

    def stats(self) -> LiveStats:
        with self._lock:
            buffered = sum(sub._buffered for subs in self._by_store.values() for sub in subs)
            return LiveStats(self._count, buffered, self._pending_rows, self.dropped)

    def close(self) -> None:
        """Stop the fan-out thread (when the server stops); publishing afterwards does nothing."""
        with self._lock:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(5)

    # --- the fan-out thread --------------------------------------------------------------------

    def _fan_out(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                # one push at a time, its subscribers woken before the next: a backlog reaches them as it
                # is worked off instead of all at once past their buffers
                store_id, rows, count = self._pending.popleft()
                self._pending_rows -= count
            wake: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            try:
                self._deliver(store_id, rows, wake)
            except Exception:  # a bad row must not end the feed for every store
                logger.exception("store %s: live summaries not sent", store_id)
            for loop, waiters in wake.items():
                try:
                    loop.call_soon_threadsafe(_wake_all, waiters)
                except RuntimeError:  # that loop has closed: its streams are gone
                    logger.debug("live feed: a subscriber's event loop is closed")

    def _deliver(
        self, store_id: str, rows: Rows, wake: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]]
    ) -> None:
        with self._lock:
            if not self._by_store.get(store_id):  # its subscribers left since the push was handed over
                return
        frames = [Frame(row.get("camera_id"), self._encode(row)) for row in rows()]  # once per summary
        if not frames:
            return
        every = tuple(f.data for f in frames)  # what each subscriber's buffer holds: references to these bytes
        by_camera: dict[object, tuple[bytes, ...]] | None = None
        limit = self.config.subscriber_buffer
        with self._lock:
            for sub in self._by_store.get(store_id, ()):
                chunk = every
                if sub.camera_id is not None:
                    if by_camera is None:
                        by_camera = _group_by_camera(frames)
                    chunk = by_camera.get(sub.camera_id, ())
                if not chunk:
                    continue
                before = sub._dropped
                waiter = sub._offer(chunk, limit)
                self.dropped += sub._dropped - before
                if waiter is not None:
                    wake.setdefault(sub._loop, []).append(waiter)


def _group_by_camera(frames: Sequence[Frame]) -> dict[object, tuple[bytes, ...]]:
    groups: dict[object, list[bytes]] = {}
    for frame in frames:
        groups.setdefault(frame.camera_id, []).append(frame.data)
    return {camera: tuple(group) for camera, group in groups.items()}


def _wake_all(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)

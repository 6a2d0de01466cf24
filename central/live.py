"""Arriving track summaries fanned out to live subscribers (the REST API's Server-Sent Events).

In-process: each replica streams what it ingested itself. Subscribers that do
not keep up lose the oldest events (counted), never slow down ingest.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Subscription:
    store_id: str | None
    queue: asyncio.Queue[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    dropped: int = 0


@dataclass
class LiveFeed:
    queue_size: int = 1000
    _subs: set[Subscription] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, store_id: str, events: list[dict[str, Any]]) -> None:
        """Called from any thread after a commit."""
        with self._lock:
            subs = [s for s in self._subs if s.store_id in (None, store_id)]
        for sub in subs:
            sub.loop.call_soon_threadsafe(self._offer, sub, events)

    @staticmethod
    def _offer(sub: Subscription, events: list[dict[str, Any]]) -> None:
        for event in events:
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)

    async def subscribe(self, store_id: str | None) -> AsyncIterator[dict[str, Any]]:
        sub = Subscription(store_id, asyncio.Queue(self.queue_size), asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        try:
            while True:
                yield await sub.queue.get()
        finally:
            with self._lock:
                self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

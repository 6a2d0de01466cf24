"""Bounds on HTTP connections that uvicorn does not set by itself, and a quiet accept loop when files run out.

uvicorn's h11 protocol closes an idle keep-alive connection, but waits forever
for the head of a request that never completes (slowloris), and its
``limit_concurrency`` answers 503 only once a request has arrived: a crowd of
silent connections holds a file descriptor each until the process has none left
for gRPC. :func:`bounded_h11` adds both bounds: a connection past
``max_connections`` (live streams count) is answered 503 and closed at once, and
a request not wholly received within ``request_timeout_s`` is closed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

_BUSY_BODY = b'{"error":"unavailable","detail":"too many open HTTP connections; retry shortly"}'
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)
# h11 states of the client's side while its request is still arriving
_RECEIVING = (h11.IDLE, h11.SEND_BODY)


class _RefusalLog:
    """Refused connections logged once per interval, counted, rather than one line each."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self._interval_s = interval_s
        self._count = 0
        self._last = -float("inf")

    def note(self) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            logger.warning("HTTP connections refused (503) for being past http.max_connections: %d", self._count)
            self._last, self._count = now, 0


# a refused connection lingers this long for the client to read its 503, so that refusals hold descriptors
# for a second each, not for a whole request deadline
REFUSED_LINGER_S = 1.0


def bounded_h11(max_connections: int, request_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a cap on open connections and a deadline for each request to arrive."""
    refusals = _RefusalLog()  # one per server, not per process

    class BoundedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _refused = False
        _upgraded = False  # handed over to a websocket: no request deadline applies any more

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self._refused = True
                refusals.note()
                # half-close after the answer and drop what the client sends: closing with its request
                # unread would reset the connection and lose the 503; it goes at the client's EOF or shortly after
                transport.write(BUSY_RESPONSE)
                transport.write_eof()
                self._deadline = self.loop.call_later(min(request_timeout_s, REFUSED_LINGER_S), transport.close)
                return
            self._arm()  # the first request must arrive in time too

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)
            if not self._upgraded and self.conn.their_state in _RECEIVING and not self.transport.is_closing():
                self._arm()  # armed once per request: a byte now and then does not push it back
            else:
                self._disarm()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            self._upgraded = True  # the transport now belongs to the websocket: no deadline may close it
            self._disarm()
            super().handle_websocket_upgrade(event)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # from here the keep-alive timeout of uvicorn applies until the next byte

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(request_timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state in _RECEIVING and not self.transport.is_closing():
                self.transport.close()

    return BoundedH11Protocol


_OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class QuietAcceptErrors:
    """An event loop exception handler logging accept() failures for lack of files once per interval, counted.

    asyncio logs each failed accept() with its traceback and retries a second
    later, per listening socket; under a crowd of clients that is a flood of
    identical tracebacks. Every other exception goes to the previous handler.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval_s: float = 60.0) -> None:
        self._previous = loop.get_exception_handler()
        self._interval_s = interval_s
        self._suppressed = 0
        self._last = -float("inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_FILES:
            now = time.monotonic()
            if now - self._last < self._interval_s:
                self._suppressed += 1
                return
            logger.error(
                "cannot accept connections: %s (%d more such failures in the last %.0f s; "
                "raise LimitNOFILE or lower http.max_connections)",
                exc,
                self._suppressed,
                self._interval_s,
            )
            self._last, self._suppressed = now, 0
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

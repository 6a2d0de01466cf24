"""A real uvicorn server for the REST API on 127.0.0.1 (any free port), in a thread of the test process.

It speaks HTTP with the protocol ``retail-central serve`` uses (:func:`central.http_limits.bounded_h11`), not
uvicorn's "auto" choice, which takes httptools wherever that is installed (Panel's FastAPI extra brings it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from central.config import HttpConfig
from central.http_limits import bounded_h11


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            http=bounded_h11(HttpConfig().max_connections, HttpConfig().request_timeout_s),
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)

"""``retail-central serve``: the gRPC ingest and the REST API in one process, stopped gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Generator

import uvicorn

from central.config import CentralConfig
from central.db.checkpoint import WalCheckpointer
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.grpc_service import grpc_server
from central.http_limits import QuietAcceptErrors, bounded_h11
from central.live import LiveFeed
from central.rollout.planner import Planner

logger = logging.getLogger(__name__)

GRACE_S = 10.0
# How long a thread may hold the GIL while another waits for it (Python's default is 5 ms). Ingest's
# commit thread waits for the GIL after every database call while the check thread converts the next
# push; 1 ms measured 10 % more summaries per second than 5 ms, 0.2 ms less again.
SWITCH_INTERVAL_S = 0.001
# file descriptors kept beyond http.max_connections: gRPC agents, the database pool, logs
FD_RESERVE = 1024


def raise_file_limit(max_connections: int) -> int:
    """Raise the soft limit on open files to the hard one; refuse to start when HTTP could take too many.

    Each HTTP connection holds a file descriptor: ``FD_RESERVE`` of them stay for
    gRPC agents, the database pool and logs, so a crowd of HTTP clients cannot
    starve ingest.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard not in (resource.RLIM_INFINITY, soft):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and max_connections + FD_RESERVE > soft:
        raise OSError(
            f"http.max_connections={max_connections} leaves fewer than {FD_RESERVE} of the process's {soft} "
            "file descriptors for gRPC and the database: raise LimitNOFILE (ulimit -n) or lower http.max_connections"
        )
    return int(soft)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: :func:`serve` stops gRPC and HTTP together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(config: CentralConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT; in-flight pushes finish (up to ``GRACE_S``) before the database closes."""
    from central.api.app import create_app  # noqa: PLC0415 - FastAPI is only needed when serving
    from central.api.deps import ApiSettings  # noqa: PLC0415
    from central.dashboard.mount import mount_dashboard  # noqa: PLC0415 - Panel is only needed when serving

    raise_file_limit(config.http.max_connections)
    # FastAPI runs up to 40 sync handlers at once: a pool that size keeps them from queueing for a connection
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    engine = make_engine(config.database_url, pool_size=20, max_overflow=20)
    revision = upgrade(engine)
    feed = LiveFeed(config.live)
    server, grpc_port = grpc_server(config, engine, feed)
    limits = config.http
    settings = ApiSettings(
        auth=config.auth,
        max_png_renders=limits.max_png_renders,
        max_png_side_px=limits.max_png_side_px,
        responses=config.responses,
        gaps=config.gaps,
        backgrounds=config.backgrounds,
        rollout=config.rollout,
    )
    app = create_app(engine, feed, settings)
    mount_dashboard(app, config.dashboard, secure_cookie=config.dashboard.secure_cookie)
    http = _Uvicorn(
        uvicorn.Config(
            app,
            host=limits.host,
            port=limits.port,
            log_level="warning",
            lifespan="on",
            http=bounded_h11(limits.max_connections, limits.request_timeout_s),
            timeout_keep_alive=limits.keepalive_timeout_s,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(QuietAcceptErrors(loop))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with WalCheckpointer(engine):  # SQLite: commits stay short while a thread copies the WAL back
        await server.start()
        http_task = asyncio.create_task(http.serve())
        while not http.started and not http_task.done():
            await asyncio.sleep(0.02)
        if http_task.done():
            await server.stop(0)
            http_task.result()
            raise OSError(f"cannot serve HTTP on {config.http.host}:{config.http.port}")
        http_port = http.servers[0].sockets[0].getsockname()[1]
        planner = asyncio.create_task(Planner(engine, config.rollout).run(stop))
        logger.info("database %s at revision %s", engine.url.render_as_string(hide_password=True), revision)
        # one line each, flushed: scripts and tests read the ports from here
        print(f"gRPC ingest on {config.grpc.host}:{grpc_port}", flush=True)
        print(f"REST API on http://{config.http.host}:{http_port}/api/v1 (docs at /docs)", flush=True)
        print(f"dashboard on http://{config.http.host}:{http_port}/dashboard", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("stopping: finishing in-flight calls (up to %.0f s)", GRACE_S)
        http.should_exit = True
        await server.stop(GRACE_S)
        await http_task
        await planner
    feed.close()
    engine.dispose()
    logger.info("stopped")

"""Mounts the dashboard in central's FastAPI app: the login routes and the Panel application at ``/dashboard``.

Panel's FastAPI integration (``panel.io.fastapi``, on ``bokeh_fastapi``) adds the
page, its websocket and its component routes at top-level paths, plus Bokeh's own
``/static``; the app mounts no ``/static`` of its own. Those routes are registered
while the router's dependencies hold :func:`require_session`, so every one of
them checks the login cookie. The Bokeh session token embedded in the page is
signed and carries only the key's public id: the cookie itself is kept out of it,
so page scripts never see it (it is HttpOnly).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bokeh.document import Document
from fastapi import Depends, FastAPI
from panel.io.application import Application as PanelApplication
from panel.io.fastapi import add_applications
from panel.io.handlers import FunctionHandler
from panel.io.state import set_curdoc
from sqlalchemy import Engine, select

from central.api.deps import ApiContext
from central.api.sessions import COOKIE, DashboardSession, KeyLookup, SessionCodec
from central.auth import Role
from central.config import DashboardConfig
from central.dashboard.login import (
    DASHBOARD_PATH,
    DashboardState,
    LoginRequiredError,
    TooManySessionsError,
    login_router,
    require_session,
    to_login,
    too_many_sessions,
)
from central.dashboard.page import DashboardPage
from central.db.schema import api_keys

logger = logging.getLogger(__name__)
TITLE = "Retail analytics"


def key_lookup(engine: Engine) -> KeyLookup:
    def lookup(key_id: str) -> tuple[str, Role] | None:
        if len(key_id) > 32:
            return None
        with engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.name, api_keys.c.role).where(
                    api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
                )
            ).first()
        return (row.name, Role(row.role)) if row is not None else None

    return lookup


class _DashboardApplication(PanelApplication):
    """The Panel application, told at each page request which key is logged in (from the checked cookie)."""

    def __init__(self, ctx: ApiContext, state: DashboardState, config: DashboardConfig) -> None:
        super().__init__(FunctionHandler(self._build))
        self._ctx = ctx
        self._state = state
        self._config = config

    def process_request(self, request: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().process_request(request)
        morsel = request.cookies.get(COOKIE)
        session = self._state.codec.decode(morsel.value if morsel is not None else None)
        data["dashboard_key"] = session.key_id if session is not None else ""
        return data

    def _build(self, doc: Document) -> None:
        context: Any = doc.session_context
        key_id = context.token_payload.get("dashboard_key", "") if context is not None else ""
        found = self._state.codec.lookup(key_id) if key_id else None
        if found is None:  # the guard already refused such a request; a document is never built without a login
            raise PermissionError("dashboard session without a login")
        session = DashboardSession(key_id, found[0], found[1])
        self._state.open_sessions += 1

        def closed(_context: Any) -> None:
            self._state.open_sessions -= 1

        doc.on_session_destroyed(closed)
        with set_curdoc(doc):
            request = context.request if context is not None else None
            args = dict(getattr(request, "arguments", None) or {})
            page = DashboardPage(self._ctx, session, self._config, args)
            page.layout.server_doc(doc, title=TITLE)


def mount_dashboard(app: FastAPI, config: DashboardConfig, secure_cookie: bool = False) -> None:
    """Add ``/login``, ``/logout`` and the Panel app at ``/dashboard`` to central's app (after ``create_app``)."""
    ctx: ApiContext = app.state.api
    secret = config.session_secret.get_secret_value() if config.session_secret is not None else None
    if secret is None:
        logger.warning("dashboard.session_secret is not set: logins end when central restarts")
    codec = SessionCodec(secret, config.session_max_age_s, key_lookup(ctx.engine))
    state = DashboardState(codec, config.max_sessions)
    app.state.dashboard = state
    app.include_router(login_router(secure_cookie))
    app.add_exception_handler(LoginRequiredError, to_login)
    app.add_exception_handler(TooManySessionsError, too_many_sessions)
    # Bokeh signs its session tokens with a key derived from the cookie's, so a page cannot forge its payload
    token_key = hashlib.sha256(b"bokeh-token:" + codec.secret_bytes).hexdigest().encode()
    previous = list(app.router.dependencies)
    app.router.dependencies = [*previous, Depends(require_session)]
    try:
        apps: dict[str, Any] = {DASHBOARD_PATH: _DashboardApplication(ctx, state, config)}
        add_applications(
            apps,
            app=app,
            title=TITLE,
            secret_key=token_key,
            sign_sessions=True,
            exclude_cookies=[COOKIE],
            exclude_headers=["Cookie", "cookie"],
        )
    finally:
        app.router.dependencies = previous

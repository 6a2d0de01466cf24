"""The login page, logout, and the guard that keeps the dashboard's page, websocket and resources behind a login.

``GET /login`` shows a form that takes an API key; ``POST /login`` checks it the
way the REST API does (throttled scrypt) and sets the session cookie;
``POST /logout`` clears it. :func:`require_session` is the FastAPI dependency the
Panel routes are registered with: typed ``HTTPConnection`` so the same function
guards the websocket (closed with 1008) and plain requests (redirected to the
login page).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, WebSocketException, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection

from central.api.deps import ApiContext
from central.api.sessions import COOKIE, DashboardSession, SessionCodec
from central.auth import AuthRefusedError

DASHBOARD_PATH = "/dashboard"
LOGIN_PATH = "/login"
MAX_KEY_CHARS = 200
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f3b5a"/>'
    b'<path d="M3 12V7h2v5zm4 0V4h2v8zm4 0V8h2v4z" fill="white"/></svg>'
)


@dataclass
class DashboardState:
    """What the login routes, the guard and the Panel app share (``app.state.dashboard``)."""

    codec: SessionCodec
    max_sessions: int
    open_sessions: int = 0


class LoginRequiredError(Exception):
    """No valid session on a dashboard request: answered with a redirect to the login page."""

    def __init__(self, wanted: str = DASHBOARD_PATH) -> None:
        super().__init__(wanted)
        self.wanted = wanted


class TooManySessionsError(Exception):
    """``dashboard.max_sessions`` pages are open in this process: answered 503."""


def dashboard_state(conn: HTTPConnection) -> DashboardState:
    state: DashboardState = conn.app.state.dashboard
    return state


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a dashboard address of this server only (never another site)."""
    if target and target.startswith(DASHBOARD_PATH) and "//" not in target and "\\" not in target and len(target) < 512:
        return target
    return DASHBOARD_PATH


def require_session(conn: HTTPConnection) -> DashboardSession:
    """The logged-in session of a dashboard request; a websocket without one is closed, a page redirected."""
    state = dashboard_state(conn)
    session = state.codec.of(conn)
    if session is None:
        if conn.scope["type"] == "websocket":
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="login required")
        query = f"?{conn.url.query}" if conn.url.query else ""
        raise LoginRequiredError(conn.url.path + query)
    if conn.scope["type"] == "http" and conn.url.path == DASHBOARD_PATH and state.open_sessions >= state.max_sessions:
        raise TooManySessionsError
    return session


def _page(message: str = "", code: int = 200, wanted: str = DASHBOARD_PATH) -> HTMLResponse:
    notice = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retail analytics: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; justify-content: center;
       align-items: center; min-height: 90vh; margin: 0; }}
form {{ background: white; padding: 2em 2.5em; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 24em; }}
h1 {{ font-size: 1.3em; margin-top: 0; }}
label {{ display: block; margin-bottom: .4em; color: #333; }}
input {{ width: 100%; box-sizing: border-box; padding: .6em; font-family: monospace; font-size: .95em; }}
button {{ margin-top: 1em; padding: .6em 1.4em; background: #1f5fa8; color: white; border: 0; border-radius: 4px;
         font-size: 1em; cursor: pointer; }}
.error {{ color: #b00020; }}
.hint {{ color: #666; font-size: .85em; }}
</style></head>
<body><form method="post" action="{LOGIN_PATH}">
<h1>Retail analytics dashboard</h1>{notice}
<label for="api_key">API key</label>
<input id="api_key" name="api_key" type="password" autocomplete="off" required maxlength="{MAX_KEY_CHARS}"
       placeholder="key_id.secret">
<p class="hint">A key from <code>retail-central apikeys create</code> (viewer or admin).</p>
<input type="hidden" name="next" value="{html.escape(safe_next(wanted))}">
<button type="submit">Log in</button>
</form></body></html>"""
    return HTMLResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


def login_router(secure_cookie: bool) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(LOGIN_PATH)
    def login_page(request: Request, next: str | None = None) -> Response:
        if dashboard_state(request).codec.of(request) is not None:
            return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        return _page(wanted=safe_next(next))

    @router.post(LOGIN_PATH)
    def login(
        request: Request,
        api_key: Annotated[str, Form(max_length=MAX_KEY_CHARS)] = "",
        next: Annotated[str, Form(max_length=512)] = DASHBOARD_PATH,
    ) -> Response:
        ctx: ApiContext = request.app.state.api
        state = dashboard_state(request)
        peer = request.client.host if request.client is not None else "unknown"
        try:
            principal = ctx.keys.authenticate(api_key.strip(), peer)
        except AuthRefusedError as e:
            return _page(str(e), status.HTTP_429_TOO_MANY_REQUESTS, next)
        if principal is None:
            message = "That API key was not accepted: unknown, revoked or mistyped."
            return _page(message, status.HTTP_401_UNAUTHORIZED, next)
        cookie = state.codec.encode(DashboardSession(principal.key_id, principal.name, principal.role))
        response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=state.codec.max_age_s,
            httponly=True,
            samesite="strict",
            secure=secure_cookie,
            path="/",
        )
        return response

    @router.get("/favicon.ico")
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router


def to_login(_request: Request, exc: Exception) -> Response:
    wanted = exc.wanted if isinstance(exc, LoginRequiredError) else DASHBOARD_PATH
    target = LOGIN_PATH if wanted == DASHBOARD_PATH else f"{LOGIN_PATH}?{urlencode({'next': safe_next(wanted)})}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def too_many_sessions(_request: Request, _exc: Exception) -> Response:
    return HTMLResponse(
        "<p>Too many dashboard pages are open on this server right now; try again in a minute.</p>",
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "30"},
    )

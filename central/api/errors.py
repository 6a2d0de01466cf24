"""Every error of the REST API is JSON ``{"error": <code>, "detail": <message or list>}``.

``error`` is a stable code a client can branch on; ``detail`` says what was wrong
with which value. Nothing a client sends may produce a 500: unexpected failures
are logged with their traceback and answered with a JSON 500 all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

logger = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    409: "conflict",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class FieldProblem(BaseModel):
    loc: str = Field(description="where the bad value is, e.g. `query.from`")
    msg: str = Field(description="what is wrong with it")


class ErrorResponse(BaseModel):
    error: str = Field(description="stable code: bad_request, unauthorized, forbidden, not_found, invalid_request, ...")
    detail: str | list[FieldProblem] | None = Field(description="what was wrong, or one entry per bad field")


class ApiError(Exception):
    """Raised by routes and dependencies; turned into the JSON error above."""

    def __init__(self, status: int, detail: str | list[FieldProblem], headers: dict[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else "; ".join(p.msg for p in detail))
        self.status = status
        self.detail = detail
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def invalid(param: str, message: str, location: str = "query") -> ApiError:
    return ApiError(422, [FieldProblem(loc=f"{location}.{param}", msg=message)])


def _body(status: int, detail: Any) -> dict[str, Any]:
    return {"error": CODES.get(status, "error"), "detail": detail}


def _dump(detail: str | list[FieldProblem]) -> Any:
    return detail if isinstance(detail, str) else [p.model_dump() for p in detail]


def _problem(error: Mapping[str, Any], pattern_hints: Mapping[str, str]) -> dict[str, str]:
    loc = tuple(str(part) for part in error.get("loc", ()))
    msg = str(error.get("msg", "invalid value"))
    hint = pattern_hints.get(str((error.get("ctx") or {}).get("pattern")))
    if error.get("type") == "string_pattern_mismatch" and hint is not None:
        msg = f"{loc[-1]}={error.get('input')!r} is not {hint}"
    return {"loc": ".".join(loc), "msg": msg}


def _allowed(request: Request) -> str:
    """Every method of every route whose path matches (Starlette's own 405 names only the first route's, wrong
    where two routes share a path, e.g. ``GET`` and ``POST /rollouts``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI, pattern_hints: Mapping[str, str] | None = None) -> None:
    """JSON errors for everything; ``pattern_hints`` turns "should match pattern '<regex>'" into words."""
    hints = dict(pattern_hints or {})

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.status, _dump(exc.detail)), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        headers = exc.headers
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route"
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return JSONResponse(_body(exc.status_code, detail), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(error, hints) for error in exc.errors()]
        return JSONResponse(_body(422, problems), status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # the database is down or every pooled connection is busy: the client did nothing wrong and may retry
        logger.warning("database unavailable: %s", exc)
        return JSONResponse(_body(503, "database unavailable; retry shortly"), status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_body(500, "internal error; the server log has the details"), status_code=500)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can answer."""
    text = {
        400: "malformed value (e.g. a paging cursor)",
        401: "API key missing, malformed, unknown or revoked",
        403: "the key's role may not use this route",
        404: "no such store, camera, agent, track or rollout",
        409: "the resource's state does not allow this now (e.g. a rollout that cannot be promoted); read it again",
        413: "the request body is larger than this server accepts",
        415: "the body is not of a media type this route accepts",
        422: "a parameter failed validation",
        429: "too many failed API key checks from this address or key, or as many live streams open as this key may:"
        " wait (Retry-After where given)",
        503: "the database does not answer, or the server is busy: retry after Retry-After",
    }
    return {status: {"model": ErrorResponse, "description": text[status]} for status in statuses}

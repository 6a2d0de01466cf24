"""HEAD answered wherever GET is: FastAPI routes declare GET only, so HEAD was 405 everywhere, ``/healthz`` too."""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _HeadDoneError(Exception):
    """Raised from ``send`` to end a streamed response once its head is out."""


class HeadAsGet:
    """Runs a HEAD request as the GET it stands for and sends the status and headers only.

    A streamed GET (the live feed) is ended once its head is sent: the client
    asked for nothing more.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_head(message: Message) -> None:
            nonlocal finished
            if finished:
                raise _HeadDoneError
            if message["type"] == "http.response.body":
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if message.get("more_body", False):
                    raise _HeadDoneError
                return
            await send(message)

        # Starlette's streamed responses collapse their task group's errors to this one
        with contextlib.suppress(_HeadDoneError):
            await self.app({**scope, "method": "GET"}, receive, send_head)

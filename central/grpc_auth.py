"""Store-token authentication of every gRPC call, before its request message is parsed.

grpc.aio parses a unary request before the servicer sees it, so a servicer that
checks the token itself lets an unauthenticated client make the server parse
32 MiB messages for nothing. :class:`StoreTokenInterceptor` serves each method
as a streaming one without a deserializer instead: the token in the call's
metadata is checked first (throttled and bounded by :class:`Authenticator`),
and only then is the one request message read and parsed and the servicer
called, with the token's store in :data:`AUTHENTICATED_STORE`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from central.auth import AuthBusyError, Authenticator, ThrottledError

logger = logging.getLogger(__name__)

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

AUTHENTICATED_STORE: contextvars.ContextVar[str | None] = contextvars.ContextVar("authenticated_store", default=None)


def _address(peer: str) -> str:
    """``ipv4:10.0.0.7:51234`` → ``ipv4:10.0.0.7``: failures are counted per address, not per connection."""
    address, colon, port = peer.rpartition(":")
    return address if colon and port.isdigit() else peer


class StoreTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a valid ``authorization: Bearer <store_id>.<secret>`` before reading their message."""

    def __init__(self, auth: Authenticator[str]) -> None:
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler  # unknown method (UNIMPLEMENTED), or one this service does not have
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = str(metadata.get("authorization", ""))
        return self._guarded(handler, header)

    async def _store(self, header: str, context: Context) -> str:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing store token: send metadata 'authorization: Bearer <store_id>.<secret>'",
            )
        peer = _address(context.peer())
        try:
            self._auth.precheck(token, peer)  # a throttled flood costs neither a thread nor a query
            store = await asyncio.to_thread(self._auth.authenticate, token, peer)
        except ThrottledError as e:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                str(e),
                trailing_metadata=(("retry-after", str(max(1, math.ceil(e.retry_after_s)))),),
            )
        except AuthBusyError as e:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
        if store is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid store token (unknown, rotated or mistyped)")
        return store

    @staticmethod
    async def _request(
        requests: AsyncIterator[bytes], handler: grpc.RpcMethodHandler[Any, Any], context: Context
    ) -> Any:
        raw: bytes | None = None
        async for message in requests:  # a unary method takes one message; a client could stream any number
            if raw is not None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected one request message, got more")
            raw = message
        if raw is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected one request message, got none")
        try:
            return handler.request_deserializer(raw) if handler.request_deserializer is not None else raw
        except DecodeError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request message: {e}")

    def _guarded(self, handler: grpc.RpcMethodHandler[Any, Any], header: str) -> grpc.RpcMethodHandler[Any, Any]:
        # grpc's stubs type these as the sync API's; under grpc.aio they are the servicer's coroutines
        servicer_stream: Callable[[Any, Context], AsyncIterator[Any]] = handler.unary_stream  # type: ignore[assignment]
        servicer_unary: Callable[[Any, Context], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]
        if handler.response_streaming:

            async def stream(requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[Any]:
                AUTHENTICATED_STORE.set(await self._store(header, context))
                request = await self._request(requests, handler, context)
                async for response in servicer_stream(request, context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(stream, response_serializer=handler.response_serializer)

        async def unary(requests: AsyncIterator[bytes], context: Context) -> Any:
            AUTHENTICATED_STORE.set(await self._store(header, context))
            request = await self._request(requests, handler, context)
            return await servicer_unary(request, context)

        return grpc.stream_unary_rpc_method_handler(unary, response_serializer=handler.response_serializer)

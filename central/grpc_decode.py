"""A request that is not the message it claims to be is answered INVALID_ARGUMENT, in one log line.

gRPC parses a request before the servicer runs; a parser error there answers
UNKNOWN and logs a traceback per request, which lets any client fill the logs.
:class:`MalformedRequests` gives every unary method a parser that turns the error
into a marker and a handler that answers the marker with INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

logger = logging.getLogger(__name__)


class _Malformed:
    """What the parser hands the handler for a request it could not read."""

    def __init__(self, error: str) -> None:
        self.error = error


def _reading(parse: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    def read(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError as e:
            return _Malformed(f"{method}: the request is not a valid message ({e})")

    return read


def _answering(behavior: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, _Malformed):
            logger.warning("%s from %s", request.error, context.peer())
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        return await behavior(request, context)

    return handle


class MalformedRequests(grpc.aio.ServerInterceptor):
    """Answers a request that cannot be parsed with INVALID_ARGUMENT instead of UNKNOWN and a traceback."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _answering(handler.unary_unary),
            request_deserializer=_reading(handler.request_deserializer, handler_call_details.method),
            response_serializer=handler.response_serializer,
        )

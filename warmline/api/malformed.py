"""Requests that are not protobuf messages of their method's type: `INVALID_ARGUMENT`, one line.

grpcio parses a request before any servicer sees it, and when the bytes do not parse (a client
built against other protos, a corrupt frame, a string field that is not UTF-8) it answers
`UNKNOWN` with the parser's exception text and logs an ERROR with a traceback for every such call.
This interceptor lets such a request through as a marker instead, and the method answers
`INVALID_ARGUMENT`, before authentication and without logging a traceback: it is the client's
mistake, not the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # the stubs' generic class is a plain class at run time
    _Interceptor = grpc.aio.ServerInterceptor


@dataclass(frozen=True)
class _Malformed:
    """Stands for a request whose bytes did not parse."""

    reason: str


CLIENT_GONE_WITHIN_S = 1.0
"""How long a streaming call whose write failed waits to learn that its client left (grpc then
cancels it, and nothing is logged) before the write's error is raised (and logged)."""


class MalformedRequests(_Interceptor):
    """Turns unparsable requests to unary and server-streaming methods into `INVALID_ARGUMENT`."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        parse = handler.request_deserializer
        method = handler_call_details.method

        def tolerant(data: bytes) -> Any:
            try:
                return parse(data)
            except DecodeError as error:
                return _Malformed(f"the request to {method} is not a valid message: {error}")

        if handler.response_streaming:
            stream: Any = handler.unary_stream

            # grpc.aio iterates a streaming handler that is an async generator (warmline's) and
            # awaits one that is a coroutine writing with `context.write` (grpcio's health
            # `Watch`): this wrapper is a coroutine that does either. The generator is closed
            # when the writing stops, however it stops: a write fails when the client went away
            # while the write waited for it to read. Left to the garbage collector, the generator
            # (and the watch it holds) would live as long as anything keeps the failed write's
            # traceback, such as a log handler or an error reporter. A client's leaving is no
            # error of the server's: that stream ends quietly, with nothing logged.
            async def streaming(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
                if isinstance(request, _Malformed):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
                responses: AsyncGenerator[Any, None] | Awaitable[None] = stream(request, context)
                if inspect.isawaitable(responses):
                    await responses
                    return
                async with contextlib.aclosing(responses):
                    async for response in responses:
                        try:
                            await context.write(response)
                        except Exception:
                            # The call is gone. If the client left, grpc cancels this handler
                            # as soon as it learns so, and the stream ends quietly; if not, the
                            # write's error stands.
                            await asyncio.sleep(CLIENT_GONE_WITHIN_S)
                            raise

            return grpc.unary_stream_rpc_method_handler(
                streaming,
                request_deserializer=tolerant,
                response_serializer=handler.response_serializer,
            )
        unary: Any = handler.unary_unary

        async def single(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if isinstance(request, _Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            single, request_deserializer=tolerant, response_serializer=handler.response_serializer
        )

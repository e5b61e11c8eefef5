"""The gRPC servers: one ``grpc.aio`` server per protocol, in the REST server's event loop,
every method a thin codec over :class:`pmmlkit.server.core.Server` (the same resolution,
queue, lookups, deadline and error texts as REST).

Rules shared by every method:

- the API key, when the server has one, comes as ``x-api-key`` or ``authorization: Bearer``
  metadata; the health methods (``ServerLive``, ``ServerReady``) answer without it;
- the client's deadline bounds the request, as ``--timeout`` does (the smaller wins);
- errors are gRPC status codes as TF Serving and KServe give them (:data:`CODES`), with the
  REST API's message; an unexpected failure is ``INTERNAL`` naming the exception, never a
  traceback;
- a message beyond ``max_body_bytes`` is refused by gRPC itself (``RESOURCE_EXHAUSTED``).

The servers themselves start in :mod:`pmmlkit.server.rpc.servers`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from pmmlkit.repository import NAME_PATTERN
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.rpc.tensors import MissingOutput

if TYPE_CHECKING:
    from pmmlkit.server.core import Server

log = logging.getLogger("pmmlkit.server")

#: the REST API's status -> the gRPC code for the same condition
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED, 408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.FAILED_PRECONDITION, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED, 503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class RpcError(Exception):
    """A failed call: its gRPC code and message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Call:
    """What a method learns about its call for the metrics: the model it was for."""

    context: grpc.aio.ServicerContext
    model: str = "-"

    def name_model(self, name: str) -> None:
        """The model the call is for, as the metrics label it (``-``: not a model name)."""
        self.model = name if NAME_PATTERN.match(name) else "-"

    def timeout(self) -> float | None:
        """Seconds left before the client's deadline (None: no deadline)."""
        return self.context.time_remaining()


Method = Callable[["Server", Any, Call], Awaitable[Any]]


def _failure(exc: Exception, protocol: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, RpcError):
        return exc.code, exc.message
    if isinstance(exc, HTTPError):
        return CODES.get(exc.status, grpc.StatusCode.INTERNAL), exc.message
    if isinstance(exc, BadRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, MissingOutput):
        what = "row" if protocol.startswith("v2") else "instance"
        return grpc.StatusCode.INVALID_ARGUMENT, f"{what} {exc.row}: {exc}"
    log.exception("unexpected error in a gRPC call")
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def _key(server: Server, context: grpc.aio.ServicerContext) -> bool:
    metadata = dict(context.invocation_metadata() or ())
    return server.key_ok(metadata.get("x-api-key"), str(metadata.get("authorization", "")))


def handler(server: Server, protocol: str, service: str,
            methods: dict[str, tuple[Method, Any, Any, bool]]) -> grpc.GenericRpcHandler:
    """A service's methods: ``name -> (method, request class, response class, open)``."""
    def wrap(name: str, method: Method, open_: bool) -> Any:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            call = Call(context)
            try:
                if not open_ and not _key(server, context):
                    raise RpcError(grpc.StatusCode.UNAUTHENTICATED,
                                   "a valid API key is required (metadata authorization: "
                                   "Bearer KEY, or x-api-key: KEY)")
                response = await method(server, request, call)
            except Exception as exc:  # every failure is a status with a message
                code, message = _failure(exc, protocol)
                server.metrics.request(call.model, protocol, name, code.name,
                                       time.perf_counter() - started)
                await context.abort(code, message)
            server.metrics.request(call.model, protocol, name, "OK",
                                   time.perf_counter() - started)
            return response

        return unary

    return grpc.method_handlers_generic_handler(service, {
        name: grpc.unary_unary_rpc_method_handler(
            wrap(name, method, open_), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)
        for name, (method, request, response, open_) in methods.items()})


__all__ = ["CODES", "Call", "RpcError", "handler"]

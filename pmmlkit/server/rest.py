"""REST plumbing shared by the HTTP endpoints: JSON answers, errors, the model path of a
route, and the wrapper that checks the API key, maps errors and counts every request."""


from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from pmmlkit.repository import NAME_PATTERN
from pmmlkit.server.core import Server
from pmmlkit.server.protocol import BadRequest, HTTPError

log = logging.getLogger("pmmlkit.server")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


Handler = Callable[[Server, Request], Awaitable[Response]]


def endpoint(server: Server, handler: Handler, protocol_name: str, method: str
              ) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: the API key, error mapping and metrics, once for every route."""
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        model = "-"
        try:
            if not server.authorized(request):
                response = error_response(401, "a valid API key is required (Authorization: Bearer "
                                       "KEY or X-API-Key)")
            else:
                response = await handler(server, request)
                model = request.scope.get("pmmlkit.model", "-")
        except HTTPError as exc:
            response = error_response(exc.status, exc.message)
            model = request.scope.get("pmmlkit.model", "-")
        except BadRequest as exc:
            response = error_response(400, str(exc))
            model = request.scope.get("pmmlkit.model", "-")
        except Exception as exc:  # the server must answer, and say what went wrong
            log.exception("unexpected error on %s", request.url.path)
            response = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
        server.metrics.request(model, protocol_name,
                               request.scope.get("pmmlkit.method", method),
                               response.status_code, time.perf_counter() - started)
        return response

    return endpoint


def route(request: Request, pattern: re.Pattern[str]) -> re.Match[str]:
    """The parts of a model path, or 404; notes the model for the metrics."""
    match = pattern.match(request.path_params["rest"])
    if match is None:
        raise HTTPError(404, f"Malformed request: {request.method} {request.url.path}")
    name = match["name"]
    request.scope["pmmlkit.model"] = name if NAME_PATTERN.match(name) else "-"
    return match


__all__ = ["Handler", "endpoint", "error_response", "json_response", "route"]

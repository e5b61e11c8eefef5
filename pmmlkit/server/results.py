"""Pre-computed results by key from Redis: ``POST /v1/results/MODEL:lookup``."""


from __future__ import annotations

import asyncio
import re

from starlette.requests import Request
from starlette.responses import Response

from pmmlkit._values import json_value
from pmmlkit.errors import PmmlkitError, StorageError
from pmmlkit.repository import NAME_PATTERN
from pmmlkit.server.core import Server
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.rest import json_response, route

_RESULTS_PATH = re.compile(r"^(?P<name>[^/:]+):lookup$")


async def results(server: Server, request: Request) -> Response:
    """Pre-computed results by key: ``POST /v1/results/MODEL:lookup {"keys": [...]}``."""
    from pmmlkit.online import lookup

    match = route(request, _RESULTS_PATH)
    name = match["name"]
    if not NAME_PATTERN.match(name):
        raise HTTPError(404, f"no results for {name!r}")
    if server.config.redis is None:
        raise HTTPError(404, "this server has no Redis for pre-computed results (pmmlkit serve "
                             "--redis URL)")
    body = await server.json_body(request)
    keys = body.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) and not isinstance(
            k, bool) for k in keys):
        raise BadRequest("'keys' must be a list of strings or integers")
    if len(keys) > server.config.max_instances:
        raise BadRequest(f"{len(keys)} keys; at most {server.config.max_instances} per request")
    breaker = server.redis_breaker
    assert breaker is not None
    try:
        breaker.before()
        try:
            frame = await asyncio.get_running_loop().run_in_executor(
                server.io_executor, lambda: lookup(str(server.config.redis), name,
                                                   [str(k) for k in keys],
                                                   client=server.results_client()))
        except StorageError as exc:
            breaker.failure(exc)
            raise
        breaker.success()  # Redis answered, with results or with "none"
    except PmmlkitError as exc:
        if not isinstance(exc, StorageError):
            breaker.success()
        raise HTTPError(exc.http_status, str(exc)) from exc
    rows = []
    for record in frame.to_dict("records"):
        error = record.pop("error")
        rows.append({k: json_value(v) for k, v in record.items()} if error is None else
                    {frame.columns[0]: record[frame.columns[0]], "error": error})
    return json_response({"model": name, "version": frame.attrs.get("version"),
                  "run": frame.attrs.get("run"), "results": rows})


__all__ = ["results"]

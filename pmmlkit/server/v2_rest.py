"""The Open Inference Protocol's REST API (``/v2``): health, server and model metadata,
readiness, infer, the repository index."""


from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pmmlkit._version import __version__
from pmmlkit.server import protocol
from pmmlkit.server.core import Server
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.rest import json_response, route

_V2_PATH = re.compile(r"^(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
                      r"(?:/(?P<verb>ready|infer))?$")


async def v2_models(server: Server, request: Request) -> Response:
    match = route(request, _V2_PATH)
    name, version, verb = match["name"], match["version"], match["verb"]
    request.scope["pmmlkit.method"] = verb or "metadata"
    if request.method == "GET":
        if verb == "infer":
            raise HTTPError(405, "use POST for /infer")
        if verb == "ready":
            try:
                loaded = server.resolve(name, version, None)
            except HTTPError as exc:
                if exc.status == 503:
                    return json_response({"name": name, "ready": False}, 503)
                raise
            return json_response({"name": name, "ready": True, "version": str(loaded.version)})
        loaded = server.resolve(name, version, None)
        served = server.registry.models[name]
        return json_response(protocol.v2_metadata(name, sorted(served.versions), loaded.model.schema))
    if verb != "infer":
        raise HTTPError(405, "POST .../infer")
    loaded = server.resolve(name, version, None)
    schema = loaded.model.schema
    body = await server.json_body(request)
    parsed = protocol.v2_inputs_to_columns(body, schema, limit=server.config.max_instances,
                                           names=server.request_fields(name, schema))
    requested = body.get("outputs")
    wanted = None
    if requested is not None:
        if not isinstance(requested, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested):
            raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
        wanted = [o["name"] for o in requested]
        unknown = [w for w in wanted if w not in schema.column_names]
        if unknown:
            raise BadRequest(f"unknown outputs {unknown}; the model's outputs are "
                             f"{schema.column_names}")
    result = await server.score(loaded, parsed, "v2")
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(result.errors, "row"))
    answer: dict[str, Any] = {"model_name": name, "model_version": str(loaded.version),
                              "outputs": protocol.v2_outputs(result.columns, schema, wanted)}
    if "id" in body:
        answer["id"] = body["id"]
    return json_response(answer)


async def v2_repository_index(server: Server, request: Request) -> Response:
    """KServe's repository index: every model version and its state."""
    states = {"AVAILABLE": "READY", "LOADING": "LOADING", "START": "LOADING", "END": "UNAVAILABLE"}
    health = server.registry.storage
    stale = None if health.ok else f"the repository cannot be read: {health.error}"
    return json_response([{**row, "state": states.get(row["state"], row["state"]),
                   "reason": row["reason"] or (stale if row["state"] == "AVAILABLE" else "")
                   or ""} for row in server.registry.index()])


async def v2_live(server: Server, request: Request) -> Response:
    return json_response({"live": True})


async def v2_ready(server: Server, request: Request) -> Response:
    """Ready while what was asked is served. A repository that cannot be read does not make
    a serving server unready (every replica would leave the load balancer at once over one
    storage outage); the answer says so, as do the model status and the metrics."""
    registry = server.registry
    ready = registry.ready()
    body: dict[str, Any] = {"ready": ready}
    if not registry.storage.ok:
        body["storage"] = registry.storage.to_dict()
    if not registry.loader_alive():
        body["loader"] = registry.loader_error
    return json_response(body, 200 if ready else 503)


async def v2_server(server: Server, request: Request) -> Response:
    return json_response({"name": "pmmlkit", "version": __version__, "extensions": []})


__all__ = ["v2_live", "v2_models", "v2_ready", "v2_repository_index", "v2_server"]

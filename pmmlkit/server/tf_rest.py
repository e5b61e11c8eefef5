"""TensorFlow Serving's REST API (``/v1/models``): status, metadata, predict, classify,
regress, and the CSV endpoint's route (``:score``)."""


from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from pmmlkit.server import protocol
from pmmlkit.server.core import Server, version_status
from pmmlkit.server.csv_rest import csv_endpoint
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.rest import json_response, route

_TF_PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress|score))?$")


async def tf_models(server: Server, request: Request) -> Response:
    match = route(request, _TF_PATH)
    name, version, label = match["name"], match["version"], match["label"]
    verb = match["verb"]
    request.scope["pmmlkit.method"] = verb or ("metadata" if match["metadata"] else "status")
    if request.method == "GET":
        if verb is not None:
            raise HTTPError(405, f"use POST for :{verb}")
        if match["metadata"]:
            loaded = server.resolve(name, version, label)
            return json_response(protocol.tf_metadata(name, loaded.version, loaded.model.schema))
        return _tf_status(server, name, version, label)
    if verb is None:
        raise HTTPError(405, "POST needs a verb: :predict, :classify, :regress or :score")
    loaded = server.resolve(name, version, label)
    schema = loaded.model.schema
    limit = server.config.max_instances
    if verb == "score":
        return await csv_endpoint(server, request, loaded)
    body = await server.json_body(request)
    if verb == "predict":
        if "instances" in body and "inputs" in body:
            raise BadRequest("give either 'instances' (row format) or 'inputs' (columnar "
                             "format), not both")
        if "instances" not in body and "inputs" not in body:
            raise BadRequest(f"the body has neither 'instances' (row format) nor 'inputs' "
                             f"(columnar format); it has {sorted(body)[:10]}")
        row_format = "instances" in body
        names = server.request_fields(name, schema)
        parsed = (protocol.instances_to_columns(body["instances"], schema, limit=limit,
                                                names=names)
                  if row_format else
                  protocol.inputs_to_columns(body["inputs"], schema, limit=limit, names=names))
    else:
        wanted = "classification" if verb == "classify" else "regression"
        if schema.function_name != wanted:
            other = ":regress" if verb == "classify" else ":classify"
            raise HTTPError(400, f"{name} is a {schema.function_name} model; use {other} "
                                 "or :predict")
        parsed = protocol.examples_to_columns(body, schema, limit=limit,
                                              names=server.request_fields(name, schema))
    result = await server.score(loaded, parsed, "tfserving")
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(
            result.errors, "instance" if verb == "predict" else "example"))
    if verb == "predict":
        key = "predictions" if row_format else "outputs"
        return json_response({key: protocol.predictions(result.columns, row_format)})
    if verb == "classify":
        return json_response({"results": protocol.classify_results(result.columns, schema)})
    return json_response({"results": protocol.regress_results(result.columns, schema)})


def _tf_status(server: Server, name: str, version: str | None, label: str | None) -> Response:
    return json_response({"model_version_status": server.model_status(name, version, label)})


async def tf_model_list(server: Server, request: Request) -> Response:
    """The served models and their versions (TF Serving has no listing; this is pmmlkit's,
    in the shape of its model status)."""
    models = []
    for name in sorted(server.registry.models):
        served = server.registry.models[name]
        models.append({"name": name, "versions": [str(v) for v in sorted(served.versions)],
                       "model_version_status": [version_status(server, served.status[v], v)
                                                for v in sorted(served.status)]})
    return json_response({"models": models})


__all__ = ["tf_model_list", "tf_models"]

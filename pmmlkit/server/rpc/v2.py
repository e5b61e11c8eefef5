"""The Open Inference Protocol's gRPC API (``inference.GRPCInferenceService``, KServe V2) as
a codec over the server's core: ``ServerLive``, ``ServerReady``, ``ModelReady``,
``ServerMetadata``, ``ModelMetadata`` and ``ModelInfer``.

``ModelInfer`` takes each input tensor's values from its typed ``contents`` or, for every
input at once, from ``raw_input_contents``; then the REST API's rules hold (a tensor per
model input, the datatype the model's metadata gives, shape ``[n]`` or ``[n, 1]``). The
answer uses ``raw_output_contents`` when the request used raw inputs (as Triton's clients
expect), typed ``contents`` otherwise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import grpc

from pmmlkit._version import __version__
from pmmlkit.scorer.contract import v2_datatype
from pmmlkit.server import protocol
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.rpc.messages import inference
from pmmlkit.server.rpc.service import Call, handler
from pmmlkit.server.rpc.tensors import v2_content_values, v2_output, v2_raw_values

if TYPE_CHECKING:
    from pmmlkit.server.core import Server

PROTOCOL = "v2-grpc"


async def live(server: Server, request: Any, call: Call) -> Any:
    return inference.ServerLiveResponse(live=True)


async def ready(server: Server, request: Any, call: Call) -> Any:
    return inference.ServerReadyResponse(ready=server.registry.ready())


async def model_ready(server: Server, request: Any, call: Call) -> Any:
    call.name_model(request.name)
    try:
        server.resolve(request.name, request.version or None, None)
    except HTTPError as exc:
        if exc.status == 503:  # known, still loading
            return inference.ModelReadyResponse(ready=False)
        raise
    return inference.ModelReadyResponse(ready=True)


async def server_metadata(server: Server, request: Any, call: Call) -> Any:
    return inference.ServerMetadataResponse(name="pmmlkit", version=__version__)


async def model_metadata(server: Server, request: Any, call: Call) -> Any:
    call.name_model(request.name)
    loaded = server.resolve(request.name, request.version or None, None)
    served = server.registry.models[loaded.name]
    described = protocol.v2_metadata(loaded.name, sorted(served.versions), loaded.model.schema)
    response = inference.ModelMetadataResponse(name=described["name"],
                                               versions=described["versions"],
                                               platform=described["platform"])
    for side in ("inputs", "outputs"):
        for tensor in described[side]:
            getattr(response, side).add(name=tensor["name"], datatype=tensor["datatype"],
                                        shape=tensor["shape"])
    return response


def _tensors(request: Any) -> list[dict[str, Any]]:
    """The request's input tensors in the REST API's form (name, shape, datatype, data)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} "
                         "inputs; give one per input, in their order")
    tensors = []
    for k, tensor in enumerate(request.inputs):
        where = f"inputs[{k}] ({tensor.name})"
        if raw:
            if tensor.HasField("contents") and tensor.contents.ByteSize():
                raise BadRequest(f"{where}: give the values in contents or in "
                                 "raw_input_contents, not both")
            count = math.prod(tensor.shape) if len(tensor.shape) else 0
            data = v2_raw_values(raw[k], tensor.datatype, count, where)
        else:
            data = v2_content_values(tensor, where)
        tensors.append({"name": tensor.name, "shape": list(tensor.shape),
                        "datatype": tensor.datatype, "data": data})
    return tensors


async def infer(server: Server, request: Any, call: Call) -> Any:
    call.name_model(request.model_name)
    loaded = server.resolve(request.model_name, request.model_version or None, None)
    schema = loaded.model.schema
    parsed = protocol.v2_inputs_to_columns({"inputs": _tensors(request)}, schema,
                                           limit=server.config.max_instances,
                                           names=server.request_fields(loaded.name, schema))
    wanted = [o.name for o in request.outputs]
    unknown = [w for w in wanted if w not in schema.column_names]
    if unknown:
        raise BadRequest(f"unknown outputs {unknown}; the model's outputs are "
                         f"{schema.column_names}")
    result = await server.score(loaded, parsed, PROTOCOL, timeout=call.timeout())
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(result.errors, "row"))
    raw = bool(request.raw_input_contents)
    response = inference.ModelInferResponse(model_name=loaded.name,
                                            model_version=str(loaded.version), id=request.id)
    types = {c.name: c.data_type for c in schema.columns}
    for name in wanted or list(result.columns):
        data = v2_output(response.outputs.add(), result.columns[name],
                         v2_datatype(types[name]), name, raw)
        if data is not None:
            response.raw_output_contents.append(data)
    return response


def handlers(server: Server) -> list[grpc.GenericRpcHandler]:
    i = inference
    return [handler(server, PROTOCOL, "inference.GRPCInferenceService", {
        "ServerLive": (live, i.ServerLiveRequest, i.ServerLiveResponse, True),
        "ServerReady": (ready, i.ServerReadyRequest, i.ServerReadyResponse, True),
        "ModelReady": (model_ready, i.ModelReadyRequest, i.ModelReadyResponse, False),
        "ServerMetadata": (server_metadata, i.ServerMetadataRequest,
                           i.ServerMetadataResponse, False),
        "ModelMetadata": (model_metadata, i.ModelMetadataRequest, i.ModelMetadataResponse,
                          False),
        "ModelInfer": (infer, i.ModelInferRequest, i.ModelInferResponse, False),
    })]


__all__ = ["PROTOCOL", "handlers"]

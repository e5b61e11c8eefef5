"""TensorFlow Serving's gRPC API: ``tensorflow.serving.PredictionService`` (``Predict``,
``Classify``, ``Regress``, ``GetModelMetadata``) and ``tensorflow.serving.ModelService``
(``GetModelStatus``), as codecs over the server's core.

- ``ModelSpec``: ``name``, then ``version`` or ``version_label``; ``signature_name`` is
  empty or ``serving_default`` (the one signature a PMML model has).
- ``Predict``: one tensor per input (see :mod:`pmmlkit.server.rpc.tensors`), one per output
  column of the contract (``output_filter`` keeps some); outputs are typed values, floats as
  ``DT_DOUBLE`` (every digit the evaluator computed).
- ``Classify`` / ``Regress``: ``tf.Example`` inputs, one value per feature (no value: a
  missing value), each example merged over the context; TF's answers carry ``float`` scores,
  the precision its protocol has (``Predict`` carries doubles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from pmmlkit.scorer.contract import tf_dtype
from pmmlkit.server import protocol
from pmmlkit.server.protocol import BadRequest, HTTPError
from pmmlkit.server.registry import LoadedVersion
from pmmlkit.server.rpc.messages import serving
from pmmlkit.server.rpc.service import Call, RpcError, handler
from pmmlkit.server.rpc.tensors import dtype_number, tf_tensor, tf_values

if TYPE_CHECKING:
    from pmmlkit.server.core import Server

PROTOCOL = "tfserving-grpc"
SIGNATURE = "serving_default"
_STATES = {v.name: v.number for v in serving.ModelVersionStatus.DESCRIPTOR.enum_types_by_name[
    "State"].values}
_ERROR_CODES = {v.name: v.number for v in serving.StatusProto.DESCRIPTOR.fields_by_name[
    "error_code"].enum_type.values}


def _spec(spec: Any, *, signature: bool = True) -> tuple[str, str | None, str | None]:
    """Name, version and label of a ``ModelSpec`` (and its signature checked, where the method
    evaluates one)."""
    if signature and spec.signature_name not in ("", SIGNATURE):
        raise RpcError(grpc.StatusCode.FAILED_PRECONDITION,
                       f'Serving signature key "{spec.signature_name}" not found (a PMML '
                       f'model has one signature, "{SIGNATURE}")')
    version = str(spec.version.value) if spec.HasField("version") else None
    return spec.name, version, spec.version_label or None


def _resolve(server: Server, spec: Any, call: Call) -> LoadedVersion:
    name, version, label = _spec(spec)
    call.name_model(name)
    return server.resolve(name, version, label)


def _answer_spec(target: Any, loaded: LoadedVersion, signature: bool = True) -> None:
    target.name = loaded.name
    target.version.value = loaded.version
    if signature:
        target.signature_name = SIGNATURE


async def _scored(server: Server, loaded: LoadedVersion, parsed: protocol.Request, call: Call,
                  what: str) -> dict[str, list[Any]]:
    result = await server.score(loaded, parsed, PROTOCOL, timeout=call.timeout())
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(result.errors, what))
    return result.columns


async def predict(server: Server, request: Any, call: Call) -> Any:
    loaded = _resolve(server, request.model_spec, call)
    schema = loaded.model.schema
    inputs = {key: tf_values(tensor, f"inputs[{key!r}]")
              for key, tensor in request.inputs.items()}
    parsed = protocol.inputs_to_columns(inputs, schema, limit=server.config.max_instances,
                                        names=server.request_fields(loaded.name, schema))
    wanted = list(dict.fromkeys(request.output_filter))
    unknown = [w for w in wanted if w not in schema.column_names]
    if unknown:
        raise BadRequest(f"output tensor alias not found in signature: {', '.join(unknown)}; "
                         f"the outputs are {schema.column_names}")
    columns = await _scored(server, loaded, parsed, call, "instance")
    types = {c.name: c.data_type for c in schema.columns}
    response = serving.PredictResponse()
    _answer_spec(response.model_spec, loaded)
    for name in wanted or list(columns):
        response.outputs[name].CopyFrom(tf_tensor(columns[name],
                                                  tf_dtype(types[name]), name))
    return response


def _feature(feature: Any, where: str) -> Any:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return None
    values = list(getattr(feature, kind).value)
    if len(values) > 1:
        raise BadRequest(f"{where}: {len(values)} values; a PMML input takes one value per "
                         "example")
    if not values:
        return None
    value = values[0]
    if kind == "bytes_list":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{where}: {value[:40]!r} is not UTF-8 text") from exc
    return value


def _examples(request: Any) -> list[dict[str, Any]]:
    """The examples of an ``Input``, each merged over the context."""
    kind = request.input.WhichOneof("kind")
    if kind is None:
        raise BadRequest("input: give example_list or example_list_with_context")
    source = getattr(request.input, kind)
    context: dict[str, Any] = {}
    if kind == "example_list_with_context":
        context = {k: _feature(f, f"input.context.{k}")
                   for k, f in source.context.features.feature.items()}
    return [{**context, **{k: _feature(f, f"input.examples[{i}].{k}")
                           for k, f in example.features.feature.items()}}
            for i, example in enumerate(source.examples)]


async def _by_examples(server: Server, request: Any, call: Call, function: str
                       ) -> tuple[LoadedVersion, dict[str, list[Any]]]:
    loaded = _resolve(server, request.model_spec, call)
    schema = loaded.model.schema
    if schema.function_name != function:
        other = "Regress" if function == "classification" else "Classify"
        raise BadRequest(f"{loaded.name} is a {schema.function_name} model; use {other} or "
                         "Predict")
    parsed = protocol.instances_to_columns(_examples(request), schema,
                                           limit=server.config.max_instances,
                                           names=server.request_fields(loaded.name, schema))
    return loaded, await _scored(server, loaded, parsed, call, "example")


async def classify(server: Server, request: Any, call: Call) -> Any:
    loaded, columns = await _by_examples(server, request, call, "classification")
    response = serving.ClassificationResponse()
    _answer_spec(response.model_spec, loaded)
    for example in protocol.classify_results(columns, loaded.model.schema):
        classes = response.result.classifications.add()
        for label, score in example:
            classes.classes.add(label="" if label is None else str(label),
                                score=float("nan") if score is None else score)
    return response


async def regress(server: Server, request: Any, call: Call) -> Any:
    loaded, columns = await _by_examples(server, request, call, "regression")
    response = serving.RegressionResponse()
    _answer_spec(response.model_spec, loaded)
    for value in protocol.regress_results(columns, loaded.model.schema):
        response.result.regressions.add(value=float("nan") if value is None else value)
    return response


async def metadata(server: Server, request: Any, call: Call) -> Any:
    fields = list(request.metadata_field)
    if not fields:
        raise BadRequest("GetModelMetadataRequest must specify at least one metadata_field "
                         "(signature_def)")
    unsupported = [f for f in fields if f != "signature_def"]
    if unsupported:
        raise BadRequest(f"Metadata field {unsupported[0]} is not supported (signature_def is)")
    loaded = _resolve(server, request.model_spec, call)
    described = protocol.tf_metadata(loaded.name, loaded.version, loaded.model.schema)
    signature = described["metadata"]["signature_def"]["signature_def"][SIGNATURE]
    signatures = serving.SignatureDefMap()
    target = signatures.signature_def[SIGNATURE]
    target.method_name = signature["method_name"]
    for side in ("inputs", "outputs"):
        for key, info in signature[side].items():
            tensor = getattr(target, side)[key]
            tensor.name = info["name"]
            tensor.dtype = dtype_number(info["dtype"])
            for dim in info["tensor_shape"]["dim"]:
                tensor.tensor_shape.dim.add(size=int(dim["size"]))
    response = serving.GetModelMetadataResponse()
    _answer_spec(response.model_spec, loaded, signature=False)
    response.metadata["signature_def"].Pack(signatures)
    return response


async def status(server: Server, request: Any, call: Call) -> Any:
    name, version, label = _spec(request.model_spec, signature=False)
    call.name_model(name)
    response = serving.GetModelStatusResponse()
    for each in server.model_status(name, version, label):
        response.model_version_status.add(
            version=int(each["version"]), state=_STATES.get(each["state"], 0),
            status=serving.StatusProto(
                error_code=_ERROR_CODES.get(each["status"]["error_code"], 2),
                error_message=each["status"]["error_message"]))
    return response


def handlers(server: Server) -> list[grpc.GenericRpcHandler]:
    return [
        handler(server, PROTOCOL, "tensorflow.serving.PredictionService", {
            "Predict": (predict, serving.PredictRequest, serving.PredictResponse, False),
            "Classify": (classify, serving.ClassificationRequest,
                         serving.ClassificationResponse, False),
            "Regress": (regress, serving.RegressionRequest, serving.RegressionResponse, False),
            "GetModelMetadata": (metadata, serving.GetModelMetadataRequest,
                                 serving.GetModelMetadataResponse, False),
        }),
        handler(server, PROTOCOL, "tensorflow.serving.ModelService", {
            "GetModelStatus": (status, serving.GetModelStatusRequest,
                               serving.GetModelStatusResponse, False),
        }),
    ]


__all__ = ["PROTOCOL", "handlers"]

"""`pmmlkit serve` over gRPC: TF Serving's PredictionService and ModelService (through the
messages of the vendored protos) and the Open Inference Protocol (through tritonclient, its
own protos and stubs), on a real uvicorn + grpc.aio server on 127.0.0.1.

Oracles: scikit-learn's own predictions, TF Serving's half_plus_two numbers (x / 2 + 2), the
REST API of the same server for the error texts the protocols must share, and hand-worked
tensors for the wire rules."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.datasets import CATEGORICAL, FEATURES
from pmmlkit.server import ServerConfig, VersionPolicy
from pmmlkit.server.protocol import BadRequest
from pmmlkit.server.rpc import tensors
from pmmlkit.server.rpc.messages import serving, tensorflow
from tests.test_serve import free_port, wait_ready
from tests.test_serve import serving as rest_serving

ROOT = Path(__file__).parents[1]
PREDICTION = "tensorflow.serving.PredictionService"
DT = {name: tensors.dtype_number(name) for name in
      ("DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_INT64", "DT_STRING", "DT_BOOL", "DT_HALF")}


@contextlib.contextmanager
def grpc_serving(config: ServerConfig) -> Iterator[dict[str, Any]]:
    """The app with both gRPC ports; yields the REST URL and the two gRPC addresses."""
    config.grpc_port, config.v2_grpc_port = free_port(), free_port()
    with rest_serving(config) as url:
        yield {"rest": url, "tf": f"127.0.0.1:{config.grpc_port}",
               "v2": f"127.0.0.1:{config.v2_grpc_port}"}


def call(address: str, method: str, request: Any, response: Any, **options: Any) -> Any:
    """One unary call of ``/service/method`` with the vendored messages."""
    with grpc.insecure_channel(address) as channel:
        stub = channel.unary_unary(f"/{method}", request_serializer=type(request).SerializeToString,
                                   response_deserializer=response.FromString)
        return stub(request, timeout=options.pop("timeout", 60), **options)


def failure(address: str, method: str, request: Any, response: Any, **options: Any
            ) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(address, method, request, response, **options)
    return caught.value


@pytest.fixture(scope="module")
def repo(tmp_path_factory, exported) -> Path:
    root = tmp_path_factory.mktemp("grpc") / "models"
    repository = pmmlkit.Repository(str(root))
    for name in ("gbm", "linreg"):
        repository.publish(exported[name].path.read_bytes(), {}, name=name)
    shutil.copytree(ROOT / "models" / "half_plus_two", root / "half_plus_two")
    return root


@pytest.fixture(scope="module")
def server(repo) -> Iterator[dict[str, Any]]:
    with grpc_serving(ServerConfig(repo=str(repo), poll=0, max_body_bytes=1 << 20,
                                   max_instances=5000)) as addresses:
        yield addresses


def _rows(holdout: pd.DataFrame, n: int = 40) -> pd.DataFrame:
    return holdout[FEATURES].iloc[:n].reset_index(drop=True)


def _tensor(values: Any, dtype: str, *, packed: bool = False) -> Any:
    """A TensorProto of shape [n] built by hand: typed values, or packed tensor_content."""
    tensor = tensorflow.TensorProto(dtype=DT[dtype])
    values = list(values)
    tensor.tensor_shape.dim.add(size=len(values))
    if dtype == "DT_STRING":
        tensor.string_val.extend(str(v).encode() for v in values)
    elif packed:
        tensor.tensor_content = np.asarray(values, dtype={"DT_DOUBLE": "<f8", "DT_FLOAT": "<f4",
                                                          "DT_INT64": "<i8"}[dtype]).tobytes()
    else:
        field = {"DT_DOUBLE": "double_val", "DT_FLOAT": "float_val", "DT_INT64": "int64_val",
                 "DT_INT32": "int_val", "DT_BOOL": "bool_val"}[dtype]
        getattr(tensor, field).extend(values)
    return tensor


def _predict_request(name: str, inputs: dict[str, Any], **spec: Any) -> Any:
    request = serving.PredictRequest()
    request.model_spec.name = name
    if "version" in spec:
        request.model_spec.version.value = spec.pop("version")
    for key, value in spec.items():
        setattr(request.model_spec, key, value)
    for key, tensor in inputs.items():
        request.inputs[key].CopyFrom(tensor)
    return request


def _frame_inputs(rows: pd.DataFrame, *, packed: bool = True) -> dict[str, Any]:
    return {c: _tensor(rows[c], "DT_STRING") if c in CATEGORICAL else
            _tensor(rows[c], "DT_DOUBLE", packed=packed) for c in FEATURES}


def _values(tensor: Any) -> list[Any]:
    return list(getattr(tensor, {DT["DT_DOUBLE"]: "double_val", DT["DT_INT64"]: "int64_val",
                                 DT["DT_BOOL"]: "bool_val", DT["DT_STRING"]: "string_val"}[
        tensor.dtype]))


# -- TF Serving's own demo -------------------------------------------------------------------------
def test_half_plus_two_over_grpc_answers_exactly(server):
    # TF's clients send float32 (tf.make_tensor_proto([1.0, 2.0, 5.0])): the PMML input is a
    # double, and every float32 is a double exactly
    request = _predict_request("half_plus_two", {"x": _tensor([1.0, 2.0, 5.0], "DT_FLOAT")})
    answer = call(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse)
    (output,) = answer.outputs.values()
    assert output.dtype == DT["DT_DOUBLE"] and [d.size for d in output.tensor_shape.dim] == [3]
    assert list(output.double_val) == [2.5, 3.0, 4.5]
    assert (answer.model_spec.name, answer.model_spec.version.value,
            answer.model_spec.signature_name) == ("half_plus_two", 1, "serving_default")
    # the same numbers packed in tensor_content, as doubles
    packed = _predict_request("half_plus_two",
                              {"x": _tensor([1.0, 2.0, 5.0], "DT_DOUBLE", packed=True)},
                              version=1)
    answer = call(server["tf"], f"{PREDICTION}/Predict", packed, serving.PredictResponse)
    assert list(next(iter(answer.outputs.values())).double_val) == [2.5, 3.0, 4.5]
    # Regress with tf.Example inputs; TF's Regression carries a float
    regress = serving.RegressionRequest()
    regress.model_spec.name = "half_plus_two"
    for x in (1.0, 2.0):
        regress.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    answer = call(server["tf"], f"{PREDICTION}/Regress", regress, serving.RegressionResponse)
    assert [r.value for r in answer.result.regressions] == [2.5, 3.0]
    status = call(server["tf"], "tensorflow.serving.ModelService/GetModelStatus",
                  serving.GetModelStatusRequest(model_spec=serving.ModelSpec(
                      name="half_plus_two")), serving.GetModelStatusResponse)
    (version,) = status.model_version_status
    assert (version.version, version.state, version.status.error_code,
            version.status.error_message) == (1, 30, 0, "")  # AVAILABLE, OK


# -- TF Serving's API against scikit-learn -----------------------------------------------------------
def test_predict_matches_scikit_learn(server, exported, holdout):
    rows = _rows(holdout)
    native = exported["gbm"].native(rows)
    request = _predict_request("gbm", _frame_inputs(rows), signature_name="serving_default")
    answer = call(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse)
    schema = pmmlkit.load(exported["gbm"].path).schema
    assert sorted(answer.outputs) == sorted(schema.column_names)
    got = np.array(answer.outputs["probability(1)"].double_val)
    assert np.max(np.abs(got - native["probability(1)"])) <= 1e-9
    labels = _values(answer.outputs["churn"])
    assert [str(v.decode() if isinstance(v, bytes) else v) for v in labels] == \
        [str(v) for v in native["churn"]]
    # typed double_val instead of tensor_content, and output_filter keeps one output
    filtered = _predict_request("gbm", _frame_inputs(rows, packed=False))
    filtered.output_filter.append("probability(1)")
    answer = call(server["tf"], f"{PREDICTION}/Predict", filtered, serving.PredictResponse)
    assert list(answer.outputs) == ["probability(1)"]
    assert np.max(np.abs(np.array(answer.outputs["probability(1)"].double_val)
                         - native["probability(1)"])) <= 1e-9
    regression = call(server["tf"], f"{PREDICTION}/Predict",
                      _predict_request("linreg", _frame_inputs(rows)), serving.PredictResponse)
    (spend,) = regression.outputs.values()
    assert np.max(np.abs(np.array(spend.double_val) - exported["linreg"].native(rows)["spend"])) \
        <= 1e-9


def _example(record: dict[str, Any], target: Any) -> None:
    for key, value in record.items():
        feature = target.features.feature[key]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        else:
            feature.float_list.value.append(value)


def test_classify_and_regress_with_examples(server, exported, holdout):
    rows = _rows(holdout, 6)
    request = serving.ClassificationRequest()
    request.model_spec.name = "gbm"
    for record in rows.astype(object).to_dict("records"):
        _example(record, request.input.example_list.examples.add())
    answer = call(server["tf"], f"{PREDICTION}/Classify", request,
                  serving.ClassificationResponse)
    # a float feature carries float32: the oracle is scikit-learn on the same float32 values
    as_float = rows.copy()
    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    as_float[numeric] = as_float[numeric].astype(np.float32).astype(np.float64)
    native = exported["gbm"].native(as_float)
    results = answer.result.classifications
    assert [[c.label for c in r.classes] for r in results] == [["0", "1"]] * len(rows)
    scores = np.array([r.classes[1].score for r in results])
    assert np.max(np.abs(scores - native["probability(1)"].astype(np.float32))) <= 1e-7
    # Regress with a context merged into every example
    regress = serving.RegressionRequest()
    regress.model_spec.name = "linreg"
    context = regress.input.example_list_with_context.context
    context.features.feature["color"].bytes_list.value.append(rows["color"][0].encode())
    for record in rows.drop(columns="color").astype(object).to_dict("records"):
        _example(record, regress.input.example_list_with_context.examples.add())
    answer = call(server["tf"], f"{PREDICTION}/Regress", regress, serving.RegressionResponse)
    expected = exported["linreg"].native(as_float.assign(color=rows["color"][0]))["spend"]
    assert np.max(np.abs(np.array([r.value for r in answer.result.regressions])
                         - expected.astype(np.float32))) <= 1e-4 * np.max(np.abs(expected))
    wrong = serving.ClassificationRequest()
    wrong.model_spec.name = "linreg"
    _example({"x0": 1.0}, wrong.input.example_list.examples.add())
    error = failure(server["tf"], f"{PREDICTION}/Classify", wrong,
                    serving.ClassificationResponse)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "regression model" in error.details()


def test_metadata_and_status(server, exported):
    request = serving.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "gbm"
    answer = call(server["tf"], f"{PREDICTION}/GetModelMetadata", request,
                  serving.GetModelMetadataResponse)
    assert (answer.model_spec.name, answer.model_spec.version.value) == ("gbm", 1)
    packed = answer.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = serving.SignatureDefMap.FromString(packed.value)
    signature = signatures.signature_def["serving_default"]
    schema = pmmlkit.load(exported["gbm"].path).schema
    assert sorted(signature.inputs) == sorted(schema.input_names)
    assert sorted(signature.outputs) == sorted(schema.column_names)
    assert signature.inputs["x0"].dtype == DT["DT_DOUBLE"]
    assert signature.inputs["color"].dtype == DT["DT_STRING"]
    assert [d.size for d in signature.inputs["x0"].tensor_shape.dim] == [-1]
    assert signature.method_name == "tensorflow/serving/classify"
    none = serving.GetModelMetadataRequest(model_spec=serving.ModelSpec(name="gbm"))
    error = failure(server["tf"], f"{PREDICTION}/GetModelMetadata", none,
                    serving.GetModelMetadataResponse)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata_field" in error.details()
    status = serving.GetModelStatusRequest()
    status.model_spec.name = "gbm"
    status.model_spec.version.value = 7
    error = failure(server["tf"], "tensorflow.serving.ModelService/GetModelStatus", status,
                    serving.GetModelStatusResponse)
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_tf_errors_are_status_codes_with_the_rest_texts(server, holdout):
    rows = _rows(holdout, 5)
    records = rows.astype(object).to_dict("records")
    records[2]["x1"] = "abc"
    inputs = {c: _tensor([r[c] for r in records], "DT_STRING" if c in CATEGORICAL
                         or c == "x1" else "DT_DOUBLE") for c in FEATURES}
    error = failure(server["tf"], f"{PREDICTION}/Predict", _predict_request("linreg", inputs),
                    serving.PredictResponse)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    rest = httpx.post(f"{server['rest']}/v1/models/linreg:predict",
                      json={"inputs": {c: [r[c] for r in records] for c in FEATURES}})
    assert rest.status_code == 400
    assert error.details() == rest.json()["error"]
    assert "instance 2: field 'x1' value 'abc': expected a number" in error.details()
    cases = [
        (_predict_request("nope", {"x": _tensor([1.0], "DT_DOUBLE")}),
         grpc.StatusCode.NOT_FOUND, "Servable not found"),
        (_predict_request("half_plus_two", {"x": _tensor([1.0], "DT_DOUBLE")}, version=9),
         grpc.StatusCode.NOT_FOUND, "Servable not found"),
        (_predict_request("half_plus_two", {"x": _tensor([1.0], "DT_DOUBLE")},
                          version_label="canary"),
         grpc.StatusCode.NOT_FOUND, "label 'canary'"),
        (_predict_request("half_plus_two", {"x": _tensor([1.0], "DT_DOUBLE")},
                          signature_name="other"),
         grpc.StatusCode.FAILED_PRECONDITION, 'signature key "other" not found'),
        (_predict_request("half_plus_two", {"y": _tensor([1.0], "DT_DOUBLE")}),
         grpc.StatusCode.INVALID_ARGUMENT, "'y'"),
        (_predict_request("half_plus_two", {"x": _tensor([True], "DT_BOOL")}),
         grpc.StatusCode.INVALID_ARGUMENT, "is a boolean"),
    ]
    for request, code, text in cases:
        error = failure(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse)
        assert error.code() == code and text in error.details(), (error.code(), error.details())
        assert "Traceback" not in error.details()
    filtered = _predict_request("half_plus_two", {"x": _tensor([1.0], "DT_DOUBLE")})
    filtered.output_filter.append("nothing")
    error = failure(server["tf"], f"{PREDICTION}/Predict", filtered, serving.PredictResponse)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "nothing" in error.details()
    # a method pmmlkit does not serve: gRPC's own UNIMPLEMENTED
    error = failure(server["tf"], f"{PREDICTION}/MultiInference", serving.PredictRequest(),
                    serving.PredictResponse)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_an_integer_input_takes_what_the_evaluator_takes(server, holdout):
    # half_plus_two's x is a double: DT_INT64 and DT_INT32 values are numbers it takes, and a
    # numeric string is a value the evaluator parses (as the REST API passes it)
    for tensor in (_tensor([1, 2], "DT_INT64"), _tensor([1, 2], "DT_INT32"),
                   _tensor(["1", "2"], "DT_STRING")):
        answer = call(server["tf"], f"{PREDICTION}/Predict",
                      _predict_request("half_plus_two", {"x": tensor}), serving.PredictResponse)
        assert list(next(iter(answer.outputs.values())).double_val) == [2.5, 3.0]


# -- the wire rules of tensors, worked out by hand ----------------------------------------------------
def test_tensor_rules_follow_tensorflow():
    shaped = tensorflow.TensorProto(dtype=DT["DT_DOUBLE"], double_val=[7.0])
    shaped.tensor_shape.dim.add(size=3)
    assert tensors.tf_values(shaped, "x") == [7.0, 7.0, 7.0]  # the last value repeats
    shaped = tensorflow.TensorProto(dtype=DT["DT_INT64"], int64_val=[1, 2])
    shaped.tensor_shape.dim.add(size=4)
    assert tensors.tf_values(shaped, "x") == [1, 2, 2, 2]
    empty = tensorflow.TensorProto(dtype=DT["DT_DOUBLE"])
    empty.tensor_shape.dim.add(size=2)
    assert tensors.tf_values(empty, "x") == [0.0, 0.0]  # no value: the type's zero
    scalar = tensorflow.TensorProto(dtype=DT["DT_FLOAT"], float_val=[0.1])
    assert tensors.tf_values(scalar, "x") == [float(np.float32(0.1))]  # a scalar is one row
    column = tensorflow.TensorProto(dtype=DT["DT_DOUBLE"], tensor_content=struct.pack(
        "<2d", 0.25, -3.5))
    column.tensor_shape.dim.add(size=2)
    column.tensor_shape.dim.add(size=1)
    assert tensors.tf_values(column, "x") == [0.25, -3.5]
    half = tensorflow.TensorProto(dtype=DT["DT_HALF"], half_val=[0x3C00, 0xC000])  # 1.0, -2.0
    half.tensor_shape.dim.add(size=2)
    assert tensors.tf_values(half, "x") == [1.0, -2.0]
    matrix = tensorflow.TensorProto(dtype=DT["DT_DOUBLE"], double_val=[1.0] * 6)
    matrix.tensor_shape.dim.add(size=2)
    matrix.tensor_shape.dim.add(size=3)
    with pytest.raises(BadRequest, match=r"shape \[2, 3\] is not one column"):
        tensors.tf_values(matrix, "inputs['x']")
    short = tensorflow.TensorProto(dtype=DT["DT_DOUBLE"], tensor_content=b"\0" * 12)
    short.tensor_shape.dim.add(size=2)
    with pytest.raises(BadRequest, match="12 bytes; shape 2 of DT_DOUBLE takes 16"):
        tensors.tf_values(short, "x")
    text = tensorflow.TensorProto(dtype=DT["DT_STRING"], string_val=[b"\xff\xfe"])
    with pytest.raises(BadRequest, match="not UTF-8"):
        tensors.tf_values(text, "x")
    with pytest.raises(BadRequest, match="DT_COMPLEX64 is not a type"):
        tensors.tf_values(tensorflow.TensorProto(dtype=8), "x")
    # BYTES in raw form: 4-byte little-endian lengths
    raw = struct.pack("<I", 3) + b"red" + struct.pack("<I", 0)
    assert tensors.v2_raw_values(raw, "BYTES", 2, "x") == ["red", ""]
    with pytest.raises(BadRequest, match="runs past the end"):
        tensors.v2_raw_values(struct.pack("<I", 9) + b"red", "BYTES", 1, "x")
    assert tensors.v2_raw_values(struct.pack("<2e", 1.5, -0.25), "FP16", 2, "x") == [1.5, -0.25]


# -- the Open Inference Protocol through Triton's client ---------------------------------------------
@pytest.fixture(scope="module")
def triton(server) -> Iterator[Any]:
    import tritonclient.grpc as triton_grpc

    client = triton_grpc.InferenceServerClient(server["v2"])
    yield client
    client.close()


def _triton_inputs(rows: pd.DataFrame) -> list[Any]:
    import tritonclient.grpc as triton_grpc

    inputs = []
    for c in FEATURES:
        if c in CATEGORICAL:
            tensor = triton_grpc.InferInput(c, [len(rows)], "BYTES")
            tensor.set_data_from_numpy(np.array(rows[c].tolist(), dtype=object))
        else:
            tensor = triton_grpc.InferInput(c, [len(rows)], "FP64")
            tensor.set_data_from_numpy(rows[c].to_numpy(dtype=np.float64))
        inputs.append(tensor)
    return inputs


def test_open_inference_protocol_through_tritonclient(triton, exported, holdout):
    rows = _rows(holdout, 25)
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("gbm") and triton.is_model_ready("gbm", "1")
    assert triton.get_server_metadata().name == "pmmlkit"
    meta = triton.get_model_metadata("gbm")
    schema = pmmlkit.load(exported["gbm"].path).schema
    assert [i.name for i in meta.inputs] == schema.input_names
    assert {i.name: i.datatype for i in meta.inputs}["color"] == "BYTES"
    assert [o.name for o in meta.outputs] == schema.column_names
    assert meta.versions == ["1"] and meta.platform == "pmml"
    import tritonclient.grpc as triton_grpc

    result = triton.infer("gbm", _triton_inputs(rows), request_id="req-7",
                          outputs=[triton_grpc.InferRequestedOutput("probability(1)"),
                                   triton_grpc.InferRequestedOutput("churn")])
    native = exported["gbm"].native(rows)
    probability = result.as_numpy("probability(1)")
    assert probability.dtype == np.float64 and probability.shape == (len(rows),)
    assert np.max(np.abs(probability - native["probability(1)"])) <= 1e-9
    response = result.get_response()
    assert response.id == "req-7" and response.model_version == "1"
    churn = result.as_numpy("churn")
    assert [str(v.decode() if isinstance(v, bytes) else v) for v in churn] == \
        [str(v) for v in native["churn"]]
    regression = triton.infer("linreg", _triton_inputs(rows)).as_numpy("spend")
    assert np.max(np.abs(regression - exported["linreg"].native(rows)["spend"])) <= 1e-9


def test_typed_contents_through_tritonclients_own_protos(server, exported, holdout):
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    rows = _rows(holdout, 9)
    request = service_pb2.ModelInferRequest(model_name="gbm", model_version="1")
    for c in FEATURES:
        tensor = request.inputs.add(name=c, shape=[len(rows)])
        if c in CATEGORICAL:
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend(v.encode() for v in rows[c])
        else:
            tensor.datatype = "FP64"
            tensor.contents.fp64_contents.extend(rows[c].tolist())
    with grpc.insecure_channel(server["v2"]) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelInfer(request, timeout=60)
        outputs = {o.name: o for o in answer.outputs}
        assert not answer.raw_output_contents  # typed in, typed out
        got = np.array(outputs["probability(1)"].contents.fp64_contents)
        assert np.max(np.abs(got - exported["gbm"].native(rows)["probability(1)"])) <= 1e-9
        # values in the contents field of another datatype
        x0 = request.inputs[0]
        x0.datatype = "FP32"
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "FP32 takes its values in fp32_contents; got fp64_contents" in \
            caught.value.details()
        # a datatype other than the model's: refused with the REST API's text
        x0.contents.fp32_contents.extend(x0.contents.fp64_contents)
        x0.contents.ClearField("fp64_contents")
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=60)
        assert "datatype FP32, but the model's input 'x0' is FP64" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request, timeout=60)


def test_v2_errors_through_tritonclient(triton, server, holdout):
    import tritonclient.grpc as triton_grpc
    from tritonclient.utils import InferenceServerException

    rows = _rows(holdout, 4)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("nope", _triton_inputs(rows))
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as caught:
        triton.get_model_metadata("gbm", "12")
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    bad = rows.astype(object)
    bad.loc[1, "size"] = "XXL"
    inputs = _triton_inputs(bad)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("linreg", inputs)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    body = {"inputs": [{"name": c, "shape": [len(bad)],
                        "datatype": "BYTES" if c in CATEGORICAL else "FP64",
                        "data": bad[c].tolist()} for c in FEATURES]}
    rest = httpx.post(f"{server['rest']}/v2/models/linreg/infer", json=body)
    assert rest.status_code == 400 and caught.value.message() == rest.json()["error"]
    assert re.search(r"row 1: field 'size' value 'XXL'", caught.value.message())
    short = triton_grpc.InferInput("x0", [3], "FP64")
    short.set_data_from_numpy(np.array([1.0, 2.0, 3.0]))
    short._raw_content = np.array([1.0, 2.0]).tobytes()  # a raw content two values long
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("linreg", [short])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "16 bytes; 3 FP64 values take 24" in caught.value.message()


# -- the rules every method shares ------------------------------------------------------------------
def test_api_key_deadline_and_message_limit(repo):
    import tritonclient.grpc as triton_grpc
    from tritonclient.utils import InferenceServerException

    config = ServerConfig(repo=str(repo), models=["half_plus_two", "gbm"], poll=0,
                          api_key="s3cret", max_body_bytes=64 * 1024)
    with grpc_serving(config) as server:
        request = _predict_request("half_plus_two", {"x": _tensor([1.0], "DT_DOUBLE")})
        error = failure(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        for metadata in ((("authorization", "Bearer s3cret"),), (("x-api-key", "s3cret"),)):
            answer = call(server["tf"], f"{PREDICTION}/Predict", request,
                          serving.PredictResponse, metadata=metadata)
            assert list(next(iter(answer.outputs.values())).double_val) == [2.5]
        wrong = failure(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse,
                        metadata=(("authorization", "Bearer guess"),))
        assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
        client = triton_grpc.InferenceServerClient(server["v2"])
        try:
            assert client.is_server_live()  # the health methods answer without the key
            with pytest.raises(InferenceServerException) as caught:
                client.get_model_metadata("gbm")
            assert caught.value.status() == "StatusCode.UNAUTHENTICATED"
            assert client.get_model_metadata("gbm", headers={"x-api-key": "s3cret"}).name == "gbm"
        finally:
            client.close()
        # a message beyond the body limit: gRPC refuses it before pmmlkit reads it
        big = _predict_request("half_plus_two", {"x": _tensor([1.0] * 20_000, "DT_DOUBLE")})
        error = failure(server["tf"], f"{PREDICTION}/Predict", big, serving.PredictResponse,
                        metadata=(("x-api-key", "s3cret"),))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # the client's deadline ends the call, and the server goes on answering
        error = failure(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse,
                        metadata=(("x-api-key", "s3cret"),), timeout=1e-4)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        answer = call(server["tf"], f"{PREDICTION}/Predict", request, serving.PredictResponse,
                      metadata=(("x-api-key", "s3cret"),))
        assert list(next(iter(answer.outputs.values())).double_val) == [2.5]


def test_a_call_past_its_deadline_is_never_scored(repo, holdout):
    """The client's deadline reaches the core: a call queued behind a long one and past its
    deadline is DEADLINE_EXCEEDED and its rows never go to the JVM (the JVM calls' row
    histogram counts only the long call's rows)."""
    import threading

    rows = _rows(holdout, 40)
    big = pd.concat([holdout[FEATURES]] * 100, ignore_index=True)  # ~1 s of scoring
    long_request = _predict_request("gbm", _frame_inputs(big))
    config = ServerConfig(repo=str(repo), models=["gbm"], poll=0, workers=1,
                          max_instances=len(big), max_body_bytes=64 << 20)
    with grpc_serving(config) as server:
        long_call = threading.Thread(target=call, args=(
            server["tf"], f"{PREDICTION}/Predict", long_request, serving.PredictResponse))
        long_call.start()
        time.sleep(0.4)  # the long call holds the only worker
        error = failure(server["tf"], f"{PREDICTION}/Predict",
                        _predict_request("gbm", _frame_inputs(rows)), serving.PredictResponse,
                        timeout=0.2)
        long_call.join(timeout=120)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        metrics = httpx.get(f"{server['rest']}/monitoring/prometheus/metrics").text
        scored = re.search(r'pmmlkit_batch_rows_sum\{model="gbm"\} ([0-9.e+]+)', metrics)
        assert scored is not None and float(scored[1]) == len(big), metrics[-2000:]


def test_load_over_grpc_is_exact_and_back_pressure_is_resource_exhausted(repo, exported,
                                                                           holdout):
    """Bounded: 64 concurrent clients, 8 calls each, on 127.0.0.1; then the same load on a
    queue of 16 rows, where the calls beyond it are RESOURCE_EXHAUSTED at once."""
    rows = _rows(holdout, 16)
    expected = exported["gbm"].native(rows)["probability(1)"]
    request = _predict_request("gbm", _frame_inputs(rows)).SerializeToString()

    async def load(address: str) -> list[Any]:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = channel.unary_unary(f"/{PREDICTION}/Predict",
                                       response_deserializer=serving.PredictResponse.FromString)

            async def client() -> list[Any]:
                out = []
                for _ in range(8):
                    try:
                        out.append(await stub(request, timeout=60))
                    except grpc.aio.AioRpcError as exc:
                        out.append(exc)
                return out

            return [r for each in await asyncio.gather(*(client() for _ in range(64)))
                    for r in each]

    config = ServerConfig(repo=str(repo), models=["gbm"], poll=0)
    with grpc_serving(config) as server:
        answers = asyncio.run(load(server["tf"]))
        assert len(answers) == 512
        for answer in answers:
            assert not isinstance(answer, Exception), answer
            got = np.array(answer.outputs["probability(1)"].double_val)
            assert np.max(np.abs(got - expected)) <= 1e-9
        metrics = httpx.get(f"{server['rest']}/monitoring/prometheus/metrics").text
        assert re.search(r'pmmlkit_requests_total\{code="OK",method="Predict",model="gbm",'
                         r'protocol="tfserving-grpc"\} 512\.0', metrics), metrics[-3000:]
    config = ServerConfig(repo=str(repo), models=["gbm"], poll=0, queue_rows=16, workers=1,
                          batch_wait_ms=5)
    with grpc_serving(config) as server:
        answers = asyncio.run(load(server["tf"]))
    refused = [a for a in answers if isinstance(a, Exception)]
    assert refused, "a queue of 16 rows took 64 concurrent calls of 16 rows"
    assert {a.code() for a in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert all("at capacity" in a.details() for a in refused)
    for answer in answers:
        if not isinstance(answer, Exception):
            assert np.max(np.abs(np.array(answer.outputs["probability(1)"].double_val)
                                 - expected)) <= 1e-9


def test_grpc_serves_a_new_version_and_its_label(tmp_path, exported, holdout):
    root = tmp_path / "models"
    repository = pmmlkit.Repository(str(root))
    repository.publish(exported["linreg"].path.read_bytes(), {}, name="m")
    config = ServerConfig(repo=str(root), poll=0.2, policy=VersionPolicy.parse(
        "all"), labels={"m": {"stable": 1}})
    rows = _rows(holdout, 3)
    with grpc_serving(config) as server:
        repository.publish(exported["gbm"].path.read_bytes(), {}, name="m")
        deadline = time.monotonic() + 60
        status = serving.GetModelStatusRequest(model_spec=serving.ModelSpec(name="m"))
        while time.monotonic() < deadline:
            versions = call(server["tf"], "tensorflow.serving.ModelService/GetModelStatus",
                            status, serving.GetModelStatusResponse).model_version_status
            if [(v.version, v.state) for v in versions] == [(2, 30), (1, 30)]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"version 2 was not served: {versions}")
        latest = call(server["tf"], f"{PREDICTION}/Predict",
                      _predict_request("m", _frame_inputs(rows)), serving.PredictResponse)
        assert latest.model_spec.version.value == 2
        assert np.max(np.abs(np.array(latest.outputs["probability(1)"].double_val)
                             - exported["gbm"].native(rows)["probability(1)"])) <= 1e-9
        stable = call(server["tf"], f"{PREDICTION}/Predict",
                      _predict_request("m", _frame_inputs(rows), version_label="stable"),
                      serving.PredictResponse)
        assert stable.model_spec.version.value == 1
        assert np.max(np.abs(np.array(stable.outputs["spend"].double_val)
                             - exported["linreg"].native(rows)["spend"])) <= 1e-9


def test_cli_serves_grpc_and_a_taken_port_is_a_clear_error():
    rest, tf_port, v2_port = free_port(), free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "pmmlkit", "serve", "models", "--model", "half_plus_two",
             "--port", str(rest), "--grpc-port", str(busy), "--v2-grpc-port", "0", "--poll",
             "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert f"cannot listen on 127.0.0.1:{busy}" in refused.stderr, refused.stderr[-2000:]
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", "models", "--model",
                             "half_plus_two", "--port", str(rest), "--grpc-port", str(tf_port),
                             "--v2-grpc-port", str(v2_port), "--poll", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{rest}")
        request = _predict_request("half_plus_two", {"x": _tensor([1.0, 2.0, 5.0], "DT_FLOAT")})
        answer = call(f"127.0.0.1:{tf_port}", f"{PREDICTION}/Predict", request,
                      serving.PredictResponse)
        assert list(next(iter(answer.outputs.values())).double_val) == [2.5, 3.0, 4.5]
        import tritonclient.grpc as triton_grpc

        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{v2_port}")
        x = triton_grpc.InferInput("x", [3], "FP64")
        x.set_data_from_numpy(np.array([1.0, 2.0, 5.0]))
        assert client.infer("half_plus_two", [x]).as_numpy("y").tolist() == [2.5, 3.0, 4.5]
        client.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-2000:]


def test_the_committed_descriptor_set_is_compiled_from_the_protos():
    from google.protobuf import descriptor_pb2

    from pmmlkit.server.rpc.compile import compiled
    from pmmlkit.server.rpc.messages import DESCRIPTORS

    committed = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    fresh = descriptor_pb2.FileDescriptorSet.FromString(compiled())
    assert committed == fresh, "run `make protos` after editing pmmlkit/server/rpc/protos"
    names = {f.package for f in committed.file}
    assert {"tensorflow", "tensorflow.serving", "tensorflow.error", "inference"} <= names

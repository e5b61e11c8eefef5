"""TensorFlow Serving's own client against ``pmmlkit serve``'s gRPC API.

    .venv/bin/python benchmarks/tf_serving_client.py

The official ``tensorflow-serving-api`` package (its generated messages and stubs) needs
TensorFlow, which pmmlkit must not depend on, so it lives in a benchmark-only virtualenv this
script creates under ``benchmarks/.cache/tfs-venv`` (``tensorflow-cpu`` 2.21, then
``tensorflow-serving-api`` without its ``tensorflow`` requirement, which ``tensorflow-cpu``
provides). The script serves the committed ``half_plus_two`` and the benchmark's GBM
pipeline (``bench_serve.prepare``) on 127.0.0.1 and calls every method pmmlkit serves the
way TF's documentation does: ``tf.make_tensor_proto`` / ``tf.make_ndarray``, ``tf.train.
Example``, ``PredictionServiceStub``, ``ModelServiceStub``. Oracles: ``x / 2 + 2`` and
scikit-learn's ``predict_proba``. Exit 0 when every check holds; each check is printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
VENV = HERE / ".cache" / "tfs-venv"
PACKAGES = ["tensorflow-cpu>=2.21,<2.22"]
CLIENT_PACKAGE = "tensorflow-serving-api>=2.21,<2.22"

# runs in the TF virtualenv: argv = address, rows (JSON file); prints one JSON object
_CLIENT = textwrap.dedent('''
    import json, sys
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
        get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
        prediction_service_pb2_grpc, regression_pb2)

    address, rows_file = sys.argv[1], sys.argv[2]
    rows = json.load(open(rows_file))
    channel = grpc.insecure_channel(address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    out = {}

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0, 5.0]))   # DT_FLOAT
    answer = stub.Predict(request, timeout=30)
    out["half_plus_two"] = tf.make_ndarray(answer.outputs["y"]).tolist()
    out["half_plus_two_spec"] = [answer.model_spec.name, answer.model_spec.version.value]

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gbm"
    request.model_spec.signature_name = "serving_default"
    for name, values in rows.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))   # float64 / string
    request.output_filter.append("probability(1)")
    answer = stub.Predict(request, timeout=30)
    out["gbm_probability"] = tf.make_ndarray(answer.outputs["probability(1)"]).tolist()
    out["gbm_outputs"] = sorted(answer.outputs)

    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "gbm"
    n = len(next(iter(rows.values())))
    for i in range(n):
        example = classify.input.example_list.examples.add()
        for name, values in rows.items():
            feature = example.features.feature[name]
            if isinstance(values[i], str):
                feature.bytes_list.value.append(values[i].encode())
            else:
                feature.float_list.value.append(values[i])
    answer = stub.Classify(classify, timeout=30)
    out["classify"] = [[[c.label, c.score] for c in r.classes]
                       for r in answer.result.classifications]

    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "half_plus_two"
    for x in (1.0, 2.0):
        regress.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    out["regress"] = [r.value for r in stub.Regress(regress, timeout=30).result.regressions]

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "gbm"
    meta.metadata_field.append("signature_def")
    answer = stub.GetModelMetadata(meta, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    answer.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    out["signature"] = {"inputs": sorted(signature.inputs), "outputs": sorted(signature.outputs),
                        "method": signature.method_name,
                        "x0": tf.dtypes.as_dtype(signature.inputs["x0"].dtype).name}

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "half_plus_two"
    versions = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        status, timeout=30).model_version_status
    out["status"] = [[v.version, get_model_status_pb2.ModelVersionStatus.State.Name(v.state),
                      v.status.error_code] for v in versions]

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "no_such_model"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0]))
    try:
        stub.Predict(request, timeout=30)
        out["not_found"] = "answered"
    except grpc.RpcError as exc:
        out["not_found"] = [exc.code().name, exc.details()]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gbm"
    for name, values in rows.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values[:1]))
    request.inputs["x1"].CopyFrom(tf.make_tensor_proto(["abc"]))
    try:
        stub.Predict(request, timeout=30)
        out["bad_value"] = "answered"
    except grpc.RpcError as exc:
        out["bad_value"] = [exc.code().name, exc.details()]
    print(json.dumps(out))
''')


def tf_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (tensorflow-cpu, tensorflow-serving-api)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                        CLIENT_PACKAGE], check=True)
    return python


def main() -> int:
    sys.path.insert(0, str(HERE))
    import httpx
    from bench_serve import free_port, prepare

    from pmmlkit.datasets import CATEGORICAL, FEATURES

    python = tf_venv()
    folder = Path(tempfile.mkdtemp(prefix="pmmlkit-tfclient-"))
    data = prepare(folder)
    shutil.copytree(ROOT / "models" / "half_plus_two", data["repo"] / "half_plus_two")
    rows = data["rows"].iloc[:8]
    (folder / "rows.json").write_text(json.dumps({c: rows[c].tolist() for c in FEATURES}))
    rest, grpc_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(data["repo"]),
                               "--port", str(rest), "--grpc-port", str(grpc_port),
                               "--v2-grpc-port", "0", "--poll", "0", "--log-level", "warning"],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{rest}/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        run = subprocess.run([str(python), "-c", _CLIENT, f"127.0.0.1:{grpc_port}",
                              str(folder / "rows.json")], capture_output=True, text=True,
                             env=env, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=60)
    if run.returncode != 0:
        print(run.stderr[-4000:])
        return 1
    out = json.loads(run.stdout.strip().splitlines()[-1])
    native = data["native"][:8]
    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    import pandas as pd

    as_float = rows.copy()
    as_float[numeric] = as_float[numeric].astype(np.float32).astype(np.float64)
    import joblib

    pipeline = joblib.load(data["joblib"])
    native_float = pipeline.predict_proba(as_float[FEATURES])[:, 1]
    # the inputs the document declares: its top model's MiningSchema, less the target
    # (sklearn2pmml leaves out a column no tree splits on)
    import xml.etree.ElementTree as ET

    root = ET.parse(data["pmml"]).getroot()
    schema = next(e for e in root.iter() if e.tag.endswith("MiningSchema"))
    used = sorted(f.get("name") for f in schema if f.get("usageType", "active") == "active")
    checks = {
        "Predict half_plus_two (DT_FLOAT in) = [2.5, 3.0, 4.5]":
            out["half_plus_two"] == [2.5, 3.0, 4.5],
        "PredictResponse.model_spec = half_plus_two, 1":
            out["half_plus_two_spec"] == ["half_plus_two", 1],
        "Predict gbm probability(1) = scikit-learn (<= 1e-9)":
            float(np.max(np.abs(np.array(out["gbm_probability"]) - native))) <= 1e-9,
        "output_filter keeps probability(1)": out["gbm_outputs"] == ["probability(1)"],
        "Classify scores = scikit-learn on the float32 features (float scores)":
            float(np.max(np.abs(np.array([r[1][1] for r in out["classify"]])
                                - native_float.astype(np.float32)))) <= 1e-6,
        "Classify labels 0, 1": all([c[0] for c in r] == ["0", "1"] for r in out["classify"]),
        "Regress half_plus_two = [2.5, 3.0]": out["regress"] == [2.5, 3.0],
        "GetModelMetadata: inputs, outputs, method, x0 float64":
            out["signature"]["inputs"] == used
            and "probability(1)" in out["signature"]["outputs"]
            and out["signature"]["method"] == "tensorflow/serving/classify"
            and out["signature"]["x0"] == "float64",
        "GetModelStatus: version 1 AVAILABLE, OK": out["status"] == [[1, "AVAILABLE", 0]],
        "unknown model: NOT_FOUND": out["not_found"][0] == "NOT_FOUND",
        "bad value: INVALID_ARGUMENT naming instance, field, value":
            out["bad_value"][0] == "INVALID_ARGUMENT"
            and "instance 0: field 'x1' value 'abc'" in out["bad_value"][1],
    }
    _ = pd
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""`pmmlkit serve`: a real uvicorn on 127.0.0.1, a real HTTP client, both protocols, the
TF Serving demo, hot reload under load, limits, auth, path tricks, concurrency parity."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.datasets import CATEGORICAL, FEATURES
from pmmlkit.server import ServerConfig, VersionPolicy, create_app

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, timeout: float = 120) -> None:
    """Until ``base``'s readiness probe answers 200 (a server process starting up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{base} did not become ready in {timeout:g} s")


@contextlib.contextmanager
def serving(config: ServerConfig, *, ready: bool = True) -> Iterator[str]:
    """uvicorn serving ``create_app(config=config)`` in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config=config), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"{base}/v2/health/ready", timeout=5).status_code
            if status == 200 or (not ready and status == 503):
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    else:
        server.should_exit = True
        raise AssertionError("the server did not become ready")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, exported) -> Path:
    """A repository with the suite's GBM classifier and linear regression, version 1."""
    root = tmp_path_factory.mktemp("serve") / "models"
    repository = pmmlkit.Repository(str(root))
    for name in ("gbm", "linreg"):
        repository.publish(exported[name].path.read_bytes(), {}, name=name)
    return root


@pytest.fixture(scope="module")
def base(repo) -> Iterator[str]:
    config = ServerConfig(repo=str(repo), poll=0, max_body_bytes=1 << 20, max_instances=5000)
    with serving(config) as url:
        yield url


# -- TF Serving's own demo, on a fresh clone's committed model ---------------------------------
def test_tf_serving_demo_answers_exactly(tmp_path):
    shutil.copytree(ROOT / "models" / "half_plus_two", tmp_path / "half_plus_two")
    with serving(ServerConfig(repo=str(tmp_path), poll=0)) as url:
        r = httpx.post(f"{url}/v1/models/half_plus_two:predict",
                       content=b'{"instances": [1.0, 2.0, 5.0]}')
        assert r.status_code == 200 and r.json() == {"predictions": [2.5, 3.0, 4.5]}
        status = httpx.get(f"{url}/v1/models/half_plus_two").json()
        assert status == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                    "status": {"error_code": "OK",
                                                               "error_message": ""}}]}
        r = httpx.post(f"{url}/v1/models/half_plus_two:regress",
                       json={"examples": [{"x": 1.0}, {"x": 2.0}]})
        assert r.json() == {"results": [2.5, 3.0]}
        r = httpx.post(f"{url}/v1/models/half:predict", json={"instances": [1.0]})
        assert r.status_code == 404 and "Servable not found" in r.json()["error"]


def test_cli_serves_the_committed_model_and_stops_cleanly_on_sigterm():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", "models", "--model",
                             "half_plus_two", "--port", str(port), "--poll", "0", "--grpc-port", "0",
                             "--v2-grpc-port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        r = httpx.post(f"{url}/v1/models/half_plus_two:predict",
                       content=b'{"instances": [1.0, 2.0, 5.0]}')
        assert r.text.replace(" ", "") == '{"predictions":[2.5,3.0,4.5]}'
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    # uvicorn finishes in-flight requests and the app's shutdown, then re-raises SIGTERM so a
    # process manager sees how the server ended
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err and "Traceback" not in err


# -- both protocols, against scikit-learn --------------------------------------------------------
def _rows(holdout, n=40):
    return holdout[FEATURES].iloc[:n].reset_index(drop=True)


def _jsonable(frame: pd.DataFrame) -> list[dict]:
    """Records with every digit (pandas' to_json would round floats to 10 digits)."""
    return json.loads(json.dumps(frame.astype(object).to_dict("records")))


def test_row_and_columnar_predict_match_scikit_learn(base, exported, holdout):
    rows = _rows(holdout)
    native = exported["gbm"].native(rows)
    r = httpx.post(f"{base}/v1/models/gbm:predict", json={"instances": _jsonable(rows)})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert [set(p) for p in predictions[:1]] == [{"churn", "probability(0)", "probability(1)"}]
    got = np.array([p["probability(1)"] for p in predictions])
    assert np.max(np.abs(got - native["probability(1)"])) <= 1e-9
    assert [p["churn"] for p in predictions] == native["churn"].tolist()
    columnar = {c: rows[c].tolist() for c in FEATURES}
    outputs = httpx.post(f"{base}/v1/models/gbm/versions/1:predict",
                         json={"inputs": columnar}).json()["outputs"]
    assert np.max(np.abs(np.array(outputs["probability(1)"]) - native["probability(1)"])) <= 1e-9
    regression = httpx.post(f"{base}/v1/models/linreg:predict",
                            json={"instances": _jsonable(rows)}).json()["predictions"]
    assert np.max(np.abs(np.array(regression) - exported["linreg"].native(rows)["spend"])) \
        <= 1e-9  # one output column: a plain list


def test_classify_and_regress(base, exported, holdout):
    rows = _rows(holdout, 5)
    native = exported["gbm"].native(rows)
    results = httpx.post(f"{base}/v1/models/gbm:classify",
                         json={"examples": _jsonable(rows)}).json()["results"]
    assert [[label for label, _ in r] for r in results] == [["0", "1"]] * 5
    assert np.max(np.abs(np.array([r[1][1] for r in results]) - native["probability(1)"])) <= 1e-9
    context = {"color": rows["color"][0]}
    examples = _jsonable(rows.drop(columns="color"))
    regress = httpx.post(f"{base}/v1/models/linreg:regress",
                         json={"examples": examples, "context": context}).json()["results"]
    expected = exported["linreg"].native(rows.assign(color=context["color"]))["spend"]
    assert np.max(np.abs(np.array(regress) - expected)) <= 1e-9
    wrong = httpx.post(f"{base}/v1/models/linreg:classify", json={"examples": examples})
    assert wrong.status_code == 400 and "regression model" in wrong.json()["error"]


def test_open_inference_protocol(base, exported, holdout):
    rows = _rows(holdout, 7)
    assert httpx.get(f"{base}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{base}/v2/health/ready").status_code == 200
    meta = httpx.get(f"{base}/v2/models/gbm").json()
    assert meta["versions"] == ["1"] and meta["platform"] == "pmml"
    schema = pmmlkit.load(exported["gbm"].path).schema
    assert [i["name"] for i in meta["inputs"]] == schema.input_names
    assert httpx.get(f"{base}/v2/models/gbm/versions/1/ready").json()["ready"] is True
    tensors = [{"name": c, "shape": [len(rows)],
                "datatype": "BYTES" if rows[c].dtype == object or str(rows[c].dtype) == "str"
                else "FP64", "data": rows[c].tolist()} for c in FEATURES]
    body = {"id": "req-1", "inputs": tensors, "outputs": [{"name": "probability(1)"}]}
    answer = httpx.post(f"{base}/v2/models/gbm/infer", json=body).json()
    assert answer["id"] == "req-1" and answer["model_version"] == "1"
    (output,) = answer["outputs"]
    assert output["name"] == "probability(1)" and output["datatype"] == "FP64"
    assert output["shape"] == [len(rows)]
    native = exported["gbm"].native(rows)["probability(1)"]
    assert np.max(np.abs(np.array(output["data"]) - native)) <= 1e-9
    bad = httpx.post(f"{base}/v2/models/gbm/infer",
                     json={"inputs": [{"name": "x0", "shape": [3], "datatype": "FP64",
                                       "data": [1, 2]}]})
    assert bad.status_code == 400 and "shape" in bad.json()["error"]


def test_status_and_metadata(base):
    status = httpx.get(f"{base}/v1/models/gbm/versions/1").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    meta = httpx.get(f"{base}/v1/models/gbm/metadata").json()
    assert meta["model_spec"] == {"name": "gbm", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x0"]["dtype"] == "DT_DOUBLE"
    assert signature["outputs"]["probability(1)"]["dtype"] == "DT_DOUBLE"
    assert httpx.get(f"{base}/v1/models/gbm/versions/7").status_code == 404


# -- bad input, limits, paths ---------------------------------------------------------------------
@pytest.mark.parametrize("rows", [5, 40])  # record by record, and one columns call
def test_a_bad_instance_names_index_field_value_and_reason(base, holdout, rows):
    # the linear regression reads every input of every row (a tree reads only the fields on
    # its path: the evaluator refuses a bad value only where it reads it)
    records = _jsonable(_rows(holdout, rows))
    records[2]["x1"] = "abc"
    records[3]["color"] = None  # JSON null: a missing value (TF Serving would refuse it)
    records[rows - 1]["x2"] = "2,5"
    records[rows - 1]["size"] = "XXL"
    r = httpx.post(f"{base}/v1/models/linreg:predict", json={"instances": records})
    assert r.status_code == 400
    message = r.json()["error"]
    assert "instance 2: field 'x1' value 'abc': expected a number (double)" in message
    assert "instance 3:" not in message  # a missing category: the evaluator scores it
    # every bad field of an instance is named, not the first only
    last = message[message.index(f"instance {rows - 1}: "):]
    assert "field 'x2' value '2,5': expected a number" in last
    assert "field 'size' value 'XXL': value 'XXL' is not a valid value" in last


def test_a_field_absent_from_every_instance_is_a_400_naming_it(base, holdout):
    records = _jsonable(_rows(holdout, 3))
    for record in records:
        record["Color"] = record.pop("color")
    r = httpx.post(f"{base}/v1/models/linreg:predict", json={"instances": records})
    assert r.status_code == 400
    assert "['color'] are not among the fields" in r.json()["error"]
    assert "did you mean 'Color' for 'color'" in r.json()["error"]
    records[1]["color"] = None  # given in one instance: a missing value in the others
    r = httpx.post(f"{base}/v1/models/linreg:predict", json={"instances": records})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"instances": [1.0], "inputs": [1.0]}', 400, "not both"),
    (b'{"rows": []}', 400, "neither 'instances'"),
    (b'{"instances": [[1, 2, 3]]}', 400, "instances[0]"),
    (b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "JSON"),
    (b'{"instances": [{"x0": {"b64": "AA=="}}]}', 400, "b64"),
])
def test_malformed_bodies_are_400_naming_the_problem(base, body, status, words):
    r = httpx.post(f"{base}/v1/models/gbm:predict", content=body)
    assert r.status_code == status and words in r.json()["error"], r.text


def test_gzip_bodies_and_size_limits(base, holdout):
    records = _jsonable(_rows(holdout, 3))
    packed = gzip.compress(json.dumps({"instances": records}).encode())
    r = httpx.post(f"{base}/v1/models/gbm:predict", content=packed,
                   headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 3
    too_big = b'{"instances": [' + b"1.0," * 300_000 + b"1.0]}"
    assert httpx.post(f"{base}/v1/models/gbm:predict", content=too_big).status_code == 413
    bomb = gzip.compress(b" " * (8 << 20))  # 8 MiB of spaces in ~8 KB
    r = httpx.post(f"{base}/v1/models/gbm:predict", content=bomb,
                   headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["error"]
    many = {"instances": records * 2000}  # 6000 > max_instances 5000
    r = httpx.post(f"{base}/v1/models/gbm:predict", json=many)
    assert r.status_code in (400, 413)


@pytest.mark.parametrize("path", [
    "/v1/models/..:predict", "/v1/models/%2e%2e:predict", "/v1/models/..%2Fgbm:predict",
    "/v1/models/gbm%2F..%2F..%2Fetc:predict", "/v1/models//etc/passwd:predict",
    "/v1/models/s3:%2F%2Fbucket%2Fgbm:predict", "/v1/models/gbm/versions/..:predict",
    "/v1/models/gbm/versions/%C2%B2:predict", "/v2/models/../gbm/infer",
    "/v1/models/gbm/labels/..%2F..:predict",
])
def test_path_tricks_are_404(base, path, holdout):
    r = httpx.post(base + path, json={"instances": _jsonable(_rows(holdout, 1))})
    assert r.status_code == 404, (path, r.status_code, r.text)


def test_api_key(repo, holdout):
    config = ServerConfig(repo=str(repo), poll=0, api_key="s3cret", models=["linreg"])
    body = {"instances": _jsonable(_rows(holdout, 2))}
    with serving(config) as url:
        assert httpx.get(f"{url}/v2/health/live").status_code == 200  # probes stay open
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": ""}):
            r = httpx.post(f"{url}/v1/models/linreg:predict", json=body, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["error"]
        assert httpx.get(f"{url}/monitoring/prometheus/metrics").status_code == 401
        for headers in ({"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}):
            r = httpx.post(f"{url}/v1/models/linreg:predict", json=body, headers=headers)
            assert r.status_code == 200


def test_csv_endpoint_answers_every_record_in_order(base, exported, holdout):
    rows = _rows(holdout, 30)
    frame = rows.copy()
    frame.insert(0, "id", [f"r{i}" for i in range(len(rows))])
    lines = frame.to_csv(index=False).splitlines()
    cells = lines[5].split(",")
    cells[1 + FEATURES.index("x2")] = "oops"
    lines[5] = ",".join(cells)  # record 5: a bad number
    lines[9] += ",extra,cells"  # record 9: an unparseable line
    r = httpx.post(f"{base}/v1/models/linreg:score?keep=id", content="\n".join(lines) + "\n",
                   headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    import io

    out = pd.read_csv(io.StringIO(r.text), keep_default_na=False)
    assert out["id"].tolist()[:4] == ["r0", "r1", "r2", "r3"] and len(out) == 30
    assert list(out.columns) == ["id", "spend", "error"]
    assert "x2" in out["error"][4] and "oops" in out["error"][4]
    assert "unparseable line" in out["error"][8]
    good = [i for i in range(30) if i not in (4, 8)]
    native = exported["linreg"].native(rows.iloc[good])["spend"]
    got = out["spend"].iloc[good].astype(float).to_numpy()
    assert np.max(np.abs(got - native)) <= 1e-9


def test_csv_endpoint_answers_every_line_of_a_malformed_body(repo, exported, holdout, tmp_path):
    """Over-long lines, an extra field with a non-UTF-8 byte, a non-UTF-8 cell: each is its
    record's error, in place; the good records are scored; the answer is complete (its
    status was sent after the whole body was scored, never a cut stream)."""
    from tests.test_batch import _malformed_csv

    table = _rows(holdout, 10).copy()
    table.insert(0, "id", [f"c{i:04d}" for i in range(10)])
    table["note"] = "ignored"
    body = tmp_path / "in.csv"
    _malformed_csv(table, body)
    with serving(ServerConfig(repo=str(repo), poll=0, max_body_bytes=4 << 20)) as url:
        r = httpx.post(f"{url}/v1/models/gbm:score?keep=id", content=body.read_bytes(),
                       headers={"Content-Type": "text/csv"}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    import io

    out = pd.read_csv(io.StringIO(r.text), keep_default_na=False, dtype={"id": str})
    assert len(out) == 10 and r.text.endswith("\n")
    errors = dict(enumerate(out["error"]))
    assert "not UTF-8 text (byte 0xff" in errors[1] and "longer than" in errors[2]
    assert "not UTF-8 text (byte 0xe9" in errors[3] and "(200,000 characters)" in errors[5]
    assert len(errors[5]) < 400
    good = [0, 4, 6, 7, 8, 9]
    assert all(errors[i] == "" for i in good)
    assert out["id"].iloc[good].tolist() == table["id"].iloc[good].tolist()
    native = exported["gbm"].native(table[FEATURES].iloc[good])["probability(1)"]
    got = out["probability(1)"].iloc[good].astype(float).to_numpy()
    assert np.max(np.abs(got - native)) <= 1e-9


def test_csv_endpoint_goes_through_the_core_metrics_deadline_and_queue(repo, exported,
                                                                       holdout):
    """The CSV endpoint's chunks are requests of the core: counted in the rows and queue
    metrics, bounded by the deadline (504), refused at a full queue (429)."""
    import io
    import re

    rows = _rows(holdout, 300)
    body = rows.to_csv(index=False).encode()
    config = ServerConfig(repo=str(repo), models=["gbm"], poll=0, csv_chunk_rows=100)
    with serving(config) as url:
        r = httpx.post(f"{url}/v1/models/gbm:score", content=body, timeout=120)
        assert r.status_code == 200
        out = pd.read_csv(io.StringIO(r.text), keep_default_na=False)
        native = exported["gbm"].native(rows)["probability(1)"]
        assert np.max(np.abs(out["probability(1)"].to_numpy() - native)) <= 1e-9
        metrics = httpx.get(f"{url}/monitoring/prometheus/metrics").text
        assert re.search(r'pmmlkit_rows_total\{model="gbm",outcome="scored"\} 300\.0', metrics)
        # three chunks of 100 rows, each waited in the queue like any request
        assert re.search(r'pmmlkit_queue_seconds_count\{model="gbm"\} 3\.0', metrics)
        assert re.search(r'pmmlkit_requests_total\{code="200",method="score",model="gbm",'
                         r'protocol="tfserving"\} 1\.0', metrics)
        config.timeout = 1e-6  # the deadline starts with the request, and ends it
        late = httpx.post(f"{url}/v1/models/gbm:score", content=body, timeout=120)
        assert late.status_code == 504 and "deadline" in late.json()["error"]
    config = ServerConfig(repo=str(repo), models=["gbm"], poll=0, csv_chunk_rows=100,
                          queue_rows=50, workers=1)
    with serving(config) as url:
        async def both() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=120) as client:
                return list(await asyncio.gather(*(client.post(
                    f"{url}/v1/models/gbm:score", content=body) for _ in range(8))))

        answers = asyncio.run(both())
    codes = sorted(a.status_code for a in answers)
    assert 429 in codes and 200 in codes, codes
    assert all("at capacity" in a.json()["error"] for a in answers if a.status_code == 429)


# -- concurrency -------------------------------------------------------------------------------
def test_concurrent_distinct_requests_each_get_their_own_answer(base, exported, holdout):
    """Coalescing must never hand one caller's rows to another (MLServer's batching did)."""
    rows = _rows(holdout, 200)
    native = exported["gbm"].native(rows)["probability(1)"]
    records = _jsonable(rows)

    async def run() -> list[tuple[int, float]]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            async def one(i: int) -> tuple[int, float]:
                r = await client.post("/v1/models/gbm:predict",
                                      json={"instances": [records[i]]})
                assert r.status_code == 200, r.text
                (prediction,) = r.json()["predictions"]
                return i, prediction["probability(1)"]
            return await asyncio.gather(*(one(i % 200) for i in range(400)))

    answers = asyncio.run(run())
    assert max(abs(p - native[i]) for i, p in answers) <= 1e-9


def test_backpressure_and_deadline(repo, holdout):
    big = {"instances": _jsonable(pd.concat([_rows(holdout, 500)] * 8, ignore_index=True))}
    config = ServerConfig(repo=str(repo), poll=0, models=["gbm"], workers=1,
                          queue_rows=6000, max_batch_rows=4000)
    with serving(config) as url:
        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                answers = await asyncio.gather(*(client.post("/v1/models/gbm:predict",
                                                             json=big) for _ in range(6)))
                return [a.status_code for a in answers]

        codes = asyncio.run(burst())
        assert set(codes) <= {200, 429} and 429 in codes and 200 in codes, codes
    with serving(ServerConfig(repo=str(repo), poll=0, models=["gbm"], timeout=0.001)) as url:
        r = httpx.post(f"{url}/v1/models/gbm:predict", json=big, timeout=60)
        assert r.status_code == 504 and "deadline" in r.json()["error"]


# -- versions and hot reload ----------------------------------------------------------------------
def _logreg(dataset, c: float):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    from pmmlkit.datasets import CATEGORICAL, NUMERIC

    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(), CATEGORICAL)])
    return PMMLPipeline([("pre", pre), ("model", LogisticRegression(C=c, max_iter=500))]).fit(
        dataset[FEATURES], dataset["churn"])


def _publish_broken(root: Path, name: str, version: int, pmml: bytes) -> None:
    """A complete version whose PMML does not match its manifest's sha256."""
    folder = root / name / str(version)
    folder.mkdir(parents=True)
    (folder / ".claim").write_bytes(b"")
    (folder / "model.pmml").write_bytes(pmml.replace(b"<Header", b"<Header description=\"x\"", 1))
    (folder / "manifest.json").write_text(json.dumps({"name": name, "version": version,
                                                      "sha256": "0" * 64}))


def test_hot_reload_under_load_never_fails_a_request(tmp_path, dataset, holdout):
    """Requests run while two new versions and one broken one are published: zero failures,
    every answer equal to the native model of the version that gave it."""
    root = tmp_path / "models"
    models = {1: _logreg(dataset, 0.05), 2: _logreg(dataset, 1.0), 4: _logreg(dataset, 20.0)}
    rows = _rows(holdout, 50)
    native = {v: m.predict_proba(rows)[:, 1] for v, m in models.items()}
    # each version exported before the load starts, then published under it
    staged = pmmlkit.Repository(str(tmp_path / "staged"))
    exports = {}
    for v, m in models.items():
        ref = pmmlkit.export_sklearn(m, dataset[FEATURES].iloc[:200],
                                     dataset["churn"].iloc[:200], repo=staged.root, name=f"m{v}")
        exports[v] = (staged.read_pmml(ref), ref.manifest)
    repository = pmmlkit.Repository(str(root))

    def publish(v: int) -> None:
        repository.publish(exports[v][0], exports[v][1], name="m")

    publish(1)
    tensors = [{"name": c, "shape": [len(rows)], "datatype": "BYTES" if c in CATEGORICAL
                else "FP64", "data": rows[c].tolist()} for c in FEATURES]
    config = ServerConfig(repo=str(root), poll=0.2)
    seen: dict[str, int] = {}
    failures: list[str] = []
    with serving(config) as url:
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    r = client.post("/v2/models/m/infer", json={"inputs": tensors})
                    if r.status_code != 200:
                        failures.append(r.text)
                        continue
                    answer = r.json()
                    version = int(answer["model_version"])
                    got = np.array(answer["outputs"][2]["data"])
                    if np.max(np.abs(got - native[version])) > 1e-9:
                        failures.append(f"version {version} answered other numbers")
                    seen[answer["model_version"]] = seen.get(answer["model_version"], 0) + 1

        clients = [threading.Thread(target=load) for _ in range(4)]
        for t in clients:
            t.start()
        try:
            def wait_for(version: str) -> None:
                deadline = time.monotonic() + 120
                while version not in seen and time.monotonic() < deadline and not failures:
                    time.sleep(0.05)
                assert version in seen, failures[:3]

            wait_for("1")
            publish(2)
            wait_for("2")
            pmml = (root / "m" / "2" / "model.pmml").read_bytes()
            _publish_broken(root, "m", 3, pmml)
            time.sleep(1.0)  # several polls see the broken version
            count_2 = seen["2"]
            time.sleep(0.5)
            assert seen["2"] > count_2  # version 2 keeps answering
            publish(4)  # version 4: the broken one holds number 3
            wait_for("4")
            time.sleep(0.3)
        finally:
            stop.set()
            for t in clients:
                t.join()
        status = {s["version"]: s for s in
                  httpx.get(f"{url}/v1/models/m").json()["model_version_status"]}
        metrics = httpx.get(f"{url}/monitoring/prometheus/metrics").text
    assert failures == []
    assert {"1", "2", "4"} <= set(seen) and "3" not in seen
    assert status["4"]["state"] == "AVAILABLE" and status["1"]["state"] == "END"
    assert status["3"]["state"] == "END" and status["3"]["status"]["error_code"] != "OK"
    assert "sha256" in status["3"]["status"]["error_message"]
    assert 'pmmlkit_model_loads_total{model="m",outcome="failed"} 1.0' in metrics


def test_an_empty_or_unreachable_repository_unloads_nothing(tmp_path, exported, holdout):
    root = tmp_path / "models"
    pmmlkit.Repository(str(root)).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    body = {"instances": _jsonable(_rows(holdout, 2))}
    with serving(ServerConfig(repo=str(root), poll=0.1)) as url:
        assert httpx.post(f"{url}/v1/models/lin:predict", json=body).status_code == 200
        os.rename(root, tmp_path / "elsewhere")  # the listing is now empty
        time.sleep(0.5)
        r = httpx.post(f"{url}/v1/models/lin:predict", json=body)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2


def test_version_policy_and_labels(tmp_path, exported, holdout):
    root = tmp_path / "models"
    repository = pmmlkit.Repository(str(root))
    for name in ("linreg", "gbm", "linreg"):  # versions 1 and 3 are linreg, 2 is gbm
        repository.publish(exported[name].path.read_bytes(), {}, name="m")
    rows = _rows(holdout, 3)
    body = {"instances": _jsonable(rows)}
    config = ServerConfig(repo=str(root), poll=0, policy=VersionPolicy.parse("latest:2"),
                          labels={"m": {"stable": 1}})
    with serving(config) as url:
        versions = {s["version"]: s["state"] for s in
                    httpx.get(f"{url}/v1/models/m").json()["model_version_status"]}
        assert versions == {"1": "AVAILABLE", "2": "AVAILABLE", "3": "AVAILABLE"}
        stable = httpx.post(f"{url}/v1/models/m/labels/stable:predict", json=body).json()
        spend = exported["linreg"].native(rows)["spend"]
        assert np.max(np.abs(np.array(stable["predictions"]) - spend)) <= 1e-9
        v2 = httpx.post(f"{url}/v1/models/m/versions/2:predict", json=body).json()
        assert set(v2["predictions"][0]) == {"churn", "probability(0)", "probability(1)"}
        assert httpx.post(f"{url}/v1/models/m/labels/canary:predict",
                          json=body).status_code == 404
    assert VersionPolicy.parse("3,1").choose([1, 2, 3]) == [1, 3]
    with pytest.raises(ValueError, match="version policy"):
        VersionPolicy.parse("newest")


def test_stored_labels_and_deprecation_are_followed_while_serving(tmp_path, exported, holdout):
    """A label moved in the repository (pmmlkit label) is followed at the next poll; a
    deprecated latest version is not served as the latest."""
    root = tmp_path / "models"
    repository = pmmlkit.Repository(str(root))
    for name in ("linreg", "gbm"):  # version 1 is a regression, 2 a classifier
        repository.publish(exported[name].path.read_bytes(), {}, name="m")
    repository.set_label("m", "stable", 1)
    body = {"instances": _jsonable(_rows(holdout, 2))}
    with serving(ServerConfig(repo=str(root), poll=0.2)) as url:
        def stable() -> dict:
            return httpx.post(f"{url}/v1/models/m/labels/stable:predict", json=body).json()

        assert isinstance(stable()["predictions"][0], float)  # version 1: a regression
        latest = httpx.post(f"{url}/v1/models/m:predict", json=body).json()
        assert "churn" in latest["predictions"][0]  # version 2
        repository.set_label("m", "stable", 2)
        deadline = time.monotonic() + 30
        while not isinstance(stable()["predictions"][0], dict):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        repository.remove_label("m", "stable")
        repository.deprecate("m", 2)
        deadline = time.monotonic() + 30
        while not isinstance(httpx.post(f"{url}/v1/models/m:predict", json=body).json().get(
                "predictions", [{}])[0], float):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_a_request_arriving_after_its_version_was_swapped_out_is_still_answered(exported,
                                                                                 holdout):
    """The race of a hot reload: a request resolved version 1, then version 1's queue was
    closed and drained before the request was queued. It must still get version 1's answer."""
    from concurrent.futures import ThreadPoolExecutor

    from pmmlkit.server.batching import Batcher

    model = pmmlkit.load(exported["linreg"].path)
    rows = _rows(holdout, 3)
    columns = {c: rows[c].tolist() for c in model.schema.input_names}

    async def run() -> list:
        batcher = Batcher(model, ThreadPoolExecutor(1), workers=1, wait=0.001, max_rows=64,
                          queue_rows=100)
        batcher.close()
        await asyncio.sleep(0.05)  # the dispatcher has finished: nothing was queued
        result = await asyncio.wait_for(batcher.submit(columns, 3), timeout=30)
        return result.columns["spend"]

    got = asyncio.run(run())
    assert np.max(np.abs(np.array(got) - exported["linreg"].native(rows)["spend"])) <= 1e-9


@pytest.mark.s3
def test_serves_a_repository_on_s3(bucket, exported, holdout):
    root = bucket + "/served"
    pmmlkit.Repository(root).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    rows = _rows(holdout, 4)
    with serving(ServerConfig(repo=root, poll=0)) as url:
        r = httpx.post(f"{url}/v1/models/lin:predict", json={"instances": _jsonable(rows)})
        assert r.status_code == 200, r.text
        got = np.array(r.json()["predictions"])
        assert np.max(np.abs(got - exported["linreg"].native(rows)["spend"])) <= 1e-9


def test_cli_refuses_beyond_loopback_without_a_key_and_a_repository_or_model_that_is_not_there(
        tmp_path):
    from pmmlkit.errors import ConfigurationError
    from pmmlkit.server.serve import is_loopback, parse_labels

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert parse_labels(["churn:stable=3", "churn:canary=4"]) == {"churn": {"stable": 3,
                                                                           "canary": 4}}
    with pytest.raises(ConfigurationError, match="NAME:LABEL=VERSION"):
        parse_labels(["churn=3"])
    env = {k: v for k, v in os.environ.items() if k != "PMMLKIT_API_KEY"}

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pmmlkit", "serve", *args, "--port",
                               str(free_port()), "--poll", "0", "--grpc-port", "0",
                               "--v2-grpc-port", "0"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    beyond = serve("models", "--host", "0.0.0.0")
    assert beyond.returncode == 3 and "needs an API key" in beyond.stderr
    missing = serve(str(tmp_path / "modles"))
    assert missing.returncode == 3 and "no repository there" in missing.stderr
    unknown = serve("models", "--model", "half_plus_tow")
    assert unknown.returncode == 5
    assert "no model 'half_plus_tow'" in unknown.stderr
    assert "did you mean 'half_plus_two'" in unknown.stderr
    for done in (beyond, missing, unknown):
        assert "Traceback" not in done.stderr and "Uvicorn running" not in done.stderr


def test_the_model_list_the_repository_index_readiness_and_the_access_log(tmp_path, exported):
    root = tmp_path / "models"
    pmmlkit.Repository(str(root)).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    # readiness waits for what was asked: a model not published yet keeps it at 503
    with serving(ServerConfig(repo=str(root), poll=0.2, models=["lin", "later"]),
                 ready=False) as url:
        assert httpx.get(f"{url}/v2/health/ready").status_code == 503
        pmmlkit.Repository(str(root)).publish(exported["logreg"].path.read_bytes(), {},
                                              name="later")
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        listed = httpx.get(f"{url}/v1/models").json()["models"]
        assert [(m["name"], m["versions"]) for m in listed] == [("later", ["1"]),
                                                                 ("lin", ["1"])]
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert {(i["name"], i["version"], i["state"]) for i in index} == {
            ("later", "1", "READY"), ("lin", "1", "READY")}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(root), "--port",
                             str(port), "--poll", "0", "--access-log", "--grpc-port", "0",
                             "--v2-grpc-port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        httpx.get(f"http://127.0.0.1:{port}/v1/models/lin")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert '"GET /v1/models/lin HTTP/1.1" 200' in err

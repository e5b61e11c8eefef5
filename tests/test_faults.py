"""`pmmlkit serve` under faults: broken versions, a repository that changes under another
process or goes away, many models at once. A real uvicorn on 127.0.0.1 and, for S3, moto's
server; the oracle is the native model (scikit-learn) or the state the test made."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import pmmlkit
from pmmlkit.server import ServerConfig
from tests.test_serve import _jsonable, _rows, serving


def _publish_raw(root: Path, name: str, version: int, pmml: bytes, manifest: Any) -> None:
    """A version as another tool (or a damaged disk) left it: files written as given."""
    folder = root / name / str(version)
    folder.mkdir(parents=True)
    (folder / ".claim").write_bytes(b"")
    (folder / "model.pmml").write_bytes(pmml)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "manifest.json").write_text(text)


def _wait(predicate: Any, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _status(url: str, name: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{url}/v1/models/{name}")
    if r.status_code != 200:
        return {}
    return {s["version"]: s for s in r.json()["model_version_status"]}


def _metric(url: str, line: str) -> bool:
    return line in httpx.get(f"{url}/monitoring/prometheus/metrics").text


def test_a_broken_version_fails_alone_and_the_loader_goes_on(tmp_path, exported, holdout):
    """Manifests that are JSON but not what a manifest is, and a document that does not match
    its checksum: each version is marked failed with its reason; the good model is served
    and ready, and versions published later, of any model, still load."""
    root = tmp_path / "models"
    lin = exported["linreg"].path.read_bytes()
    repository = pmmlkit.Repository(str(root))
    repository.publish(lin, {}, name="good")
    sha = hashlib.sha256(lin).hexdigest()
    _publish_raw(root, "list", 1, lin, [])
    _publish_raw(root, "parity", 1, lin, {"sha256": sha, "parity": "passed"})
    _publish_raw(root, "backends", 1, lin, {"sha256": sha, "parity": {"backends": ["jpmml"]}})
    _publish_raw(root, "altered", 1, lin + b"\n", {"sha256": sha})
    rows = _rows(holdout, 3)
    body = {"instances": _jsonable(rows)}
    native = exported["linreg"].native(rows)["spend"]
    with serving(ServerConfig(repo=str(root), poll=0.2)) as url:
        # ready: the broken models do not hold the good one back
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        r = httpx.post(f"{url}/v1/models/good:predict", json=body)
        assert r.status_code == 200, r.text
        assert np.max(np.abs(np.array(r.json()["predictions"]) - native)) <= 1e-9
        reasons = {name: _status(url, name)["1"] for name in ("list", "parity", "backends",
                                                             "altered")}
        for name, status in reasons.items():
            assert status["state"] == "END", (name, status)
            assert status["status"]["error_code"] != "OK", (name, status)
        assert "must be a JSON object, not a list" in reasons["list"]["status"]["error_message"]
        assert "'parity' must be an object, not a string" in \
            reasons["parity"]["status"]["error_message"]
        assert "'backends' must be an object" in reasons["backends"]["status"]["error_message"]
        assert "does not match the manifest" in reasons["altered"]["status"]["error_message"]
        r = httpx.post(f"{url}/v1/models/list:predict", json=body)
        assert r.status_code == 503 and "no version available" in r.json()["error"]
        # later: a broken version of the good model, then a good one, then a new model
        _publish_raw(root, "good", 2, lin, {"sha256": sha, "source": "sklearn"})
        _wait(lambda: _status(url, "good").get("2", {}).get("state") == "END")
        assert "'source' must be an object" in _status(url, "good")["2"]["status"][
            "error_message"]
        # version 1 still answers
        assert httpx.post(f"{url}/v1/models/good:predict", json=body).status_code == 200
        repository.publish(lin, {}, name="good")  # version 3
        repository.publish(lin, {}, name="newcomer")
        _wait(lambda: _status(url, "good").get("3", {}).get("state") == "AVAILABLE")
        _wait(lambda: _status(url, "newcomer").get("1", {}).get("state") == "AVAILABLE")
        r = httpx.post(f"{url}/v1/models/good/versions/3:predict", json=body)
        assert r.status_code == 200
        assert np.max(np.abs(np.array(r.json()["predictions"]) - native)) <= 1e-9
        index = httpx.post(f"{url}/v2/repository/index").json()
        states = {(row["name"], row["version"]): row["state"] for row in index}
        assert states[("good", "3")] == "READY" and states[("list", "1")] == "UNAVAILABLE"
        assert _metric(url, "pmmlkit_model_loader_up 1.0")
        assert _metric(url, 'pmmlkit_model_loads_total{model="list",outcome="failed"} 1.0')
    # and the command-line listing shows the broken versions, as broken, among the others
    listed = {(r["name"], r["version"]): r for r in repository.describe()}
    assert listed[("list", 1)]["parity"] == "BROKEN" and listed[("good", 3)]["parity"] != "BROKEN"
    assert "not a list" in listed[("list", 1)]["error"]


def test_a_named_broken_model_keeps_readiness_false(tmp_path, exported):
    root = tmp_path / "models"
    lin = exported["linreg"].path.read_bytes()
    pmmlkit.Repository(str(root)).publish(lin, {}, name="good")
    _publish_raw(root, "list", 1, lin, [])
    with serving(ServerConfig(repo=str(root), poll=0.2, models=["good", "list"]),
                 ready=False) as url:
        _wait(lambda: _status(url, "good").get("1", {}).get("state") == "AVAILABLE")
        _wait(lambda: _status(url, "list").get("1", {}).get("state") == "END")
        assert httpx.get(f"{url}/v2/health/ready").status_code == 503


def test_storage_that_goes_away_is_visible_and_recovers(tmp_path, exported, holdout):
    root = tmp_path / "models"
    pmmlkit.Repository(str(root)).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    body = {"instances": _jsonable(_rows(holdout, 2))}
    with serving(ServerConfig(repo=str(root), poll=0.1)) as url:
        assert _metric(url, "pmmlkit_storage_up 1.0")
        os.rename(root, tmp_path / "elsewhere")
        _wait(lambda: _metric(url, "pmmlkit_storage_up 0.0"))
        # still serving from memory, and saying why nothing new can arrive
        r = httpx.post(f"{url}/v1/models/lin:predict", json=body)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
        ready = httpx.get(f"{url}/v2/health/ready")
        assert ready.status_code == 200
        assert ready.json()["storage"]["ok"] is False
        assert "the repository is not there" in ready.json()["storage"]["error"]
        status = _status(url, "lin")["1"]
        assert status["state"] == "AVAILABLE"
        assert status["status"]["error_code"] == "UNAVAILABLE"
        assert "cannot be read since" in status["status"]["error_message"]
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert "cannot be read" in index[0]["reason"]
        assert not _metric(url, "pmmlkit_storage_failures_total 0.0")
        os.rename(tmp_path / "elsewhere", root)
        _wait(lambda: _metric(url, "pmmlkit_storage_up 1.0"))
        assert "storage" not in httpx.get(f"{url}/v2/health/ready").json()
        assert _status(url, "lin")["1"]["status"]["error_code"] == "OK"


def test_storage_changes_are_logged_once_per_change(tmp_path, exported, caplog):
    root = tmp_path / "models"
    pmmlkit.Repository(str(root)).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    with caplog.at_level(logging.WARNING, logger="pmmlkit.server"), \
            serving(ServerConfig(repo=str(root), poll=0.05)) as url:
        os.rename(root, tmp_path / "elsewhere")
        _wait(lambda: _metric(url, "pmmlkit_storage_up 0.0"))
        time.sleep(0.5)  # ten polls or so, each failing the same way
        os.rename(tmp_path / "elsewhere", root)
        _wait(lambda: _metric(url, "pmmlkit_storage_up 1.0"))
    lines = [r.getMessage() for r in caplog.records if r.name == "pmmlkit.server"]
    assert sum("cannot be read:" in line for line in lines) == 1, lines
    assert sum("can be read again" in line for line in lines) == 1, lines


def test_versions_load_in_parallel_and_each_serves_when_ready(tmp_path, exported, caplog):
    root = tmp_path / "models"
    repository = pmmlkit.Repository(str(root))
    lin = exported["linreg"].path.read_bytes()
    for i in range(12):
        repository.publish(lin, {}, name=f"m{i:02d}")
    with caplog.at_level(logging.INFO, logger="pmmlkit.server"), \
            serving(ServerConfig(repo=str(root), poll=0, load_workers=4)) as url:
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert [row["state"] for row in index] == ["READY"] * 12
    loaders = {r.threadName for r in caplog.records if "available" in r.getMessage()}
    assert len(loaders) > 1 and all(t.startswith("pmmlkit-model-load") for t in loaders), \
        loaders


# -- S3 ----------------------------------------------------------------------------------------
_PUBLISH = textwrap.dedent("""
    import sys, pmmlkit
    root, name, path = sys.argv[1:4]
    print(pmmlkit.Repository(root).publish(open(path, "rb").read(), {}, name=name).version)
""")
_REMOVE = textwrap.dedent("""
    import sys, s3fs
    path = sys.argv[1]
    s3fs.S3FileSystem().rm(path, recursive=True)
""")


@pytest.mark.s3
def test_polling_s3_sees_versions_published_and_removed_by_another_process(
        bucket, exported, holdout):
    root = bucket + "/served"
    pmmlkit.Repository(root).publish(exported["linreg"].path.read_bytes(), {}, name="lin")
    rows = _rows(holdout, 3)
    body = {"instances": _jsonable(rows)}
    with serving(ServerConfig(repo=root, poll=0.2)) as url:
        assert set(_status(url, "lin")) == {"1"}
        # another process publishes version 2 (a different model under the same name)
        done = subprocess.run([sys.executable, "-c", _PUBLISH, root, "lin",
                               str(exported["gbm"].path)], capture_output=True, text=True,
                              timeout=120, env=os.environ, check=False)
        assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr[-2000:]
        _wait(lambda: _status(url, "lin").get("2", {}).get("state") == "AVAILABLE", 20)
        r = httpx.post(f"{url}/v1/models/lin:predict", json=body)
        assert r.status_code == 200, r.text
        probability = [p["probability(1)"] for p in r.json()["predictions"]]
        native = exported["gbm"].native(rows)["probability(1)"]
        assert np.max(np.abs(np.array(probability) - native)) <= 1e-9
        # ... and removes it again: the server goes back to version 1
        done = subprocess.run([sys.executable, "-c", _REMOVE, f"{root}/lin/2"],
                              capture_output=True, text=True, timeout=120, env=os.environ,
                              check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        _wait(lambda: _status(url, "lin").get("2", {}).get("state") == "END", 20)
        r = httpx.post(f"{url}/v1/models/lin:predict", json=body)
        assert r.status_code == 200
        got = np.array(r.json()["predictions"])
        assert np.max(np.abs(got - exported["linreg"].native(rows)["spend"])) <= 1e-9
        # the bucket goes away: visible, and version 1 keeps answering
        done = subprocess.run([sys.executable, "-c", _REMOVE, bucket.removeprefix("s3://")],
                              capture_output=True, text=True, timeout=120, env=os.environ,
                              check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        _wait(lambda: _metric(url, "pmmlkit_storage_up 0.0"), 20)
        assert httpx.post(f"{url}/v1/models/lin:predict", json=body).status_code == 200
        assert _status(url, "lin")["1"]["status"]["error_code"] == "UNAVAILABLE"


# -- the wire's types: the TF REST API and the Open Inference Protocol ------------------------
TYPED = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
<DataDictionary>
 <DataField name="x" optype="continuous" dataType="double">
  <Interval closure="closedClosed" leftMargin="0" rightMargin="100"/></DataField>
 <DataField name="z" optype="continuous" dataType="double"/>
 <DataField name="w" optype="continuous" dataType="float"/>
 <DataField name="n" optype="continuous" dataType="integer"/>
 <DataField name="flag" optype="categorical" dataType="boolean">
  <Value value="false"/><Value value="true"/></DataField>
 <DataField name="s" optype="categorical" dataType="string">
  <Value value="a"/><Value value="b"/></DataField>
 <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression">
 <MiningSchema>
  <MiningField name="x" invalidValueTreatment="asMissing" missingValueReplacement="50"/>
  <MiningField name="z"/><MiningField name="w"/><MiningField name="n"/>
  <MiningField name="flag"/><MiningField name="s"/>
  <MiningField name="y" usageType="target"/>
 </MiningSchema>
 <RegressionTable intercept="1">
  <NumericPredictor name="x" coefficient="0.5"/>
  <NumericPredictor name="z" coefficient="2"/>
  <NumericPredictor name="w" coefficient="4"/>
  <NumericPredictor name="n" coefficient="3"/>
  <CategoricalPredictor name="flag" value="true" coefficient="10"/>
  <CategoricalPredictor name="s" value="b" coefficient="100"/>
 </RegressionTable>
</RegressionModel></PMML>"""
#: y = 1 + 0.5 x + 2 z + 4 w + 3 n + 10 [flag] + 100 [s = b], worked out by hand
GOOD = {"x": 10, "z": 1, "w": 0.25, "n": 2, "flag": True, "s": "b"}
GOOD_Y = 1 + 0.5 * 10 + 2 * 1 + 4 * 0.25 + 3 * 2 + 10 + 100  # 125
OUT_OF_RANGE_Y = GOOD_Y - 0.5 * 10 + 0.5 * 50  # x invalid -> asMissing -> 50: 145


@pytest.fixture(scope="module")
def typed(tmp_path_factory) -> Any:
    root = tmp_path_factory.mktemp("typed") / "models"
    pmmlkit.Repository(str(root)).publish(TYPED.encode(), {}, name="typed")
    with serving(ServerConfig(repo=str(root), poll=0)) as url:
        yield url


def _tf(url: str, raw: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/typed:predict", content=raw.encode(),
                      headers={"content-type": "application/json"})


def _instance(**changes: str) -> str:
    """One TF instance as JSON text, with some values replaced by raw JSON tokens."""
    parts = {k: json.dumps(v) for k, v in GOOD.items()}
    parts.update(changes)
    return '{"instances": [{' + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}]}"


def test_tf_numbers_are_numbers(typed):
    r = _tf(typed, _instance())
    assert r.status_code == 200 and r.json()["predictions"] == [GOOD_Y], r.text
    for field, token, words in [
            ("z", "true", "true is a boolean, and 'z' is a numeric input (double)"),
            ("n", "false", "false is a boolean, and 'n' is a numeric input (integer)"),
            ("w", "true", "is a boolean"),
            ("z", "Infinity", "inf is not a finite number"),
            ("z", "-Infinity", "-inf is not a finite number"),
            ("z", "1e400", "inf is not a finite number"),
            ("n", "-1e400", "-inf is not a finite number"),
            ("z", '"Infinity"', "'Infinity' is not a finite number")]:
        r = _tf(typed, _instance(**{field: token}))
        assert r.status_code == 400, (field, token, r.text)
        assert f"instances[0].{field}: " in r.json()["error"], r.text
        assert words in r.json()["error"], (token, r.text)
    # x declares a valid range: the PMML says what an infinite value is (invalid, asMissing,
    # replaced by 50), and the evaluator does it
    for token in ("Infinity", "1e400", '"Infinity"'):
        r = _tf(typed, _instance(x=token))
        assert r.status_code == 200 and r.json()["predictions"] == [OUT_OF_RANGE_Y], r.text
    # NaN and null are missing values: x's replacement applies
    for token in ("NaN", "null"):
        r = _tf(typed, _instance(x=token))
        assert r.status_code == 200 and r.json()["predictions"] == [OUT_OF_RANGE_Y], r.text
    # the columnar format, the same rules
    r = httpx.post(f"{typed}/v1/models/typed:predict", json={"inputs": {
        **{k: [v] for k, v in GOOD.items()}, "z": [True]}})
    assert r.status_code == 400 and "inputs.z[0]: true is a boolean" in r.json()["error"]


def _tensor(name: str, datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}


GOOD_TENSORS = {"x": ("FP64", [10]), "z": ("FP64", [1.0]), "w": ("FP32", [0.25]),
                "n": ("INT64", [2]), "flag": ("BOOL", [True]), "s": ("BYTES", ["b"])}


def _v2(url: str, **changes: tuple[str, list[Any]]) -> httpx.Response:
    """A V2 request; the number 1e400 is written as that literal (JSON has no infinity, and
    a number beyond the double range is what a client sends to mean one)."""
    tensors = {**GOOD_TENSORS, **changes}
    body = json.dumps({"inputs": [_tensor(name, datatype, data)
                                  for name, (datatype, data) in tensors.items()]})
    return httpx.post(f"{url}/v2/models/typed/infer", content=body.replace("Infinity", "1e400"),
                      headers={"content-type": "application/json"})


def test_v2_datatypes_are_checked_against_the_data_and_the_model(typed):
    meta = httpx.get(f"{typed}/v2/models/typed").json()
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
        name: datatype for name, (datatype, _) in GOOD_TENSORS.items()}
    r = _v2(typed)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [GOOD_Y]
    for change, words in [
            ({"z": ("COMPLEX", [1.0])}, "datatype 'COMPLEX' is not one of the protocol's"),
            ({"z": ("INT8", [1])}, "datatype INT8, but the model's input 'z' is FP64"),
            ({"z": ("FP32", [1.0])}, "datatype FP32, but the model's input 'z' is FP64"),
            ({"z": ("BYTES", ["0.3"])}, "datatype BYTES, but the model's input 'z' is FP64"),
            ({"w": ("FP64", [0.25])}, "datatype FP64, but the model's input 'w' is FP32"),
            ({"n": ("INT64", [0.5])}, "0.5 is not a INT64 value"),
            ({"n": ("INT64", [2 ** 63])}, f"{2 ** 63} is not a INT64 value"),
            ({"z": ("FP64", [True])}, "true is not a FP64 value"),
            ({"z": ("FP64", ["1.0"])}, "'1.0' is not a FP64 value"),
            ({"flag": ("BOOL", [1])}, "1 is not a BOOL value"),
            ({"s": ("BYTES", [1])}, "1 is not a BYTES value"),
            ({"z": ("FP64", [[1.0, 2.0]])}, "expected a single value, got a list"),
            ({"z": ("FP64", [1e400])}, "is not a finite number")]:
        r = _v2(typed, **change)
        assert r.status_code == 400, (change, r.text)
        assert words in r.json()["error"], (change, r.text)
    # a datatype may be missing from a tensor only as an error
    r = httpx.post(f"{typed}/v2/models/typed/infer", json={"inputs": [
        {"name": "z", "shape": [1], "data": [1.0]}]})
    assert r.status_code == 400 and "datatype None is not one of" in r.json()["error"]
    # x has a valid range: infinity is the PMML's to treat
    r = _v2(typed, x=("FP64", [1e400]))
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [OUT_OF_RANGE_Y]


# -- slow clients ------------------------------------------------------------------------------
def _exchange(port: int, *parts: tuple[bytes, float]) -> bytes:
    """Send each part after its pause; read until the server closes (or 10 s)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for data, pause in parts:
            time.sleep(pause)
            sock.sendall(data)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                received += chunk
                if b"408" not in received and received.endswith(b"]}"):
                    break  # a complete JSON answer; the connection stays open (keep-alive)
    return received


def test_a_client_that_never_finishes_its_request_is_cut_off_with_408():
    """Headers that never end, or a body shorter than its content-length: 408 and the
    connection closed after the deadline; a slow request within the deadlines is served."""
    import uvicorn

    from pmmlkit.server import create_app
    from pmmlkit.server.http import protocol
    from tests.test_serve import ROOT, free_port

    port = free_port()
    config = ServerConfig(repo=str(ROOT / "models"), models=("half_plus_two",), poll=0)
    server = uvicorn.Server(uvicorn.Config(create_app(config=config), host="127.0.0.1",
                                           port=port, log_level="warning",
                                           http=protocol(header_timeout=0.5, body_timeout=0.5)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: _ready(port), 60)
        head = b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nhost: x\r\n"
        body = b'{"instances": [1.0, 2.0, 5.0]}'
        started = time.monotonic()
        unfinished = _exchange(port, (head, 0))
        assert time.monotonic() - started < 5
        assert unfinished.startswith(b"HTTP/1.1 408 "), unfinished
        assert b"headers did not arrive within 0.5 s" in unfinished
        short = _exchange(port, (head + b"content-length: 100\r\n\r\n" + body, 0))
        assert short.startswith(b"HTTP/1.1 408 ") and b"body did not arrive" in short, short
        slow = _exchange(port, (head, 0), (b"content-length: %d\r\n\r\n" % len(body), 0.2),
                         (body, 0.2))
        assert slow.startswith(b"HTTP/1.1 200 ") and slow.endswith(
            b'{"predictions":[2.5,3.0,4.5]}'), slow
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# -- the JVM and the interpreter's exit --------------------------------------------------------
def test_the_process_exits_when_the_jvm_was_started_by_a_worker_thread(tmp_path, exported):
    """JPype's exit waits for every non-daemon thread attached to the JVM; a pool thread that
    started the JVM stayed attached as one, and the interpreter never exited."""
    script = tmp_path / "exit.py"
    script.write_text(textwrap.dedent(f"""
        from concurrent.futures import ThreadPoolExecutor
        import pmmlkit

        def load(_):
            return pmmlkit.load({str(exported["logreg"].path)!r}).backend

        with ThreadPoolExecutor(2) as pool:
            print(list(pool.map(load, range(2))))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=180, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['jpmml', 'jpmml']"

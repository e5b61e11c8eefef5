"""Serving benchmark: pmmlkit serve against MLServer and a hand-written FastAPI + pypmml server.

    .venv/bin/python benchmarks/bench_serve.py [--duration 10] [--concurrency 1,8,64]
                                                [--soak 0] [--reload] [--grpc]

Every contender serves the same fitted scikit-learn GBM pipeline (the test suite's features,
100 trees) on 127.0.0.1, one after the other on the same two cores, and answers the same
requests; the script first checks that all of them give the same probabilities (≤ 1e-9).

- (a) ``pmmlkit serve`` on the pipeline exported with ``pmmlkit.export_sklearn``;
- (b) MLServer with its scikit-learn runtime on the joblib file of the same pipeline, V2
  requests with the pandas codec (one input per column), ``parallel_workers: 0`` (measured:
  with workers the model does not load, "There is no current event loop");
- (c) FastAPI + ``pypmml.Model.predict`` on the same PMML: what a user writes by hand.

(b) and (c) live in a benchmark-only virtualenv this script creates under
``benchmarks/.cache/contenders-venv`` (MLServer pins its own FastAPI/pydantic). The load
generator is wrk (Debian's package; installed with apt-get when missing and allowed). Each
scenario — concurrency 1, 8, 64, with 1 and 100 instances a request — runs ``--duration``
seconds after a 2 s warm-up; requests/s, p50 and p99 come from ``wrk --latency``.
``--soak S`` then measures pmmlkit's RSS every 10 s over S seconds at concurrency 8;
``--reload`` measures p99 of model A while model B is re-published and reloaded.

``--grpc`` adds the gRPC APIs: pmmlkit's TF Serving Predict and Open Inference Protocol
ModelInfer (the same server process as its REST API), and MLServer's V2 gRPC on the same
requests (pandas codec). Their load generator is h2load (Debian's nghttp2-client, installed like
wrk), which sends a unary gRPC call as an HTTP/2 POST of the framed message; every contender's
gRPC answers are first checked against scikit-learn with a real gRPC client, and pmmlkit's
metrics count any call that did not end OK. p50/p99 come from h2load's per-request log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
CACHE = HERE / ".cache"
VENV = CACHE / "contenders-venv"
PY = sys.executable
CONTENDER_PACKAGES = ["mlserver>=1.7,<1.8", "mlserver-sklearn>=1.7,<1.8", "scikit-learn==1.9.0",
                      "fastapi>=0.110,<1", "uvicorn[standard]>=0.30,<1", "pypmml==1.5.8",
                      "pandas>=2.2,<4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the model and the requests ---------------------------------------------------------------
def prepare(folder: Path) -> dict[str, Any]:
    """Fit the GBM pipeline once; export it (pmmlkit), dump it (joblib), write request bodies."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import pmmlkit
    from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn

    train = make_churn(20_000, seed=10)
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(), CATEGORICAL)])
    pipeline = Pipeline([("pre", pre), ("model", GradientBoostingClassifier(
        n_estimators=100, max_depth=3, random_state=0))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train[FEATURES], train["churn"])
    repo = folder / "repo"
    for name in ("gbm", "gbm_b"):
        pmmlkit.export_sklearn(pipeline, train[FEATURES].iloc[:500], train["churn"].iloc[:500],
                               repo=str(repo), name=name)
    joblib.dump(pipeline, folder / "gbm.joblib")
    rows = make_churn(2000, seed=11)[FEATURES]
    native = pipeline.predict_proba(rows)[:, 1]
    bodies: dict[str, Any] = {}
    for n in (1, 100):
        part = rows.iloc[:n]
        records = part.astype(object).to_dict("records")  # every digit (to_json rounds)
        bodies[f"tf-{n}"] = {"instances": records}
        bodies[f"v2-{n}"] = {"parameters": {"content_type": "pd"}, "inputs": [
            {"name": c, "shape": [n], "datatype": "BYTES" if c in CATEGORICAL else "FP64",
             "parameters": {"content_type": "str"} if c in CATEGORICAL else {},
             "data": part[c].tolist()} for c in FEATURES],
            "outputs": [{"name": "predict_proba"}]}
        bodies[f"plain-{n}"] = {"records": records}
    for key, body in bodies.items():
        (folder / f"{key}.json").write_text(json.dumps(body))
    for n in (1, 100):
        for key, message in grpc_requests(rows.iloc[:n]).items():
            payload = message.SerializeToString()
            (folder / f"{key}-{n}.bin").write_bytes(
                b"\0" + len(payload).to_bytes(4, "big") + payload)  # gRPC's message frame
    write_post_script(folder)
    pmml = next((repo / "gbm").glob("*/model.pmml"))
    # what a server in production starts from: the compiled model in the cache (a fresh
    # export has a new sha256, and compiling it would otherwise share the two cores with
    # the first measurements)
    rows = make_churn(2000, seed=11)[FEATURES]
    warm = pmmlkit.load(str(pmml))
    warm.wait_compiled()
    warm.score_batch(rows.iloc[:600])  # the compiled model proves itself and is marked verified
    print(f"the served model: {warm.evaluator}", flush=True)
    return {"repo": repo, "joblib": folder / "gbm.joblib", "pmml": pmml, "native": native,
            "rows": rows}


GRPC_METHODS = {"grpc-tf": "/tensorflow.serving.PredictionService/Predict",
                "grpc-v2": "/inference.GRPCInferenceService/ModelInfer",
                "grpc-mlserver": "/inference.GRPCInferenceService/ModelInfer"}


def grpc_requests(part: Any) -> dict[str, Any]:
    """The same rows as gRPC messages: TF Predict and V2 ModelInfer for pmmlkit (typed
    contents), V2 ModelInfer with the pandas codec for MLServer."""
    from pmmlkit.datasets import CATEGORICAL, FEATURES
    from pmmlkit.server.rpc.messages import inference, serving

    n = len(part)
    tf = serving.PredictRequest(model_spec=serving.ModelSpec(name="gbm"))
    tf.output_filter.append("probability(1)")
    v2 = inference.ModelInferRequest(model_name="gbm")
    v2.outputs.add(name="probability(1)")
    ml = inference.ModelInferRequest(model_name="gbm")
    ml.parameters["content_type"].string_param = "pd"
    ml.outputs.add(name="predict_proba")
    for c in FEATURES:
        tensor = tf.inputs[c]
        tensor.tensor_shape.dim.add(size=n)
        for target in (v2.inputs.add(name=c, shape=[n]), ml.inputs.add(name=c, shape=[n])):
            if c in CATEGORICAL:
                target.datatype = "BYTES"
                target.contents.bytes_contents.extend(v.encode() for v in part[c])
            else:
                target.datatype = "FP64"
                target.contents.fp64_contents.extend(part[c].tolist())
        if c in CATEGORICAL:
            tensor.dtype = 7  # DT_STRING
            tensor.string_val.extend(v.encode() for v in part[c])
            ml.inputs[-1].parameters["content_type"].string_param = "str"
        else:
            tensor.dtype = 2  # DT_DOUBLE
            tensor.double_val.extend(part[c].tolist())
    return {"grpc-tf": tf, "grpc-v2": v2, "grpc-mlserver": ml}


def grpc_probabilities(address: str, kind: str, folder: Path, n: int) -> np.ndarray:
    """A contender's probability of class 1 over gRPC, with a real gRPC client."""
    import grpc

    from pmmlkit.server.rpc.messages import inference, serving

    framed = (folder / f"{kind}-{n}.bin").read_bytes()[5:]
    response = serving.PredictResponse if kind == "grpc-tf" else inference.ModelInferResponse
    with grpc.insecure_channel(address) as channel:
        answer = channel.unary_unary(GRPC_METHODS[kind], response_deserializer=response.FromString)(
            framed, timeout=60)
    if kind == "grpc-tf":
        return np.array(answer.outputs["probability(1)"].double_val)
    values = np.array(answer.outputs[0].contents.fp64_contents)
    return values.reshape(n, 2)[:, 1] if kind == "grpc-mlserver" else values


def h2load_run(h2load: str, url: str, body: Path, concurrency: int, duration: float,
               folder: Path) -> dict[str, Any]:
    """Unary gRPC calls of ``body`` to ``url`` with h2load: ``concurrency`` connections, one
    call in flight on each, for ``duration`` s after a 2 s warm-up."""
    log = folder / "h2load.log"
    log.unlink(missing_ok=True)  # h2load appends to its log
    out = subprocess.run([h2load, "-t1", f"-c{concurrency}", "-m1", f"-D{duration:g}",
                          "--warm-up-time=2", "-d", str(body), "-H", "content-type: "
                          "application/grpc", "-H", "te: trailers", f"--log-file={log}", url],
                         capture_output=True, text=True).stdout
    rps = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) "
                       r"failed, (\d+) errored, (\d+) timeout", out)
    times = np.array([int(line.split("\t")[2]) for line in log.read_text().splitlines()
                      if line.count("\t") >= 2 and line.split("\t")[1] == "200"]) / 1000.0
    return {"rps": float(rps[1]) if rps else 0.0,
            "p50_ms": round(float(np.percentile(times, 50)), 3) if times.size else None,
            "p99_ms": round(float(np.percentile(times, 99)), 3) if times.size else None,
            "non_2xx": sum(int(x) for x in failed.groups()) if failed else 0, "timeouts": 0}


def h2load_binary() -> str | None:
    found = shutil.which("h2load")
    if found or os.geteuid() != 0:
        return found
    subprocess.run(["apt-get", "install", "-y", "nghttp2-client"], capture_output=True)
    return shutil.which("h2load")


_HAND_SERVER = '''
import sys
import pandas as pd
from fastapi import FastAPI
from pypmml import Model

model = Model.fromFile(sys.argv[1])
app = FastAPI()

@app.post("/predict")
def predict(body: dict):
    out = model.predict(pd.DataFrame(body["records"]))
    return {"probability": out["probability(1)"].tolist()}

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def contender_venv() -> Path | None:
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    print("creating the contenders' virtualenv (MLServer, FastAPI, pypmml) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet",
                           *CONTENDER_PACKAGES], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"could not install the contenders: {done.stderr[-2000:]}", file=sys.stderr)
        shutil.rmtree(VENV, ignore_errors=True)
        return None
    return python


def wrk_binary() -> str | None:
    found = shutil.which("wrk")
    if found or os.geteuid() != 0:
        return found
    subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True)
    return shutil.which("wrk")


# -- running servers ------------------------------------------------------------------------------
class Contender:
    def __init__(self, name: str, command: list[str], url: str, ready: str, body: str,
                 cwd: Path | None = None, env: dict[str, str] | None = None,
                 grpc: dict[str, str] | None = None):
        self.name, self.command, self.url, self.ready, self.body = (name, command, url, ready,
                                                                    body)
        self.cwd, self.env = cwd, env
        #: gRPC request kind (grpc-tf, grpc-v2, grpc-mlserver) -> host:port
        self.grpc = grpc or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Contender:
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        import httpx

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.ready, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def probabilities(contender: Contender, folder: Path, n: int) -> np.ndarray:
    """The contender's probability of class 1 for the first ``n`` rows."""
    import httpx

    body = json.loads((folder / f"{contender.body}-{n}.json").read_text())
    answer = httpx.post(contender.url, json=body, timeout=60).json()
    if contender.body == "tf":
        return np.array([p["probability(1)"] for p in answer["predictions"]])
    if contender.body == "v2":
        (output,) = answer["outputs"]
        return np.array(output["data"]).reshape(n, 2)[:, 1]
    return np.array(answer["probability"])


_WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def load(wrk: str, contender: Contender, folder: Path, n: int, concurrency: int,
         duration: float) -> dict[str, Any]:
    return wrk_run(wrk, contender.url, folder / f"{contender.body}-{n}.json",
                   folder / "post.lua", concurrency, duration)


def write_post_script(folder: Path) -> Path:
    """wrk's Lua script: POST the JSON file named by $BODY."""
    path = folder / "post.lua"
    path.write_text(textwrap.dedent("""
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
        local f = io.open(os.getenv("BODY"), "r")
        wrk.body = f:read("*a")
        f:close()
        """))
    return path


def wrk_run(wrk: str, url: str, body: Path, script: Path, concurrency: int,
            duration: float) -> dict[str, Any]:
    """POST ``body`` to ``url`` with wrk at ``concurrency`` for ``duration`` s (after a 2 s
    warm-up at concurrency 1): requests/s, p50, p99 and failures."""
    env = {**os.environ, "BODY": str(body)}
    base = [wrk, "-t1", f"-c{concurrency}", "--latency", "--timeout", "10s", "-s",
            str(script), url]
    subprocess.run([*base[:1], "-t1", "-c1", "-d2s", *base[3:]], env=env,
                   capture_output=True)  # warm-up
    out = subprocess.run([*base[:3], f"-d{duration:g}s", *base[3:]], env=env,
                         capture_output=True, text=True).stdout
    latency = {p: float(v) * _UNITS[u] for p, v, u in _WRK_LATENCY.findall(out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {"rps": float(rps[1]) if rps else 0.0, "p50_ms": latency.get("50"),
            "p99_ms": latency.get("99"), "non_2xx": int(errors[1]) if errors else 0,
            "timeouts": int(timeouts[1]) if timeouts else 0}


def rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--instances", default="1,100")
    parser.add_argument("--contenders", default="pmmlkit,mlserver,fastapi-pypmml")
    parser.add_argument("--soak", type=float, default=0.0)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--grpc", action="store_true", help="also the gRPC APIs (h2load)")
    args = parser.parse_args()
    h2load = h2load_binary() if args.grpc else None
    if args.grpc and h2load is None:
        sys.exit("h2load is needed for --grpc (apt-get install nghttp2-client)")
    wrk = wrk_binary()
    if wrk is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="pmmlkit-bench-serve-"))
    data = prepare(folder)
    wanted = args.contenders.split(",")
    venv_python = contender_venv() if {"mlserver", "fastapi-pypmml"} & set(wanted) else None
    contenders = []
    port = free_port()
    if "pmmlkit" in wanted:
        tf_port, v2_port = free_port(), free_port()
        contenders.append(Contender(
            "pmmlkit serve", [PY, "-m", "pmmlkit", "serve", str(data["repo"]), "--model", "gbm",
                              "--port", str(port), "--poll", "0", "--log-level", "warning",
                              "--grpc-port", str(tf_port), "--v2-grpc-port", str(v2_port)],
            f"http://127.0.0.1:{port}/v1/models/gbm:predict",
            f"http://127.0.0.1:{port}/v2/health/ready", "tf",
            grpc={"grpc-tf": f"127.0.0.1:{tf_port}", "grpc-v2": f"127.0.0.1:{v2_port}"}
            if args.grpc else None))
    # pmmlkit without one of its parts, REST only: what the gRPC servers in the process cost
    # REST, what the columnar plan buys a server, what coalescing buys (one request, one call)
    variants = {"pmmlkit-nogrpc": ("pmmlkit serve, gRPC off", [], None),
                "pmmlkit-noplan": ("pmmlkit serve, PMMLKIT_PLAN=off", [],
                                   {**os.environ, "PMMLKIT_PLAN": "off"}),
                "pmmlkit-nobatch": ("pmmlkit serve, no coalescing",
                                    ["--max-batch-rows", "1", "--batch-wait-ms", "0"], None)}
    for key, (title, extra, env) in variants.items():
        if key not in wanted:
            continue
        port = free_port()
        contenders.append(Contender(
            title, [PY, "-m", "pmmlkit", "serve", str(data["repo"]), "--model", "gbm", "--port",
                    str(port), "--poll", "0", "--log-level", "warning", *extra, "--grpc-port", "0",
                    "--v2-grpc-port", "0"],
            f"http://127.0.0.1:{port}/v1/models/gbm:predict",
            f"http://127.0.0.1:{port}/v2/health/ready", "tf", env=env))
    if venv_python is not None and "mlserver" in wanted:
        port = free_port()
        settings = folder / "mlserver"
        (settings / "gbm").mkdir(parents=True)
        ml_grpc = free_port()
        (settings / "settings.json").write_text(json.dumps({
            "http_port": port, "grpc_port": ml_grpc, "metrics_port": free_port(),
            "parallel_workers": 0, "host": "127.0.0.1"}))
        (settings / "gbm" / "model-settings.json").write_text(json.dumps({
            "name": "gbm", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(data["joblib"])}}))
        contenders.append(Contender(
            "MLServer (sklearn runtime)", [str(VENV / "bin" / "mlserver"), "start",
                                           str(settings)],
            f"http://127.0.0.1:{port}/v2/models/gbm/infer",
            f"http://127.0.0.1:{port}/v2/health/ready", "v2",
            grpc={"grpc-mlserver": f"127.0.0.1:{ml_grpc}"} if args.grpc else None))
    if venv_python is not None and "fastapi-pypmml" in wanted:
        port = free_port()
        script = folder / "hand_server.py"
        script.write_text(_HAND_SERVER)
        contenders.append(Contender(
            "FastAPI + pypmml", [str(venv_python), str(script), str(data["pmml"]), str(port)],
            f"http://127.0.0.1:{port}/predict", f"http://127.0.0.1:{port}/docs", "plain"))
    concurrency = [int(c) for c in args.concurrency.split(",")]
    instances = [int(n) for n in args.instances.split(",")]
    results: dict[str, dict[str, Any]] = {}
    for contender in contenders:
        with contender:
            got = probabilities(contender, folder, 100)
            worst = float(np.max(np.abs(got - data["native"][:100])))
            print(f"{contender.name}: max |difference| to scikit-learn on 100 rows {worst:.2e}",
                  flush=True)
            results[contender.name] = {"parity": worst}
            for n in instances:
                for c in concurrency:
                    r = load(wrk, contender, folder, n, c, args.duration)
                    results[contender.name][f"{n}x{c}"] = r
                    print(contender.name, f"{n} instance(s), concurrency {c}:", json.dumps(r),
                          flush=True)
            for kind, address in contender.grpc.items():
                assert h2load is not None
                label = f"{contender.name}, gRPC {'TF' if kind == 'grpc-tf' else 'V2'}"
                got = grpc_probabilities(address, kind, folder, 100)
                worst = float(np.max(np.abs(got - data["native"][:100])))
                print(f"{label}: max |difference| to scikit-learn on 100 rows {worst:.2e}",
                      flush=True)
                results[label] = {"parity": worst}
                for n in instances:
                    for c in concurrency:
                        r = h2load_run(h2load, f"http://{address}{GRPC_METHODS[kind]}",
                                       folder / f"{kind}-{n}.bin", c, args.duration, folder)
                        results[label][f"{n}x{c}"] = r
                        print(label, f"{n} instance(s), concurrency {c}:", json.dumps(r),
                              flush=True)
            if contender.grpc and contender.body == "tf":
                import httpx

                metrics = httpx.get(contender.ready.replace(
                    "/v2/health/ready", "/monitoring/prometheus/metrics")).text
                bad = [line for line in metrics.splitlines() if line.startswith(
                    "pmmlkit_requests_total") and "grpc" in line and 'code="OK"' not in line]
                print("pmmlkit gRPC calls not OK:", bad or "none", flush=True)
                results[contender.name]["grpc_not_ok"] = bad
            if contender.body == "tf" and args.soak > 0:
                results[contender.name]["soak_rss_mb"] = soak(wrk, contender, folder,
                                                              args.soak)
            if contender.body == "tf" and args.reload:
                results[contender.name]["reload"] = reload_p99(wrk, contender, folder, data)
    print(json.dumps(results, indent=1))
    print(table(results, instances, concurrency))
    shutil.rmtree(folder, ignore_errors=True)


def soak(wrk: str, contender: Contender, folder: Path, seconds: float) -> list[float]:
    """RSS of the server every 10 s while wrk runs at concurrency 8 for ``seconds``."""
    env = {**os.environ, "BODY": str(folder / f"{contender.body}-1.json")}
    proc = subprocess.Popen([wrk, "-t1", "-c8", f"-d{seconds:g}s", "-s", str(folder / "post.lua"),
                             contender.url], env=env, stdout=subprocess.DEVNULL)
    samples = []
    while proc.poll() is None:
        samples.append(round(rss_mb(contender.pid), 1))
        time.sleep(10)
    print("soak RSS (MB, every 10 s):", samples, flush=True)
    return samples


def reload_p99(wrk: str, contender: Contender, folder: Path, data: dict[str, Any]
               ) -> dict[str, Any]:
    """p99 of model A at concurrency 8 with and without model B being reloaded meanwhile
    (needs a server started on both models: rerun pmmlkit without --model)."""
    import pmmlkit

    env = {**os.environ, "BODY": str(folder / "tf-1.json")}
    port = free_port()
    command = [PY, "-m", "pmmlkit", "serve", str(data["repo"]), "--port", str(port), "--poll",
               "0.5", "--log-level", "warning"]
    both = Contender("pmmlkit serve (two models)", command,
                     f"http://127.0.0.1:{port}/v1/models/gbm:predict",
                     f"http://127.0.0.1:{port}/v2/health/ready", "tf")
    out: dict[str, Any] = {}
    with both:
        out["quiet"] = load(wrk, both, folder, 1, 8, 8)
        pmml = (data["repo"] / "gbm_b" / "1" / "model.pmml").read_bytes()
        # a new version of B (another document: its cache entries are new) while A serves
        changed = pmml.replace(b"<Header", b'<Header description="reloaded"', 1)
        proc = subprocess.Popen([wrk, "-t1", "-c8", "--latency", "-d8s", "-s",
                                 str(folder / "post.lua"), both.url], env=env,
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        pmmlkit.Repository(str(data["repo"])).publish(changed, {}, name="gbm_b")
        text = proc.communicate()[0]
        latency = {p: float(v) * _UNITS[u] for p, v, u in _WRK_LATENCY.findall(text)}
        rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
        out["while_b_reloads"] = {"rps": float(rps[1]) if rps else 0.0,
                                  "p50_ms": latency.get("50"), "p99_ms": latency.get("99")}
    print("model A while model B reloads:", json.dumps(out), flush=True)
    return out


def table(results: dict[str, dict[str, Any]], instances: list[int],
          concurrency: list[int]) -> str:
    lines = ["| contender | instances | concurrency | requests/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|"]
    for name, by in results.items():
        for n in instances:
            for c in concurrency:
                r = by.get(f"{n}x{c}")
                if r is None:
                    continue
                lines.append(f"| {name} | {n} | {c} | {r['rps']:,.0f} | {r['p50_ms']} | "
                             f"{r['p99_ms']} | {r['non_2xx'] + r['timeouts']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

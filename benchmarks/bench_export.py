"""Export benchmark: pmmlkit's overhead on top of the converters, parity check included.

    .venv/bin/python benchmarks/bench_export.py

For each model: the converter alone (sklearn2pmml / pyspark2pmml building the PMML, no
verification records) against the full ``export_sklearn`` / ``export_spark`` (verification
records, parity through both backends on 500 rows, publishing), in one process, best of 3.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _models import best_of

import pmmlkit
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn


def sklearn_rows(train: Any, sample: Any, repo: str) -> list[tuple[str, float, float]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

    rows = []
    for name, step in [("logreg", LogisticRegression(max_iter=500)),
                       ("gbm", GradientBoostingClassifier(n_estimators=100, random_state=0))]:
        pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                                 ("cat", OneHotEncoder(), CATEGORICAL)])
        model = Pipeline([("pre", pre), ("model", step)]).fit(train[FEATURES], train["churn"])
        pmml_pipeline = make_pmml_pipeline(model, active_fields=FEATURES,
                                           target_fields=["churn"])
        out = Path(repo) / "plain.pmml"

        def plain(pp: Any = pmml_pipeline, target: Path = out) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import contextlib
                import io

                with contextlib.redirect_stdout(io.StringIO()):
                    sklearn2pmml(pp, str(target))

        converter = best_of(plain, 3)
        full = best_of(lambda m=model, n=name: pmmlkit.export_sklearn(
            m, sample[FEATURES], sample["churn"], repo=repo, name=f"sk-{n}"), 3)
        rows.append((f"scikit-learn {name}", converter, full))
    return rows


def spark_rows(train: Any, sample: Any, repo: str) -> list[tuple[str, float, float]]:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier, LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
    from pyspark2pmml import PMMLBuilder

    from pmmlkit.converter._spark import spark_session

    start = time.perf_counter()
    spark = spark_session()
    session_seconds = time.perf_counter() - start
    spark.sparkContext.setLogLevel("ERROR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_df, sample_df = spark.createDataFrame(train), spark.createDataFrame(sample)
    rows = [("Spark session start (local[2], with the jars)", session_seconds, session_seconds)]
    for name, est in [("logreg", LogisticRegression()), ("gbt", GBTClassifier(maxIter=50))]:
        stages = [StringIndexer(inputCol=c, outputCol=f"{c}_i") for c in CATEGORICAL]
        stages += [OneHotEncoder(inputCols=[f"{c}_i" for c in CATEGORICAL],
                                 outputCols=[f"{c}_v" for c in CATEGORICAL]),
                   VectorAssembler(inputCols=[*NUMERIC, *[f"{c}_v" for c in CATEGORICAL]],
                                   outputCol="features"),
                   StringIndexer(inputCol="churn", outputCol="label"), est]
        model = Pipeline(stages=stages).fit(train_df)
        converter = best_of(lambda m=model: PMMLBuilder(sample_df, m).buildByteArray(), 3)
        full = best_of(lambda m=model, n=name: pmmlkit.export_spark(
            m, sample_df, repo=repo, name=f"spark-{n}"), 3)
        rows.append((f"Spark {name}", converter, full))
    spark.stop()
    return rows


def main() -> None:
    train = make_churn(5000, seed=1)
    sample = make_churn(500, seed=2)
    with tempfile.TemporaryDirectory() as repo, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pmmlkit.load(str(Path(__file__).parents[1] / "tests/data/regression.pmml"))  # JVM up
        rows = sklearn_rows(train, sample, repo) + spark_rows(train, sample, repo)
    print("| model | converter alone (s) | pmmlkit export (s) | pmmlkit overhead (s) |")
    print("|---|---|---|---|")
    for name, converter, full in rows:
        print(f"| {name} | {converter:.2f} | {full:.2f} | {full - converter:+.2f} |")


if __name__ == "__main__":
    main()

"""Every path gives the same columns: a multi-target model's every target, and booleans in
every typed form, through the API, `pmmlkit score`, the server (TF and V2), Spark and Redis.

The oracles: the native multi-output estimator's predictions, and scikit-learn's own
predictions on the pandas bool column.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.datasets import NUMERIC
from pmmlkit.server import ServerConfig
from tests.test_serve import _jsonable, serving

TARGETS = ["spend", "y2"]


@pytest.fixture(scope="module")
def multi(tmp_path_factory, dataset) -> Any:
    """A MultiOutputRegressor over the suite's features, exported to a repository."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    frame = dataset.assign(y2=dataset["x0"] * 3 - dataset["x1"])
    pipeline = PMMLPipeline([("pre", ColumnTransformer([
        ("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(), ["color"])])),
        ("model", MultiOutputRegressor(Ridge()))])
    pipeline.fit(frame[[*NUMERIC, "color"]], frame[TARGETS])
    repo = tmp_path_factory.mktemp("multi") / "models"
    ref = pmmlkit.export_sklearn(pipeline, frame[[*NUMERIC, "color"]].iloc[:500],
                                 frame[TARGETS].iloc[:500], repo=str(repo), name="multi")
    return pipeline, ref


def _native(pipeline: Any, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    predicted = pipeline.predict(frame[[*NUMERIC, "color"]])
    return {t: predicted[:, k] for k, t in enumerate(TARGETS)}


def test_every_target_is_a_column_of_the_api_file_inspect_and_manifest(multi, holdout, tmp_path):
    pipeline, ref = multi
    model = pmmlkit.load(ref.ref)
    assert [c.name for c in model.schema.columns] == TARGETS
    assert [c["name"] for c in ref.manifest["schema"]["columns"]] == TARGETS
    native = _native(pipeline, holdout)
    scored = model.score_batch(holdout[[*NUMERIC, "color"]])
    for target in TARGETS:
        assert np.max(np.abs(scored[target] - native[target])) < 1e-9
    one = model.score(holdout[[*NUMERIC, "color"]].iloc[0].to_dict())
    assert set(one) == set(TARGETS)
    source, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    holdout[[*NUMERIC, "color"]].to_csv(source, index=False)
    pmmlkit.score_file(ref.ref, str(source), str(out))
    written = pd.read_parquet(out)
    assert list(written.columns) == TARGETS
    for target in TARGETS:
        assert np.max(np.abs(written[target] - native[target])) < 1e-9
    from typer.testing import CliRunner

    from pmmlkit.cli import app

    shown = CliRunner().invoke(app, ["inspect", ref.ref])
    assert all(t in shown.stdout for t in TARGETS)


def test_every_target_is_served_in_tf_and_v2(multi, holdout):
    pipeline, ref = multi
    rows = holdout[[*NUMERIC, "color"]].iloc[:20]
    native = _native(pipeline, rows)
    with serving(ServerConfig(repo=ref.root, poll=0)) as base:
        r = httpx.post(f"{base}/v1/models/multi:predict", json={"instances": _jsonable(rows)})
        assert r.status_code == 200, r.text
        predictions = r.json()["predictions"]
        for target in TARGETS:
            got = np.array([p[target] for p in predictions])
            assert np.max(np.abs(got - native[target])) < 1e-9
        body = {"inputs": [{"name": n, "shape": [20], "datatype": "FP64" if n != "color"
                            else "BYTES", "data": rows[n].tolist()} for n in rows.columns]}
        r = httpx.post(f"{base}/v2/models/multi/infer", json=body)
        assert r.status_code == 200, r.text
        outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
        assert set(outputs) == set(TARGETS)
        for target in TARGETS:
            assert np.max(np.abs(np.array(outputs[target]) - native[target])) < 1e-9


def test_every_target_is_a_spark_column_and_a_redis_field(multi, holdout, spark, redis_url):
    pipeline, ref = multi
    rows = holdout[[*NUMERIC, "color"]].iloc[:60].reset_index(drop=True)
    native = _native(pipeline, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = spark.createDataFrame(rows.assign(id=range(len(rows))))
        scored = pmmlkit.spark.score(frame, ref.ref, keep=["id"]).toPandas().sort_values("id")
    for target in TARGETS:
        assert np.max(np.abs(scored[target].to_numpy() - native[target])) < 1e-9
    path = Path(ref.root).parent / "users.csv"
    rows.assign(id=[f"u{i}" for i in range(len(rows))]).to_csv(path, index=False)
    pmmlkit.score_file(ref.ref, str(path), redis_url, key="id")
    found = pmmlkit.online.lookup(redis_url, "multi", ["u0", "u7"])
    for target in TARGETS:
        assert abs(float(found[target].iloc[1]) - native[target][7]) < 1e-9


@pytest.fixture(scope="module")
def flagged(tmp_path_factory, dataset) -> Any:
    """A logistic regression over a pandas bool column (one-hot encoded): its PMML field is
    ``dataType="boolean"``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    frame = dataset.assign(active=dataset["x2"] > 0)
    columns = ["x0", "x1", "active"]
    pipeline = PMMLPipeline([("pre", ColumnTransformer([
        ("num", StandardScaler(), ["x0", "x1"]), ("flag", OneHotEncoder(), ["active"])])),
        ("model", LogisticRegression())])
    pipeline.fit(frame[columns], frame["churn"])
    repo = tmp_path_factory.mktemp("flagged") / "models"
    ref = pmmlkit.export_sklearn(pipeline, frame[columns].iloc[:300], frame["churn"].iloc[:300],
                                 repo=str(repo), name="flagged")
    return pipeline, ref, frame[columns].iloc[:40].reset_index(drop=True)


def test_booleans_in_every_typed_form_are_scored_like_scikit_learn(flagged, spark, tmp_path):
    pipeline, ref, rows = flagged
    model = pmmlkit.load(ref.ref)
    assert model.schema.input("active").data_type == "boolean"
    native = pipeline.predict_proba(rows)[:, 1]
    # a pandas bool column, an Arrow boolean, JSON true/false, a Spark BooleanType column
    assert np.max(np.abs(model.score_batch(rows)["probability(1)"] - native)) < 1e-12
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, preserve_index=False)
    assert pa.types.is_boolean(table.schema.field("active").type)
    pq.write_table(table, tmp_path / "in.parquet")
    pmmlkit.score_file(ref.ref, str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"))
    got = pd.read_parquet(tmp_path / "out.parquet")["probability(1)"]
    assert np.max(np.abs(got - native)) < 1e-12
    with serving(ServerConfig(repo=ref.root, poll=0)) as base:
        r = httpx.post(f"{base}/v1/models/flagged:predict", json={"instances": _jsonable(rows)})
        assert r.status_code == 200, r.text
        got = np.array([p["probability(1)"] for p in r.json()["predictions"]])
        assert np.max(np.abs(got - native)) < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = spark.createDataFrame(rows.assign(id=range(len(rows))))
        assert dict(frame.dtypes)["active"] == "boolean"
        scored = pmmlkit.spark.score(frame, ref.ref, keep=["id"]).toPandas().sort_values("id")
    assert np.max(np.abs(scored["probability(1)"].to_numpy() - native)) < 1e-12


@pytest.mark.parametrize("spelling", ["pandas", "r", "lower"])
def test_a_csv_of_booleans_as_pandas_r_or_anyone_writes_them(flagged, tmp_path, spelling):
    pipeline, ref, rows = flagged
    words = {"pandas": ("True", "False"), "r": ("TRUE", "FALSE"), "lower": ("true", "false")}
    yes, no = words[spelling]
    text = rows.assign(active=np.where(rows["active"], yes, no))
    text.to_csv(tmp_path / "in.csv", index=False)
    summary = pmmlkit.score_file(ref.ref, str(tmp_path / "in.csv"), str(tmp_path / "out.csv"))
    assert summary.rows_rejected == 0
    got = pd.read_csv(tmp_path / "out.csv")["probability(1)"]
    assert np.max(np.abs(got - pipeline.predict_proba(rows)[:, 1])) < 1e-12


def test_pandas_csv_of_every_dtype_round_trips(tmp_path, dataset):
    """A pandas frame with a nullable integer (NA), a categorical, a bool and a datetime
    column, written by DataFrame.to_csv and scored by `pmmlkit score`, gives the fitted
    pipelines' own predictions."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.preprocessing import OneHotEncoder
    from sklearn2pmml.decoration import DateTimeDomain
    from sklearn2pmml.pipeline import PMMLPipeline
    from sklearn2pmml.preprocessing import SecondsSinceYearTransformer

    from pmmlkit.cli import app
    from pmmlkit.cli._common import run

    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({
        "visits": pd.array(rng.integers(0, 20, n), dtype="Int64"),
        "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], n)),
        "active": rng.random(n) < 0.5,
        "seen": pd.to_datetime("2021-03-01") + pd.to_timedelta(rng.integers(0, 10**7, n),
                                                                unit="s"),
    })
    frame.loc[frame.index[::9], "visits"] = pd.NA
    y = (frame["visits"].fillna(5).astype(float) + (frame["plan"] == "pro") * 4
         + frame["active"] * 3 > 11).astype(int)
    tabular = PMMLPipeline([("pre", ColumnTransformer([
        ("num", SimpleImputer(), ["visits"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "active"])])),
        ("model", LogisticRegression())])
    columns = ["visits", "plan", "active"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tabular.fit(frame[columns], y)
    dated = PMMLPipeline([("domain", DateTimeDomain()),
                          ("seconds", SecondsSinceYearTransformer(year=2021)),
                          ("model", LinearRegression())])
    target = (frame["seen"] - pd.Timestamp("2021-01-01")).dt.total_seconds() * 1e-6 + 3
    dated.fit(frame[["seen"]], target.rename("t"))
    for name, pipeline, used, column in (("tabular", tabular, columns, "probability(1)"),
                                         ("dated", dated, ["seen"], "t")):
        ref = pmmlkit.export_sklearn(pipeline, frame[used].iloc[:200],
                                     y.iloc[:200] if name == "tabular" else target.iloc[:200],
                                     repo=str(tmp_path / "repo"), name=name)
        source, out = tmp_path / f"{name}.csv", tmp_path / f"{name}.out.csv"
        frame[used].to_csv(source, index=False)  # Int64 NA as "", bools as True/False,
        # datetimes as "2021-03-05 10:11:12"
        assert run(app, ["score", ref.ref, str(source), "-o", str(out)]) == 0
        got = pd.read_csv(out)[column].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            native = (pipeline.predict_proba(frame[used])[:, 1] if name == "tabular"
                      else pipeline.predict(frame[used]))
        assert np.max(np.abs(got - native)) < 1e-9, name
    text = (tmp_path / "dated.csv").read_text().splitlines()[1]
    assert " " in text  # pandas' own spelling, with the space

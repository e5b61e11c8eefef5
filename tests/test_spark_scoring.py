"""pmmlkit.spark: scoring on Spark (local[2] and a standalone cluster on 127.0.0.1).

Oracles: the native scikit-learn model and Spark's own PipelineModel.transform for the
numbers; local scoring (score_batch / score_file) for which rows are bad and why.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC

pytestmark = pytest.mark.spark
runner = CliRunner()


def _frame(spark: Any, data: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spark.createDataFrame(data)


def _collect(df: Any) -> pd.DataFrame:
    """A Spark frame as pandas, with a missing error as None (pandas 3 reads a string
    column's nulls as NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = df.toPandas()
    if "error" in frame:
        frame["error"] = pd.Series([None if pd.isna(e) else e for e in frame["error"]],
                                   dtype=object, index=frame.index)
    return frame


def _with_bad_rows(holdout: pd.DataFrame) -> pd.DataFrame:
    """300 rows with an id; x0 as text (as from a CSV) with one unreadable value, a missing
    category and a missing number."""
    frame = holdout[FEATURES].iloc[:300].reset_index(drop=True).copy()
    frame.insert(0, "id", np.arange(len(frame), dtype=np.int64))
    frame["x0"] = pd.Series([repr(v) for v in frame["x0"]], dtype=object)
    frame.loc[3, "x0"] = "abc"
    frame.loc[7, "color"] = None
    frame.loc[11, "x1"] = np.nan
    return frame


@pytest.mark.parametrize("name", ["logreg", "gbm"])
def test_sklearn_model_on_spark_equals_native_and_reports_bad_rows_like_local(
        spark, exported, holdout, name):
    model = exported[name]
    data = _with_bad_rows(holdout)
    scored = pmmlkit.spark.score(_frame(spark, data).repartition(3), str(model.path), keep=["id"])
    out = _collect(scored).sort_values("id").reset_index(drop=True)
    local = pmmlkit.load(model.path).score_batch(data)
    assert len(out) == len(data) and list(out["id"]) == list(range(len(data)))
    assert list(out.columns) == ["id", *local.columns]
    # the same rows fail, for the same reasons, as in local scoring
    assert out["error"].tolist() == local["error"].tolist()
    assert out["error"].notna().sum() >= 2 and "'abc'" in out["error"][3]
    # scikit-learn refuses a missing category where the evaluator may score it (a linear
    # model's one-hot columns are all 0): the native oracle covers the other rows
    good = (out["error"].isna() & data["color"].notna()).to_numpy()
    features = data[FEATURES][good].astype({"x0": float})
    for column, expected in model.native(features).items():
        got = out[column][good].to_numpy()
        if np.asarray(expected).dtype.kind in "fiu":  # (a long column with nulls is float)
            assert np.max(np.abs(got.astype(float) - expected)) <= 1e-9, column
        else:
            assert [str(v) for v in got] == [str(v) for v in expected], column
    # the output types are the output contract's: doubles for probabilities, no strings
    types = dict(scored.dtypes)
    assert types["probability(1)"] == "double" and types["error"] == "string"


def test_spark_trained_pipeline_equals_transform_on_every_row(spark, tmp_path, dataset, holdout):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    train = _frame(spark, dataset)
    stages = [StringIndexer(inputCol=c, outputCol=f"{c}_i") for c in CATEGORICAL]
    stages += [OneHotEncoder(inputCols=[f"{c}_i" for c in CATEGORICAL],
                             outputCols=[f"{c}_v" for c in CATEGORICAL]),
               VectorAssembler(inputCols=[*NUMERIC, *[f"{c}_v" for c in CATEGORICAL]],
                               outputCol="features"),
               StringIndexer(inputCol="churn", outputCol="label"),
               GBTClassifier(maxIter=20, maxDepth=3, seed=0)]
    native = Pipeline(stages=stages).fit(train)
    test = _frame(spark, holdout.assign(id=np.arange(len(holdout))))
    pmmlkit.export_spark(native, test.limit(100), repo=str(tmp_path), name="gbt")
    scored = pmmlkit.spark.score(test.repartition(4), f"{tmp_path}/gbt", keep=["id"])
    got = _collect(scored).sort_values("id").reset_index(drop=True)
    want = _collect(native.transform(test).select("id", "prediction", "probability")
                    ).sort_values("id").reset_index(drop=True)
    assert len(got) == len(holdout) and got["error"].isna().all()
    categories = pmmlkit.load(f"{tmp_path}/gbt").schema.targets[0].categories
    probabilities = np.array([v.toArray() for v in want["probability"]])
    for i, category in enumerate(categories):
        assert np.max(np.abs(got[f"probability({category})"] - probabilities[:, i])) <= 1e-9
    assert [str(v) for v in got["churn"]] == [categories[int(p)] for p in want["prediction"]]
    # Spark's GBT compiles too (JPMML-Transpiler needs Double segment weights and mutable
    # lists, which pmmlkit gives the copy it compiles), and the compiled model is as exact
    from tests.conftest import jdk

    if jdk():
        compiled = pmmlkit.load(f"{tmp_path}/gbt", transpile=True)
        compiled.score_batch(holdout)  # the compiled model reproduces the interpreter: swapped in
        assert "(transpiled)" in compiled.evaluator
        local = compiled.score_batch(holdout)
        for i, category in enumerate(categories):
            assert np.max(np.abs(local[f"probability({category})"] - probabilities[:, i])) <= 1e-9


def test_each_python_worker_builds_a_model_once_across_jobs(spark, exported, holdout):
    path = exported["tree"].path
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    frame = _frame(spark, holdout[FEATURES]).repartition(6)
    for _ in range(3):
        assert pmmlkit.spark.score(frame, str(path)).where("error IS NULL").count() == len(holdout)

    def stats(batches: Any) -> Any:
        import pmmlkit.spark as ps

        for _ in batches:
            s = ps.worker_stats()
            yield pd.DataFrame({"pid": [s["pid"]], "loads": [s["loads"].get(sha, 0)]})

    seen = _collect(spark.range(8).repartition(8).mapInPandas(stats, "pid long, loads long"))
    assert seen["loads"].max() == 1  # reused by 18 tasks in 3 jobs, never built twice
    assert seen["pid"].nunique() <= 2 + 1  # local[2]: the workers Spark keeps, not one per task


def test_a_model_given_loaded_and_explicit_keep_with_a_clash(spark, exported, holdout):
    model = pmmlkit.load(exported["logreg"].path)
    frame = _frame(spark, holdout)
    out = _collect(pmmlkit.spark.score(frame, model))
    # default keep: every column not named like an output ("churn" is the target's name)
    assert list(out.columns) == [c for c in holdout.columns if c != "churn"] + [
        *model.schema.column_names, "error"]
    with pytest.raises(pmmlkit.InvalidInputError, match=r"kept columns \['churn'\]"):
        pmmlkit.spark.score(frame, model, keep=["churn"])
    with pytest.raises(pmmlkit.InvalidInputError, match=r"inputs \['x0'\] are not among"):
        pmmlkit.spark.score(frame.drop("x0"), model)


def test_damaged_pmml_on_an_executor_is_refused_by_its_checksum(exported):
    from pmmlkit.spark.executor import _model
    from pmmlkit.spark.job import _Job

    data = exported["logreg"].path.read_bytes()
    job = _Job(name="m", sha256=hashlib.sha256(data).hexdigest(), payload=data[:-10],
               backend=None, transpile=False, verify=True, keep=(), names=())
    with pytest.raises(pmmlkit.ModelLoadError, match=r"m: the PMML that reached this executor "
                                                     r"has sha256 \w+, not the driver's"):
        _model(job)


def _fails_on_executor(batches):
    for _ in batches:
        raise pmmlkit.InvalidInputError("x1 of a row: not a number", field="x1", value="abc",
                                        reason="expected a number (double)")
        yield  # a generator, as mapInArrow's functions are


def test_executor_error_comes_back_as_the_same_typed_error(spark):
    """A pmmlkit error raised on an executor reaches the driver through Spark's own
    exception as the same class with its field, value and reason (serialized, not parsed)."""
    from pmmlkit.spark.errors import _spark_errors, on_executor, translate

    frame = spark.createDataFrame(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(pmmlkit.InvalidInputError) as caught, _spark_errors("in.csv"):
        frame.mapInArrow(on_executor(_fails_on_executor), frame.schema).collect()
    error = caught.value
    assert (error.field, error.value, error.reason) == ("x1", "abc",
                                                        "expected a number (double)")
    assert str(error) == "x1 of a row: not a number"
    assert error.problems == [{"field": "x1", "value": "abc",
                               "reason": "expected a number (double)"}]
    assert isinstance(translate(RuntimeError("No module named 'pmmlkit'"), "x"),
                      pmmlkit.ConfigurationError)
    plain = RuntimeError("pmmlkit.errors.ModelLoadError: written by hand, not by pmmlkit")
    assert translate(plain, "x") is plain  # only a serialized error is rebuilt


# -- pmmlkit score --spark -------------------------------------------------------------------
@pytest.fixture(scope="module")
def job_files(tmp_path_factory, exported, holdout) -> dict[str, Any]:
    """A repository with the GBM, a CSV with bad cells, and local scoring's own results."""
    folder = tmp_path_factory.mktemp("spark-cli")
    repo = folder / "repo"
    pmmlkit.Repository(str(repo)).publish(exported["gbm"].path.read_bytes(), {}, name="gbm")
    data = holdout[FEATURES].assign(id=np.arange(len(holdout))).astype({"x0": object, "x3": object})
    data.loc[3, "x0"] = "abc"
    data.loc[5, "x2"] = np.nan
    data.loc[8, "x3"] = "NA"  # a missing marker: missing, as locally
    data.loc[9, "color"] = "purple"
    csv = folder / "in.csv"
    data.to_csv(csv, index=False)
    local = pmmlkit.score_file(f"{repo}/gbm", str(csv), str(folder / "local.parquet"),
                               keep=["id"], rejects=str(folder / "local-rejects.csv"))
    return {"repo": repo, "csv": csv, "data": data, "local": local, "folder": folder,
            "local_out": pd.read_parquet(folder / "local.parquet"),
            "local_rejects": pd.read_csv(folder / "local-rejects.csv")}


def _check_job(files: dict[str, Any], out: Path, rejects: Path, exported: Any) -> None:
    # kept CSV columns stay text, as in local scoring (Spark's inference would null misfits)
    got = pd.read_parquet(out).astype({"id": int}).sort_values("id").reset_index(drop=True)
    want = files["local_out"].astype({"id": int})
    assert (out / "_SUCCESS").is_file()
    assert list(got.columns) == list(want.columns)
    assert got["id"].tolist() == want["id"].tolist()
    for column in want.columns:
        if want[column].dtype.kind == "f":
            assert np.max(np.abs(got[column] - want[column])) <= 1e-9, column
    # and against scikit-learn itself, on the rows that scored
    rows = files["data"].set_index("id").loc[got["id"], FEATURES].astype({"x0": float, "x3": float})
    native = exported["gbm"].native(rows)
    assert np.max(np.abs(got["probability(1)"].to_numpy() - native["probability(1)"])) <= 1e-9
    assert (rejects / "_SUCCESS").is_file()
    bad = pd.concat([pd.read_csv(p) for p in sorted(rejects.glob("part-*.csv"))]).sort_values("id").reset_index(drop=True)
    local_bad = files["local_rejects"].sort_values("id").reset_index(drop=True)
    # the unreadable number, the two missing ones the model needs, the unknown category
    assert bad["id"].tolist() == local_bad["id"].tolist() == [3, 5, 8, 9]
    for column in ("field", "value", "reason"):
        assert bad[column].tolist() == local_bad[column].tolist(), column
    assert all(str(f).endswith("in.csv") for f in bad["file"])


def test_cli_score_spark_matches_local_scoring(spark, job_files, exported, tmp_path):
    files = job_files
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    result = runner.invoke(app, ["score", f"{files['repo']}/gbm", str(files["csv"]), "-o", str(out),
                                 "--rejects", str(rejects), "--keep", "id", "--spark"])
    assert result.exit_code == 10, result.output
    n = len(files["data"])
    assert f"read {n:,} rows: {n - 4:,} scored, 4 rejected" in result.stdout
    assert "field 'x0'" in result.stderr
    _check_job(files, out, rejects, exported)


def test_cli_score_spark_over_max_rejects_publishes_nothing(spark, job_files, tmp_path):
    from pmmlkit.cli._common import run

    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    with pytest.raises(pmmlkit.TooManyRejectsError,
                       match="4 rows rejected, more than --max-rejects 3") as info:
        pmmlkit.spark.score_files(f"{job_files['repo']}/gbm", str(job_files["csv"]), str(out),
                                  rejects=str(rejects), max_rejects=3)
    assert info.value.summary["rows_read"] == len(job_files["data"])
    code = run(app, ["score", f"{job_files['repo']}/gbm", str(job_files["csv"]), "-o", str(out),
                     "--spark", "--max-rejects", "0"])
    assert code == 11
    assert not out.exists() and not rejects.exists()
    # an existing output folder is not overwritten, and says so
    out.mkdir()
    with pytest.raises(pmmlkit.ConfigurationError, match="the output folder already exists"):
        pmmlkit.spark.score_files(f"{job_files['repo']}/gbm", str(job_files["csv"]), str(out))
    with pytest.raises(pmmlkit.StorageError, match="no such file or folder"):
        pmmlkit.spark.score_files(f"{job_files['repo']}/gbm", str(out / "nope.csv"),
                                  str(tmp_path / "o.csv"))


def test_cli_score_spark_on_a_standalone_cluster(spark_cluster, job_files, exported, tmp_path):
    """A separate driver process on a master/worker cluster: executors share nothing with it."""
    files = job_files
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    proc = subprocess.run(
        [sys.executable, "-m", "pmmlkit", "score", f"{files['repo']}/gbm", str(files["csv"]),
         "-o", str(out), "--rejects", str(rejects), "--keep", "id", "--spark", "--master",
         spark_cluster.url, "--json"],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 10, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]  # the summary is the output, and no Spark noise
    summary = __import__("json").loads(proc.stdout)
    assert summary["rows_read"] == len(files["data"]) and summary["rows_rejected"] == 4
    _check_job(files, out, rejects, exported)
    # the work ran in the cluster's executor processes (their folders and logs are the proof)
    logs = list(spark_cluster.work.glob("app-*/*/stderr"))
    assert logs, f"no executor ran under {spark_cluster.work}"


def test_a_compiled_model_shipped_by_the_driver_lands_in_the_worker_cache(tmp_path, monkeypatch):
    """Workers without the jar take the driver's (verified) one; one they have is kept."""
    from pmmlkit.scorer.backends import _jars
    from pmmlkit.spark.executor import _install_compiled

    monkeypatch.setenv("PMMLKIT_CACHE_DIR", str(tmp_path))
    sha = "ab" * 32
    name = f"{_jars.cache_key(sha)}-driver.jar"
    _install_compiled(sha, name, b"PK driver jar")
    assert _jars.verified_jar(sha) == tmp_path / "compiled" / name
    assert (tmp_path / "compiled" / name).read_bytes() == b"PK driver jar"
    _install_compiled(sha, f"{_jars.cache_key(sha)}-other.jar", b"PK other")
    assert sorted(p.name for p in (tmp_path / "compiled").glob("*.jar")) == [name]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory) -> Any:
    """A Spark Connect server (Spark's own, from the pyspark package) on 127.0.0.1."""
    import socket
    import time

    import pyspark

    home = Path(pyspark.__file__).parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jar = next((home / "jars").glob("spark-connect_*.jar"))
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(home / "bin" / "spark-submit"), "--class",
             "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[2]",
             "--conf", f"spark.connect.grpc.binding.port={port}", "--conf",
             "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.ui.enabled=false",
             str(jar)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while b"Spark Connect server started" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"Spark Connect did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.3)
    yield f"sc://127.0.0.1:{port}"
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_scoring_through_spark_connect(connect_server, exported, holdout, tmp_path):
    """Spark Connect has no broadcast: the PMML travels with the plan, and the numbers and
    errors are the same (a separate client process: Connect and classic sessions do not mix)."""
    data = holdout[FEATURES].iloc[:100].copy()
    data.loc[2, "color"] = "purple"
    data.assign(id=np.arange(len(data))).to_parquet(tmp_path / "in.parquet")
    code = f"""
import json, warnings
warnings.simplefilter("ignore")
import pandas as pd
from pyspark.sql import SparkSession
import pmmlkit.spark
spark = SparkSession.builder.remote({connect_server!r}).getOrCreate()
frame = spark.createDataFrame(pd.read_parquet({str(tmp_path / "in.parquet")!r}))
out = pmmlkit.spark.score(frame, {str(exported["gbm"].path)!r}, keep=["id"]).toPandas()
out = out.sort_values("id")
errors = [e if isinstance(e, str) else None for e in out["error"]]
print(json.dumps({{"p1": out["probability(1)"].tolist(), "error": errors}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    local = pmmlkit.load(exported["gbm"].path).score_batch(data)
    expected = [e if isinstance(e, str) else None for e in local["error"]]
    assert got["error"] == expected and got["error"][2] is not None
    native = exported["gbm"].native(data.drop(index=2))["probability(1)"]
    p1 = np.array([np.nan if v is None else v for v in got["p1"]], dtype=float)
    assert np.max(np.abs(np.delete(p1, 2) - native)) <= 1e-9

"""export_spark: Spark ML pipelines in a local Spark session, parity against transform()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.datasets import CATEGORICAL, NUMERIC

pytestmark = pytest.mark.spark
runner = CliRunner()


@pytest.fixture(scope="module")
def frames(spark, dataset, holdout) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spark.createDataFrame(dataset), spark.createDataFrame(holdout)


@pytest.fixture(scope="module")
def fitted(frames) -> Any:
    """``fitted(case)``: the case's pipeline fitted on the training frame, once per module
    (Spark's fits are seeded: every test of a case gets the same model)."""
    from pyspark.ml import Pipeline

    models: dict[str, Any] = {}

    def fit(case: str) -> Any:
        if case not in models:
            models[case] = Pipeline(stages=_stages(case)).fit(frames[0])
        return models[case]

    return fit


def _stages(name: str) -> list[Any]:
    from pyspark.ml.classification import (
        DecisionTreeClassifier,
        GBTClassifier,
        LogisticRegression,
        MultilayerPerceptronClassifier,
        NaiveBayes,
        RandomForestClassifier,
    )
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import (
        Bucketizer,
        MinMaxScaler,
        OneHotEncoder,
        StandardScaler,
        StringIndexer,
        VectorAssembler,
    )
    from pyspark.ml.regression import LinearRegression

    indexers = [StringIndexer(inputCol=c, outputCol=f"{c}_idx") for c in CATEGORICAL]
    encoder = OneHotEncoder(inputCols=[f"{c}_idx" for c in CATEGORICAL],
                            outputCols=[f"{c}_vec" for c in CATEGORICAL])
    bucket = Bucketizer(inputCol="x7", outputCol="x7_bucket",
                        splits=[-float("inf"), -1.0, 0.0, 1.0, float("inf")])
    assembled = VectorAssembler(inputCols=[*NUMERIC, "x7_bucket", *[f"{c}_vec" for c in
                                                                    CATEGORICAL]],
                                outputCol="raw")
    scaled = StandardScaler(inputCol="raw", outputCol="features")
    label = StringIndexer(inputCol="churn", outputCol="label")
    common = [*indexers, encoder, bucket, assembled, scaled]
    numeric_only = [VectorAssembler(inputCols=NUMERIC, outputCol="features")]
    return {
        "logreg": [*common, label, LogisticRegression()],
        "tree": [*common, label, DecisionTreeClassifier(maxDepth=5, seed=0)],
        "forest": [*common, label, RandomForestClassifier(numTrees=8, maxDepth=5, seed=0)],
        "gbt": [*common, label, GBTClassifier(maxIter=8, maxDepth=3, seed=0)],
        "mlp": [*numeric_only, label,
                MultilayerPerceptronClassifier(layers=[8, 6, 2], maxIter=50, seed=0)],
        # multinomial naive Bayes on one-hot counts (it needs non-negative features)
        "naive-bayes": [*indexers, encoder,
                        VectorAssembler(inputCols=[f"{c}_vec" for c in CATEGORICAL],
                                        outputCol="features"), label, NaiveBayes()],
        "minmax-logreg": [VectorAssembler(inputCols=NUMERIC, outputCol="raw"),
                          MinMaxScaler(inputCol="raw", outputCol="features"), label,
                          LogisticRegression()],
        "linreg": [*common, LinearRegression(labelCol="spend")],
        "kmeans": [*common, KMeans(k=3, seed=0)],
    }[name]


CASES = ["logreg", "tree", "forest", "gbt", "mlp", "naive-bayes", "minmax-logreg", "linreg",
         "kmeans"]


@pytest.mark.parametrize("case", CASES)
def test_export_reproduces_spark(tmp_path, frames, fitted, case):
    _, test = frames
    model = fitted(case)
    sample = test.limit(200)
    ref = pmmlkit.export_spark(model, sample, repo=str(tmp_path), name=case,
                               verification_rows=20)
    manifest = ref.manifest
    assert manifest["source"]["framework"] == "spark-ml"
    assert manifest["source"]["version"].startswith("4.2")
    assert manifest["converter"]["library"] == "pyspark2pmml"
    assert manifest["parity"]["passed"] and manifest["parity"]["rows"] == 200
    assert manifest["source"]["pipeline"][-1] == type(model.stages[-1]).__name__
    loaded = pmmlkit.load(f"{tmp_path}/{case}")
    # rows the export did not see: pmmlkit against Spark's own transform
    fresh = test.subtract(sample).limit(200).cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = fresh.select(*loaded.schema.input_names).toPandas()
        native = model.transform(fresh).toPandas()
    scored = loaded.score_batch(features)
    assert scored["error"].isna().all()
    target = loaded.schema.targets[0] if loaded.schema.targets else None
    if case == "linreg":
        assert np.max(np.abs(scored["spend"] - native["prediction"])) < 1e-9
    elif case == "kmeans":
        assert list(scored["prediction"].astype(int)) == list(native["prediction"].astype(int))
    else:
        categories = list(target.categories)
        expected = [categories[int(p)] for p in native["prediction"]]
        assert [str(v) for v in scored[target.name]] == expected
        probabilities = np.array([v.toArray() for v in native["probability"]])
        for i, category in enumerate(categories):
            got = scored[f"probability({category})"].to_numpy()
            assert np.max(np.abs(got - probabilities[:, i])) < 1e-9


@pytest.mark.parametrize("case", ["logreg", "gbt", "mlp"])
def test_spark_export_serves_the_columnar_plan_exactly(tmp_path, frames, fitted, dataset, case):
    """JPMML-SparkML's documents (Bucketizer bins, label-index MapValues outputs, weighted
    sums, a neural network's logistic layers and softmax) get the columnar plan, which gives
    the raw evaluator's numbers to the last bit, bins' margins and unknown categories
    included."""
    from tests.test_plan import _check_against_raw, _computed_by_plan

    train, _ = frames
    model = fitted(case)
    pmmlkit.export_spark(model, train.limit(100), repo=str(tmp_path), name=case,
                         verification_rows=10)
    loaded = pmmlkit.load(f"{tmp_path}/{case}")
    rows = dataset[loaded.schema.input_names].iloc[:1200].reset_index(drop=True)
    loaded.score_batch(rows)
    assert loaded.plan.startswith("serving:"), loaded.plan
    edge = rows.iloc[:6].copy().astype(object)
    edge.loc[0, "x7"] = -1.0  # on the bins' margins: the evaluator decides
    edge.loc[1, "x7"] = 0.0
    edge.loc[2, "color"] = "purple"
    xml = next(tmp_path.glob(f"{case}/*/model.pmml")).read_text()
    assert _check_against_raw(loaded, xml, rows) == len(rows)
    assert _check_against_raw(loaded, xml, edge) >= 3
    assert _computed_by_plan(loaded, rows) > len(rows) // 2


def test_bare_model_on_a_vector_column_is_refused_with_the_fix(tmp_path, frames):
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    train, test = frames
    assembled = VectorAssembler(inputCols=NUMERIC, outputCol="features").transform(train)
    bare = LogisticRegression(labelCol="churn").fit(assembled)
    sample = VectorAssembler(inputCols=NUMERIC, outputCol="features").transform(test.limit(50))
    with pytest.raises(pmmlkit.ConversionError, match=r"bare LogisticRegressionModel reads the "
                                                      r"vector column 'features'.*VectorAssembler"):
        pmmlkit.export_spark(bare, sample, repo=str(tmp_path), name="bare")


def test_indexed_string_into_a_linear_model_names_the_column_and_the_fix(tmp_path, frames):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    train, test = frames
    model = Pipeline(stages=[
        StringIndexer(inputCol="color", outputCol="color_idx"),
        VectorAssembler(inputCols=[*NUMERIC, "color_idx"], outputCol="features"),
        LogisticRegression(labelCol="churn")]).fit(train)
    with pytest.raises(pmmlkit.ConversionError, match=r"'color_idx' \(StringIndexer of 'color'\)"
                                                      r".*one-hot encode it"):
        pmmlkit.export_spark(model, test.limit(50), repo=str(tmp_path), name="idx")
    assert not (tmp_path / "idx").exists()


def test_bare_fitted_model_is_wrapped(tmp_path, frames):
    """A fitted model on named columns (here a StringIndexerModel feeding nothing) is wrapped."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.feature import StringIndexer

    from pmmlkit.converter._spark import as_pipeline_model

    indexer = StringIndexer(inputCol="color", outputCol="color_idx").fit(frames[0])
    wrapped = as_pipeline_model(indexer, frames[1])
    assert isinstance(wrapped, PipelineModel) and wrapped.stages == [indexer]


def test_unfitted_pipeline_is_refused(tmp_path, frames):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression

    with pytest.raises(pmmlkit.ConversionError, match="not a fitted Spark model"):
        pmmlkit.export_spark(Pipeline(stages=[LogisticRegression()]), frames[1],
                             repo=str(tmp_path), name="nope")


def test_cli_export_spark_from_saved_pipeline(tmp_path, fitted, holdout):
    # four stages: the CLI's own driver reads each stage's metadata with a Spark job
    model = fitted("minmax-logreg")
    model.save(str(tmp_path / "pipeline"))
    sample = tmp_path / "sample.parquet"
    holdout.iloc[:100].to_parquet(sample, index=False)
    # the console command in its own process: its own Spark driver, started by pmmlkit
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    proc = subprocess.run(
        [sys.executable, "-m", "pmmlkit", "export", "spark", str(tmp_path / "pipeline"),
         "--sample", str(sample), "--repo", str(tmp_path / "repo"), "--name", "s"],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "published s version 1" in proc.stdout
    # a command's output is for people: no log4j banner, WARN lines, progress bar, JPMML-
    # SparkML's ClassNotFoundException traces, netlib's dlopen failure or the JDK's
    # incubator warning
    assert proc.stderr == "", proc.stderr[-3000:]
    assert pmmlkit.Repository(str(tmp_path / "repo")).latest("s").manifest["parity"]["passed"]


def test_running_session_without_jars_is_told_what_to_add(tmp_path):
    code = textwrap.dedent(f"""
        import pandas as pd, pmmlkit
        from pyspark.sql import SparkSession
        from pyspark.ml.feature import VectorAssembler
        spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
        frame = spark.createDataFrame(pd.DataFrame({{"a": [1.0, 2.0]}}))
        model = VectorAssembler(inputCols=["a"], outputCol="v")
        try:
            pmmlkit.export_spark(model, frame, repo={str(tmp_path)!r}, name="x")
        except pmmlkit.ConversionError as exc:
            print(exc)
        spark.stop()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "does not have JPMML-SparkML" in proc.stdout
    assert "spark.jars=" in proc.stdout and "pmml-sparkml" in proc.stdout
    _ = pd


def _native_and_scored(model, ref_path, rows, columns=None):
    """Spark's own transform of ``rows`` and pmmlkit's scoring of their input columns."""
    loaded = pmmlkit.load(ref_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = rows.select(*loaded.schema.input_names).toPandas()
        native = model.transform(rows).toPandas()
    return loaded, native, loaded.score_batch(features)


def test_a_binomial_glm_classifier_is_compared_by_its_probability(tmp_path, frames):
    """A GLM's prediction is its mean, the probability of the second label, not a label."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.ml.regression import GeneralizedLinearRegression

    train, test = frames
    model = Pipeline(stages=[VectorAssembler(inputCols=NUMERIC, outputCol="features"),
                             StringIndexer(inputCol="churn", outputCol="label"),
                             GeneralizedLinearRegression(family="binomial", link="logit")]
                     ).fit(train)
    ref = pmmlkit.export_spark(model, test.limit(150), repo=str(tmp_path), name="glm")
    compared = ref.manifest["parity"]["backends"]["jpmml"]["max_abs_difference"]
    assert compared and max(compared.values()) < 1e-9
    loaded, native, scored = _native_and_scored(model, ref.ref, test.limit(300))
    target = loaded.schema.targets[0]
    second = target.categories[1] if target.categories else None
    column = next(c for c in scored.columns if c.startswith("probability(") and
                  (second is None or c == f"probability({second})"))
    assert np.max(np.abs(scored[column].to_numpy() - native["prediction"].to_numpy())) < 1e-9


def test_a_stage_writing_its_own_output_columns_exports(tmp_path, frames):
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    train, test = frames
    model = Pipeline(stages=[VectorAssembler(inputCols=NUMERIC, outputCol="feats"),
                             KMeans(k=3, seed=0, featuresCol="feats", predictionCol="cluster")]
                     ).fit(train)
    ref = pmmlkit.export_spark(model, test.limit(150), repo=str(tmp_path), name="km")
    assert ref.manifest["parity"]["passed"]
    _, native, scored = _native_and_scored(model, ref.ref, test.limit(300))
    assert list(scored["prediction"].astype(int)) == list(native["cluster"].astype(int))


def test_jpmml_sparkml_stages_load_without_their_python_classes(tmp_path, frames, holdout,
                                                               monkeypatch):
    """A pipeline holding JPMML-SparkML's own stages (domains), as Scala saves it: pyspark
    knows them only through pyspark2pmml's registered classes; without those (here removed)
    the directory is loaded through the JVM."""
    import sys

    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
    from pyspark2pmml.ml.feature import CategoricalDomain, ContinuousDomain

    train, test = frames
    model = Pipeline(stages=[
        CategoricalDomain(inputCols=["color"], outputCols=["color_dom"]),
        ContinuousDomain(inputCols=["x0"], outputCols=["x0_dom"]),
        StringIndexer(inputCol="color_dom", outputCol="color_idx"),
        OneHotEncoder(inputCols=["color_idx"], outputCols=["color_vec"]),
        VectorAssembler(inputCols=["x0_dom", "x1", "color_vec"], outputCol="features"),
        StringIndexer(inputCol="churn", outputCol="label"), LogisticRegression()]).fit(train)
    model.save(str(tmp_path / "pipeline"))
    for name in [m for m in sys.modules if m == "org" or m.startswith("org.")]:
        monkeypatch.delitem(sys.modules, name)
    sample = tmp_path / "sample.parquet"
    holdout.iloc[:150].to_parquet(sample, index=False)
    result = runner.invoke(app, ["export", "spark", str(tmp_path / "pipeline"), "--sample",
                                 str(sample), "--repo", str(tmp_path / "repo"), "--name", "dom"])
    assert result.exit_code == 0, result.output
    ref = pmmlkit.Repository(str(tmp_path / "repo")).latest("dom")
    assert ref.manifest["source"]["pipeline"][:2] == ["CategoricalDomainModel",
                                                      "ContinuousDomainModel"]
    loaded, native, scored = _native_and_scored(model, ref.ref, test.limit(300))
    for i, category in enumerate(loaded.schema.targets[0].categories):  # Spark's label order
        got = scored[f"probability({category})"].to_numpy()
        assert np.max(np.abs(got - np.array([v[i] for v in native["probability"]]))) < 1e-9


def test_a_secondary_evaluator_over_its_budget_is_not_checked(tmp_path, spark):
    """A text pipeline (RegexTokenizer + CountVectorizer); PMML4S gets no time: reported
    "not checked (budget)", and the default evaluator is checked on every row."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import CountVectorizer, RegexTokenizer, StringIndexer

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(200)]
    texts = pd.DataFrame({"text": [" ".join(rng.choice(vocabulary, 12)) for _ in range(600)]})
    texts["y"] = [int("w1 " in t or "w7 " in t) for t in texts["text"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = spark.createDataFrame(texts)
    model = Pipeline(stages=[RegexTokenizer(inputCol="text", outputCol="tokens", pattern=r"\s+"),
                             CountVectorizer(inputCol="tokens", outputCol="features"),
                             StringIndexer(inputCol="y", outputCol="label"),
                             DecisionTreeClassifier(maxDepth=5, seed=0)]).fit(frame)
    ref = pmmlkit.export_spark(model, frame.limit(300), repo=str(tmp_path), name="text",
                               parity_budget=0)
    parity = ref.manifest["parity"]
    assert parity["backends"]["jpmml"]["passed"] and parity["rows"] == 300
    assert parity["backends"]["pypmml"]["checked"] is False
    assert "not checked (budget)" in parity["backends"]["pypmml"]["reason"]
    _, native, scored = _native_and_scored(model, ref.ref, frame)
    labels = [str(int(v)) for v in scored["y"]]
    categories = pmmlkit.load(ref.ref).schema.targets[0].categories
    assert labels == [categories[int(p)] for p in native["prediction"]]

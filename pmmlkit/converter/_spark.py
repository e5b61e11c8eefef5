"""Spark ML → PMML through pyspark2pmml and its bundled JPMML-SparkML jars (offline)."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._boundary import converter
from pmmlkit.converter._parity import NativeOutputs
from pmmlkit.errors import ConversionError

# pyspark 4.2 warns that it "does not yet fully support pandas >= 3" on every toPandas; the
# conversions pmmlkit does (numbers and strings) are exact, and tested. One filter, added once
# (a catch_warnings block would swap the process-wide filters under other threads).
warnings.filterwarnings("ignore", message=".*does not yet fully support pandas.*")

TESTED_STAGES = (
    "StringIndexer, OneHotEncoder, VectorAssembler, StandardScaler, MinMaxScaler, Bucketizer; "
    "LogisticRegression, DecisionTreeClassifier, RandomForestClassifier, GBTClassifier, "
    "MultilayerPerceptronClassifier, NaiveBayes, LinearRegression, KMeans")
_lock = threading.Lock()


def spark_session() -> Any:
    """The active Spark session (checked for JPMML-SparkML), or a new local one with the jars."""
    try:
        import pyspark2pmml
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConversionError("exporting Spark models needs pyspark and pyspark2pmml: "
                              "pip install 'pmmlkit[spark]'") from exc
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            _check_jars(active, pyspark2pmml.spark_jars())
            return active
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import pmmlkit
        return (SparkSession.builder.master("local[2]").appName("pmmlkit-export")
                .config("spark.jars", pyspark2pmml.spark_jars())
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.memory", "2g")
                .getOrCreate())


def _check_jars(spark: Any, jars: str) -> None:
    jvm = spark.sparkContext._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName("org.jpmml.sparkml.PMMLBuilder", False, loader)
    except Exception as exc:
        raise ConversionError(
            "the running Spark session does not have JPMML-SparkML on its classpath. Start it "
            "with the jars pyspark2pmml ships: SparkSession.builder.config('spark.jars', "
            f"pyspark2pmml.spark_jars()) — that is, spark.jars={jars}") from exc


def as_pipeline_model(model: Any, sample: Any = None) -> Any:
    """A fitted PipelineModel: itself, or a bare fitted model wrapped in one.

    A bare predictor that reads a vector column is refused: PMML needs the stages that build
    that vector from named columns.
    """
    from pyspark.ml import PipelineModel, Transformer
    from pyspark.ml.linalg import VectorUDT

    if isinstance(model, PipelineModel):
        return model
    if isinstance(model, Transformer):
        features = model.getOrDefault("featuresCol") if model.hasParam("featuresCol") else None
        if features and sample is not None and features in sample.columns and \
                isinstance(sample.schema[features].dataType, VectorUDT):
            raise ConversionError(
                f"the bare {type(model).__name__} reads the vector column {features!r}; PMML "
                "needs the named input columns it is built from. Export a PipelineModel that "
                f"includes the stages building {features!r} (e.g. Pipeline(stages=["
                f"VectorAssembler(...), {type(model).__name__[:-5] or 'model'}(...)]).fit(df))")
        return PipelineModel(stages=[model])
    raise ConversionError(f"{type(model).__name__} is not a fitted Spark model: call .fit() "
                          "first and export the resulting PipelineModel (or fitted model)")


def as_spark_frame(spark: Any, sample: Any) -> Any:
    from pyspark.sql import DataFrame

    if isinstance(sample, DataFrame):
        return sample
    if isinstance(sample, pd.DataFrame):
        return spark.createDataFrame(sample)
    raise ConversionError("the sample must be a Spark or pandas DataFrame")


def convert(pipeline: Any, sample: Any, verify_rows: int) -> bytes:
    from pyspark2pmml import PMMLBuilder

    try:
        builder = PMMLBuilder(sample, pipeline)
        if verify_rows:
            builder = builder.verify(sample.limit(verify_rows))
        data: bytes = bytes(builder.buildByteArray())
    except Exception as exc:
        reason = _java_reason(exc)
        raise ConversionError(f"pyspark2pmml could not convert the pipeline "
                              f"({_stages(pipeline)}): {reason}"
                              f"{_indexed_into_vector(pipeline, reason)}; tested and "
                              f"supported: {TESTED_STAGES}") from exc
    return data


def _indexed_into_vector(pipeline: Any, reason: str) -> str:
    """Name the StringIndexer outputs that a VectorAssembler takes as numbers: JPMML-SparkML
    keeps an index categorical, and a linear model cannot take it as a number."""
    if "Expected numeric data type" not in reason:
        return ""
    indexed: dict[str, str] = {}
    for stage in pipeline.stages:
        if type(stage).__name__ == "StringIndexerModel":
            inputs = stage.getInputCols() if stage.isSet("inputCols") else [stage.getInputCol()]
            outputs = stage.getOutputCols() if stage.isSet("outputCols") else [stage.getOutputCol()]
            indexed.update(zip(outputs, inputs, strict=True))
        elif type(stage).__name__ == "VectorAssembler":
            culprits = [c for c in stage.getInputCols() if c in indexed]
            if culprits:
                named = ", ".join(f"{c!r} (StringIndexer of {indexed[c]!r})" for c in culprits)
                return (f". The VectorAssembler takes {named} as a number, but the index of a "
                        "string is a category: one-hot encode it (OneHotEncoder after the "
                        "StringIndexer) for this model, or use it in a tree model")
    return ""


def _stages(pipeline: Any) -> str:
    return " -> ".join(type(s).__name__ for s in pipeline.stages)


def _java_reason(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    if java is not None:
        return f"{java.getClass().getName()}: {java.getMessage()}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def native_outputs(pipeline: Any, sample: Any, inputs: list[str], columns: list[str],
                   categories: list[str], kind: str) -> tuple[NativeOutputs, pd.DataFrame]:
    """Spark's own predictions on the sample, keyed by pmmlkit's output columns, and the
    sample's input columns, from one Spark job."""
    with converter("the Spark pipeline's transform of the sample"):
        transformed = pipeline.transform(sample)
        outputs = ["prediction"] + (["probability"] if "probability" in transformed.columns
                                    else [])
        frame = transformed.select(*[c for c in inputs if c not in outputs],
                                   *outputs).toPandas()
    target = columns[0]
    values: dict[str, np.ndarray] = {}
    labels: set[str] = set()
    prediction = frame["prediction"].to_numpy()
    if kind == "classification":
        values[target] = np.array([categories[int(p)] for p in prediction], dtype=object)
        labels.add(target)
        if "probability" in frame:
            matrix = np.array([v.toArray() for v in frame["probability"]])
            for i, category in enumerate(categories):
                if f"probability({category})" in columns:
                    values[f"probability({category})"] = matrix[:, i]
    elif kind == "clustering":
        values[target] = np.array([str(int(p)) for p in prediction], dtype=object)
        labels.add(target)
    else:
        values[target] = prediction.astype(float)
    return NativeOutputs(values, frozenset(labels)), frame[inputs]

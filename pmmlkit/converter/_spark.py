"""Spark ML → PMML through pyspark2pmml and its bundled JPMML-SparkML jars (offline)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit import _sparkstart
from pmmlkit._boundary import converter
from pmmlkit.converter._parity import NativeOutputs
from pmmlkit.errors import ConversionError

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
        return _sparkstart.start("local[2]", "pmmlkit-export", {
            "spark.jars": pyspark2pmml.spark_jars(), "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "4", "spark.driver.memory": "2g"})


def _check_jars(spark: Any, jars: str) -> None:
    jvm = spark.sparkContext._jvm
    with converter("finding JPMML-SparkML on the running Spark session's classpath", advice=(
            ": the running Spark session does not have JPMML-SparkML on its classpath. Start "
            "it with the jars pyspark2pmml ships: SparkSession.builder.config('spark.jars', "
            f"pyspark2pmml.spark_jars()) — that is, spark.jars={jars}")):
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName("org.jpmml.sparkml.PMMLBuilder", False, loader)


def load_pipeline_model(spark: Any, path: str) -> Any:
    """A PipelineModel saved with ``model.save(path)``, by Python or by Scala.

    JPMML-SparkML's own stages (its domains, ``InvalidCategoryTransformer``...) are known to
    pyspark only through pyspark2pmml's Python classes, registered when ``pyspark2pmml.ml``
    is imported. A stage that has no Python class at all is loaded through the JVM's
    ``PipelineModel.load`` and driven through its Java object."""
    with converter(f"{path}: loading the Spark PipelineModel"):
        import pyspark2pmml.ml.feature  # noqa: F401 - registers org.jpmml.sparkml.* for pyspark
        from pyspark.ml import PipelineModel

        try:
            return PipelineModel.load(path)
        except (ImportError, AttributeError, TypeError):
            # "No module named 'org'": a Java class pyspark cannot map to a Python one
            java = spark._jvm.org.apache.spark.ml.PipelineModel.load(path)
            return PipelineModel(stages=[_python_stage(stage) for stage in java.stages()])


def _python_stage(java: Any) -> Any:
    """A fitted Java stage as pyspark's Python class for it, or as a thin Java wrapper."""
    from pyspark.ml.wrapper import JavaParams

    try:
        return JavaParams._from_java(java)
    except (ImportError, AttributeError, TypeError):
        return _java_stage(java)


def _java_stage_class() -> Any:
    from pyspark.ml.wrapper import JavaTransformer

    class JavaStage(JavaTransformer):
        """A fitted stage pyspark has no Python class for: its Java object transforms and
        converts; its params live there (see ``java_class``)."""

        def __init__(self, java_obj: Any):
            super().__init__(java_obj)
            self.java: Any = java_obj
            self.java_class = str(java_obj.getClass().getName())

        def getOrDefault(self, name: Any) -> Any:
            param = self.java.getParam(name if isinstance(name, str) else name.name)
            return self.java.getOrDefault(param)

        def hasParam(self, name: str) -> bool:
            return bool(self.java.hasParam(name))

    return JavaStage


def _java_stage(java: Any) -> Any:
    return _java_stage_class()(java)


def stage_name(stage: Any) -> str:
    """A stage's class name for reports: its Java class's for a wrapped Java stage."""
    name = getattr(stage, "java_class", None)
    return str(name).rsplit(".", 1)[-1] if name else type(stage).__name__


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

    with converter(f"pyspark2pmml's conversion of the pipeline ({_stages(pipeline)})",
                   advice=lambda reason: f"{_indexed_into_vector(pipeline, reason)}; tested "
                                         f"and supported: {TESTED_STAGES}"):
        builder = PMMLBuilder(sample, pipeline)
        if verify_rows:
            builder = builder.verify(sample.limit(verify_rows))
        data: bytes = bytes(builder.buildByteArray())
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
    return " -> ".join(stage_name(s) for s in pipeline.stages)


def _output_columns(stage: Any) -> tuple[str, str | None]:
    """The prediction and probability columns a model stage writes (its own params: a
    pipeline may name them anything)."""
    def param(name: str, default: str | None) -> str | None:
        if stage.hasParam(name):
            value = stage.getOrDefault(name)
            return str(value) if value else default
        return default

    return param("predictionCol", "prediction") or "prediction", param("probabilityCol", None)


def _is_binomial_glm(stage: Any) -> bool:
    """A GeneralizedLinearRegression of the binomial family: its ``prediction`` is the mean,
    the probability of the second label, not a label index."""
    if stage_name(stage) != "GeneralizedLinearRegressionModel":
        return False
    family = stage.getOrDefault("family") if stage.hasParam("family") else ""
    return str(family).lower() == "binomial"


def native_outputs(pipeline: Any, sample: Any, inputs: list[str], columns: list[str],
                   categories: list[str], kind: str) -> tuple[NativeOutputs, pd.DataFrame]:
    """Spark's own predictions on the sample, keyed by pmmlkit's output columns, and the
    sample's input columns, from one Spark job."""
    final = pipeline.stages[-1]
    prediction_col, probability_col = _output_columns(final)
    with converter("the Spark pipeline's transform of the sample"):
        transformed = pipeline.transform(sample)
        outputs = [prediction_col] + ([probability_col] if probability_col
                                      and probability_col in transformed.columns else [])
        frame = transformed.select(*[c for c in inputs if c not in outputs],
                                   *outputs).toPandas()
    target = columns[0]
    values: dict[str, np.ndarray] = {}
    labels: set[str] = set()
    prediction = frame[prediction_col].to_numpy()
    if kind == "classification" and _is_binomial_glm(final):
        # the mean is the probability of the second label; the label the likelier one
        # (an exact tie, 0.5, is no label to compare: left out)
        mean = prediction.astype(float)
        matrix = np.stack([1 - mean, mean], axis=1)
        for i, category in enumerate(categories[:2]):
            if f"probability({category})" in columns:
                values[f"probability({category})"] = matrix[:, i]
    elif kind == "classification":
        values[target] = np.array([categories[int(p)] for p in prediction], dtype=object)
        labels.add(target)
        if probability_col in frame:
            matrix = np.array([v.toArray() for v in frame[probability_col]])
            for i, category in enumerate(categories):
                if f"probability({category})" in columns:
                    values[f"probability({category})"] = matrix[:, i]
    elif kind == "clustering":
        values[target] = np.array([str(int(p)) for p in prediction], dtype=object)
        labels.add(target)
    else:
        values[target] = prediction.astype(float)
    return NativeOutputs(values, frozenset(labels)), frame[inputs]

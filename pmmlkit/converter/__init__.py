"""Export scikit-learn and Spark ML models to PMML in a repository, behind a parity gate.

Both exporters: convert (embedding verification records drawn from the sample), score the
sample through pmmlkit with every backend, compare with the native model, and publish only if
the default backend is within ``tolerance``. The manifest records the parity of each backend.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

from pmmlkit.converter._parity import DEFAULT_TOLERANCE, compare
from pmmlkit.errors import ConversionError
from pmmlkit.repository import ModelVersion, Repository, check_name
from pmmlkit.schema import read_schema

DEFAULT_VERIFICATION_ROWS = 100
BACKENDS = ("jpmml", "pypmml")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _manifest(*, schema: Any, source: dict[str, Any], converter: dict[str, Any],
              parity: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    from pmmlkit import __version__

    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source,
        "converter": converter,
        "pmmlkit_version": __version__,
        "schema": schema.to_dict(),
        "parity": parity,
        "timings_seconds": timings,
    }


def _records(schema: Any) -> int:
    """How many verification records the converter embedded."""
    return len(schema.verification.rows) if schema.verification else 0


def _sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.iloc[:rows] if len(frame) > rows else frame


def export_sklearn(estimator: Any, X_sample: pd.DataFrame, y_sample: Any = None, *,
                   repo: str | Repository | None = None, name: str,
                   verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                   tolerance: float = DEFAULT_TOLERANCE,
                   backends: tuple[str, ...] = BACKENDS) -> ModelVersion:
    """Export a fitted scikit-learn Pipeline, bare estimator or PMMLPipeline; publish it.

    ``X_sample`` (a DataFrame with the training column names) is used for the verification
    records embedded in the PMML (the first ``verification_rows`` rows) and for the parity
    check (all rows). Raises :class:`~pmmlkit.ParityError` and publishes nothing when the
    default backend differs from scikit-learn by more than ``tolerance``.
    """
    from pmmlkit.converter import _sklearn

    check_name(name)
    if not isinstance(X_sample, pd.DataFrame):
        raise ConversionError("X_sample must be a pandas DataFrame with the feature names")
    _sklearn._check_versions()
    _sklearn.check_columns(X_sample)
    started = time.perf_counter()
    y = y_sample if y_sample is None or isinstance(y_sample, pd.Series) else pd.Series(
        y_sample, name="y")
    pipeline = _sklearn.to_pmml_pipeline(estimator, X_sample, y)
    pmml = _sklearn.convert(pipeline, _sample(X_sample, verification_rows),
                            with_verification=verification_rows > 0)
    converted = time.perf_counter()
    schema = read_schema(pmml, source=name)
    native = _sklearn.native_outputs(pipeline, X_sample, schema.column_names)
    parity = compare(pmml, X_sample, native, backends=backends, tolerance=tolerance,
                     source=name)
    checked = time.perf_counter()
    final = _sklearn._final_step(estimator)
    manifest = _manifest(
        schema=schema,
        source={"framework": "scikit-learn", "version": _version("scikit-learn"),
                "estimator": f"{type(final).__module__}.{type(final).__name__}",
                "pipeline": _sklearn._step_names(estimator)},
        converter={"library": "sklearn2pmml", "version": _version("sklearn2pmml"),
                   "verification_rows": _records(schema)},
        parity=parity,
        timings={"convert": converted - started, "parity": checked - converted})
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


def export_spark(pipeline_model: Any, sample_df: Any, *, repo: str | Repository | None = None,
                 name: str, verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                 tolerance: float = DEFAULT_TOLERANCE,
                 backends: tuple[str, ...] = BACKENDS) -> ModelVersion:
    """Export a fitted Spark ML PipelineModel (or bare fitted model) and publish it.

    ``sample_df`` (Spark or pandas DataFrame with the input columns) feeds the verification
    records and the parity check against ``pipeline_model.transform``. A local Spark session
    with the JPMML-SparkML jars is started when none is running.
    """
    with warnings.catch_warnings():
        # pyspark 4.2 warns that it "does not yet fully support pandas >= 3" on every toPandas;
        # the conversions pmmlkit does (numbers and strings) are exact, and tested.
        warnings.filterwarnings("ignore", message=".*does not yet fully support pandas.*")
        return _export_spark(pipeline_model, sample_df, repo=repo, name=name,
                             verification_rows=verification_rows, tolerance=tolerance,
                             backends=backends)


def _export_spark(pipeline_model: Any, sample_df: Any, *, repo: str | Repository | None,
                  name: str, verification_rows: int, tolerance: float,
                  backends: tuple[str, ...]) -> ModelVersion:
    from pmmlkit.converter import _spark

    check_name(name)
    started = time.perf_counter()
    spark = _spark.spark_session()
    sample = _spark.as_spark_frame(spark, sample_df).cache()
    pipeline = _spark.as_pipeline_model(pipeline_model, sample)
    pmml = _spark.convert(pipeline, sample, verification_rows)
    converted = time.perf_counter()
    schema = read_schema(pmml, source=name)
    target = schema.targets[0] if schema.targets else None
    native, features = _spark.native_outputs(pipeline, sample, schema.input_names,
                                             schema.column_names,
                                             list(target.categories) if target else [],
                                             schema.function_name)
    parity = compare(pmml, features, native, backends=backends, tolerance=tolerance,
                     source=name)
    checked = time.perf_counter()
    import pyspark

    manifest = _manifest(
        schema=schema,
        source={"framework": "spark-ml", "version": pyspark.__version__,
                "estimator": type(pipeline.stages[-1]).__name__,
                "pipeline": [type(s).__name__ for s in pipeline.stages]},
        converter={"library": "pyspark2pmml", "version": _version("pyspark2pmml"),
                   "verification_rows": _records(schema)},
        parity=parity,
        timings={"convert": converted - started, "parity": checked - converted})
    sample.unpersist()
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


def export_pmml(pmml: bytes, features: pd.DataFrame, expected: pd.DataFrame, *,
                repo: str | Repository | None = None, name: str,
                tolerance: float = DEFAULT_TOLERANCE, backends: tuple[str, ...] = BACKENDS,
                source: dict[str, Any] | None = None) -> ModelVersion:
    """Publish a PMML produced elsewhere (hand-written, R, another converter) behind the same
    parity gate: ``expected`` holds the reference outputs for ``features``, under the output
    contract's column names (numeric columns compared by value, others as labels)."""
    check_name(name)
    schema = read_schema(pmml, source=name)
    unknown = [c for c in expected.columns if c not in schema.column_names]
    if unknown:
        raise ConversionError(f"{name}: expected columns {unknown} are not outputs of the PMML "
                              f"({schema.column_names})")
    values = {c: expected[c].to_numpy() for c in expected.columns}
    labels = frozenset(c for c in expected.columns
                       if not pd.api.types.is_numeric_dtype(expected[c]))
    from pmmlkit.converter._parity import NativeOutputs

    started = time.perf_counter()
    parity = compare(pmml, features, NativeOutputs(values, labels), backends=backends,
                     tolerance=tolerance, source=name)
    manifest = _manifest(
        schema=schema, source=source or {"framework": "pmml", "version": schema.pmml_version,
                                         "estimator": schema.model_element, "pipeline": []},
        converter={"library": schema.application or "unknown", "version": None},
        parity=parity, timings={"parity": time.perf_counter() - started})
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


__all__ = ["export_pmml", "export_sklearn", "export_spark"]

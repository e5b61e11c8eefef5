"""Export scikit-learn and Spark ML models to PMML in a repository, behind a parity gate.

Both exporters: convert (embedding verification records drawn from the sample), score the
sample through pmmlkit with every backend, compare with the native model, and publish only if
the default backend is within ``tolerance``. The manifest records the parity of each backend.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._boundary import converter as converter_boundary
from pmmlkit._boundary import storage
from pmmlkit._version import __version__, installed
from pmmlkit.batch.formats import is_parquet
from pmmlkit.converter._parity import (
    DEFAULT_TOLERANCE,
    SECONDARY_BUDGET,
    NativeOutputs,
    compare,
    probe_rows,
)
from pmmlkit.converter._sklearn import SKLEARN2PMML_MAX_SKLEARN
from pmmlkit.converter._sklearn import version_problem as sklearn_version_problem
from pmmlkit.errors import ConfigurationError, ConversionError, InvalidInputError
from pmmlkit.repository import ModelVersion, Repository, check_name
from pmmlkit.schema import read_schema
from pmmlkit.scorer.verification import record_precision, unmeetable_records

DEFAULT_VERIFICATION_ROWS = 100
BACKENDS = ("jpmml", "pypmml")


def _manifest(*, schema: Any, source: dict[str, Any], converter: dict[str, Any],
              parity: dict[str, Any], timings: dict[str, float],
              about: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **(about or {}),
        "source": source,
        "converter": converter,
        "pmmlkit_version": __version__,
        "schema": schema.to_dict(),
        "parity": parity,
        "timings_seconds": timings,
    }


def _about(description: str | None, tags: Mapping[str, str] | None,
           metrics: Mapping[str, float] | None) -> dict[str, Any]:
    """What a version says of itself in its manifest (MLflow's registry description, tags
    and metrics): checked to be JSON text and numbers."""
    out: dict[str, Any] = {}
    if description is not None:
        out["description"] = str(description)
    if tags:
        out["tags"] = {str(k): str(v) for k, v in tags.items()}
    if metrics:
        try:
            out["metrics"] = {str(k): float(v) for k, v in metrics.items()}
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"metrics must be numbers: {exc}") from exc
    return out


def _records(schema: Any) -> int:
    """How many verification records the converter embedded."""
    return len(schema.verification.rows) if schema.verification else 0


def _sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.iloc[:rows] if len(frame) > rows else frame


def sklearn_to_pmml(pipeline: Any, X_verify: pd.DataFrame, *, with_verification: bool = True,
                    backend: str = "jpmml") -> bytes:
    """A fitted PMMLPipeline converted by sklearn2pmml, with ``X_verify`` as its verification
    records, written at a precision ``backend`` can meet: double precision, or float
    precision where the document computes with 32-bit floats and does not reproduce records
    at double precision (:data:`pmmlkit.scorer.verification.RECORD_PRECISION`)."""
    from pmmlkit.converter import _sklearn

    pmml = _sklearn.convert(pipeline, X_verify, with_verification=with_verification)
    if with_verification and unmeetable_records(read_schema(pmml)) and \
            not _reproduces_records(pmml, backend):
        # the document computes with 32-bit floats where the native model did not (a tree's
        # float split inputs feeding a linear model): records at the precision it can meet
        pmml = _sklearn.convert(pipeline, X_verify, with_verification=True,
                                precision=record_precision("float"))
    return pmml


def _reproduces_records(pmml: bytes, backend: str) -> bool:
    """Whether ``backend`` reproduces the document's verification records."""
    from pmmlkit.errors import PmmlkitError
    from pmmlkit.scorer.loading import load

    try:
        return load(pmml, backend=backend, verify=False, transpile=False).verify().passed
    except PmmlkitError:
        return False


def _as_target(y: Any) -> pd.Series | pd.DataFrame | None:
    """The sample's labels as pandas: a Series (named ``y`` unless it has a name), or a
    DataFrame of one column per target for a multi-output estimator."""
    if y is None or isinstance(y, (pd.Series, pd.DataFrame)):
        return y
    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] > 1:
        return pd.DataFrame(values, columns=[f"y{k + 1}" for k in range(values.shape[1])])
    return pd.Series(values.ravel() if values.ndim == 2 else values, name="y")


def export_sklearn(estimator: Any, X_sample: pd.DataFrame, y_sample: Any = None, *,
                   repo: str | Repository | None = None, name: str,
                   verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                   tolerance: float = DEFAULT_TOLERANCE,
                   backends: tuple[str, ...] = BACKENDS,
                   parity_budget: float = SECONDARY_BUDGET,
                   options: Mapping[str, Any] | None = None,
                   description: str | None = None, tags: Mapping[str, str] | None = None,
                   metrics: Mapping[str, float] | None = None,
                   probe: bool = True) -> ModelVersion:
    """Export a fitted scikit-learn Pipeline, bare estimator or PMMLPipeline; publish it.

    ``X_sample`` (a DataFrame with the training column names) is used for the verification
    records embedded in the PMML (the first ``verification_rows`` rows) and for the parity
    check (all rows). Raises :class:`~pmmlkit.ParityError` and publishes nothing when the
    default backend differs from scikit-learn by more than ``tolerance`` (float outputs: at
    least 1e-5), or does not reproduce the verification records. Every other backend gets
    ``parity_budget`` seconds; a slower one is recorded "not checked (budget)".

    ``probe`` (default) also scores rows the sample may lack, through the native model and
    the PMML: each input missing, each category unseen, each number beyond the sample's
    range. A probe both score with different numbers refuses the export; the rest are
    reported in the manifest (``parity.probes``: where the PMML refuses what the native
    model scores, or scores what it refuses).

    ``options`` are sklearn2pmml's conversion options (``PMMLPipeline.configure``: e.g.
    ``{"compact": False}`` for a tree ensemble, ``{"numeric": True}``), recorded in the
    manifest; ``description``, ``tags`` (text) and ``metrics`` (numbers, e.g. the model's
    test AUC) are recorded there too.
    """
    from pmmlkit.converter import _sklearn

    check_name(name)
    about = _about(description, tags, metrics)
    if not isinstance(X_sample, pd.DataFrame):
        raise ConversionError("X_sample must be a pandas DataFrame with the feature names")
    _sklearn.check_installed()
    _sklearn.check_columns(X_sample)
    started = time.perf_counter()
    y = _as_target(y_sample)
    pipeline = _sklearn.to_pmml_pipeline(estimator, X_sample, y)
    if options:
        _sklearn.configure(pipeline, options)
    pmml = sklearn_to_pmml(pipeline, _sample(X_sample, verification_rows),
                           with_verification=verification_rows > 0, backend=backends[0])
    schema = read_schema(pmml, source=name)
    converted = time.perf_counter()
    targets = [c.name for c in schema.columns if c.kind == "target"]
    native = _sklearn.native_outputs(pipeline, X_sample, schema.column_names, targets)
    probes = None
    if probe:
        rows = probe_rows(X_sample)
        probes = (rows, _sklearn.native_rows(pipeline, [r for _, _, r in rows],
                                             schema.column_names, targets))
    parity = compare(pmml, X_sample, native, backends=backends, tolerance=tolerance,
                     budget=parity_budget, source=name, probes=probes)
    checked = time.perf_counter()
    final = _sklearn.final_step(estimator)
    manifest = _manifest(
        schema=schema,
        source={"framework": "scikit-learn", "version": installed("scikit-learn"),
                "estimator": f"{type(final).__module__}.{type(final).__name__}",
                "pipeline": _sklearn.step_names(estimator)},
        converter={"library": "sklearn2pmml", "version": installed("sklearn2pmml"),
                   "verification_rows": _records(schema), "options": dict(options or {})},
        parity=parity,
        timings={"convert": converted - started, "parity": checked - converted}, about=about)
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


def export_spark(pipeline_model: Any, sample_df: Any, *, repo: str | Repository | None = None,
                 name: str, verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                 tolerance: float = DEFAULT_TOLERANCE,
                 backends: tuple[str, ...] = BACKENDS,
                 parity_budget: float = SECONDARY_BUDGET,
                 description: str | None = None, tags: Mapping[str, str] | None = None,
                 metrics: Mapping[str, float] | None = None) -> ModelVersion:
    """Export a fitted Spark ML PipelineModel (or bare fitted model) and publish it.

    ``sample_df`` (Spark or pandas DataFrame with the input columns) feeds the verification
    records and the parity check against ``pipeline_model.transform``. A local Spark session
    with the JPMML-SparkML jars is started when none is running.
    """
    from pmmlkit.converter import _spark

    check_name(name)
    about = _about(description, tags, metrics)
    started = time.perf_counter()
    spark = _spark.spark_session()
    with converter_boundary("caching the Spark sample"):
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
    parity = compare(pmml, features, native, backends=backends, tolerance=tolerance, budget=parity_budget,
                     source=name)
    checked = time.perf_counter()
    import pyspark

    manifest = _manifest(
        schema=schema,
        source={"framework": "spark-ml", "version": pyspark.__version__,
                "estimator": _spark.stage_name(pipeline.stages[-1]),
                "pipeline": [_spark.stage_name(s) for s in pipeline.stages]},
        converter={"library": "pyspark2pmml", "version": installed("pyspark2pmml"),
                   "verification_rows": _records(schema)},
        parity=parity,
        timings={"convert": converted - started, "parity": checked - converted}, about=about)
    sample.unpersist()
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


def export_pmml(pmml: bytes, features: pd.DataFrame, expected: pd.DataFrame, *,
                repo: str | Repository | None = None, name: str,
                tolerance: float = DEFAULT_TOLERANCE, backends: tuple[str, ...] = BACKENDS,
                source: dict[str, Any] | None = None,
                parity_budget: float = SECONDARY_BUDGET,
                description: str | None = None, tags: Mapping[str, str] | None = None,
                metrics: Mapping[str, float] | None = None) -> ModelVersion:
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
    started = time.perf_counter()
    parity = compare(pmml, features, NativeOutputs(values, labels), backends=backends,
                     tolerance=tolerance, source=name, budget=parity_budget)
    manifest = _manifest(
        schema=schema, source=source or {"framework": "pmml", "version": schema.pmml_version,
                                         "estimator": schema.model_element, "pipeline": []},
        converter={"library": schema.application or "unknown", "version": None},
        parity=parity, timings={"parity": time.perf_counter() - started},
        about=_about(description, tags, metrics))
    repository = repo if isinstance(repo, Repository) else Repository(repo)
    return repository.publish(pmml, manifest, name=name)


def read_table(url: str) -> pd.DataFrame:
    """A CSV or Parquet sample (local path or fsspec URL) as a DataFrame."""
    with storage(url, "read the sample", missing=InvalidInputError, corrupt=InvalidInputError):
        if is_parquet(url):
            return pd.read_parquet(url)
        try:
            return pd.read_csv(url)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InvalidInputError(f"{url}: not a readable CSV sample: {exc}") from exc


def export_sklearn_file(model_file: str, sample: str, *, name: str,
                        repo: str | Repository | None = None, target: str | None = None,
                        verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                        tolerance: float = DEFAULT_TOLERANCE,
                        backends: tuple[str, ...] = BACKENDS,
                        parity_budget: float = SECONDARY_BUDGET,
                        options: Mapping[str, Any] | None = None,
                        description: str | None = None, tags: Mapping[str, str] | None = None,
                        metrics: Mapping[str, float] | None = None,
                        probe: bool = True) -> ModelVersion:
    """Export a scikit-learn model saved with joblib or pickle (``model_file``) with a CSV or
    Parquet ``sample`` of its training data: what ``pmmlkit export sklearn`` does.

    ``target`` names the sample's label column (dropped from the features). The features are
    the estimator's ``feature_names_in_`` when it has them (in that order), else the sample's
    other columns. joblib and pickle run code when loaded: load only files you trust.
    """
    import joblib

    check_name(name)
    with storage(model_file, "read the model file", missing=InvalidInputError), \
            open(model_file, "rb") as fh:
        head = fh.read(512)
    _check_pickle(model_file, head)
    with converter_boundary(f"{model_file}: loading the model with joblib"):
        estimator = joblib.load(model_file)
    frame = read_table(sample)
    if target is not None and target not in frame.columns:
        raise InvalidInputError(f"{sample}: the target column {target!r} is not in the sample "
                                f"(columns: {list(frame.columns)})", field=target,
                                reason="missing column")
    y = frame.pop(target) if target else None
    named = hasattr(estimator, "feature_names_in_")
    features = [str(c) for c in getattr(estimator, "feature_names_in_", frame.columns)]
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise InvalidInputError(f"{sample}: the model's features {absent} are not in the "
                                f"sample (columns: {list(frame.columns)})", field=absent[0],
                                reason="missing column")
    if target is None:
        _check_no_label(estimator, sample, [str(c) for c in frame.columns], features, named)
    return export_sklearn(estimator, frame[features], y, repo=repo, name=name,
                          tolerance=tolerance, verification_rows=verification_rows,
                          backends=backends, parity_budget=parity_budget, options=options,
                          description=description, tags=tags, metrics=metrics, probe=probe)


#: how a pickle (protocol 2 and later) and a joblib file (zlib, gzip, lz4, xz...) start
_PICKLE_STARTS = (b"\x80", b"x\x9c", b"x\xda", b"x\x01", b"\x1f\x8b", b"\xfd7zXZ", b"\x04\"M",
                  b"BZh", b"\x93NUMPY")


def _check_pickle(model_file: str, head: bytes) -> None:
    """A model file that is plainly no joblib or pickle file (a CSV given by mistake)."""
    if not head or head.startswith(_PICKLE_STARTS):
        return
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        raise InvalidInputError(
            f"{model_file}: not a joblib or pickle file (it starts with text: "
            f"{head[:40].decode(errors='replace')!r}). MODEL_FILE is the fitted estimator "
            "saved with joblib.dump(model, 'model.joblib'); the data goes to --sample")


def _check_no_label(estimator: Any, sample: str, columns: list[str], features: list[str],
                    named: bool) -> None:
    """Without --target, a supervised model's label would be named ``y`` and, for a model
    fitted on unnamed arrays, read as a feature: say which column it is, or that it is
    needed."""
    from pmmlkit.converter import _sklearn

    if not _sklearn.is_supervised(estimator):
        return
    extra = [c for c in columns if c not in features]
    expected = getattr(estimator, "n_features_in_", None)
    if named and len(extra) == 1:
        raise ConversionError(f"{sample}: the column {extra[0]!r} is not one of the model's "
                              f"features: is it the label? Pass --target {extra[0]} (the "
                              "target takes its name in the PMML)")
    if not named and expected is not None and expected == len(columns) - 1:
        raise ConversionError(f"{sample}: the model was fitted on {expected} unnamed features "
                              f"and the sample has {len(columns)} columns ({columns}): one of "
                              "them must be the label. Pass --target NAME")
    if not named and expected is not None and expected != len(columns):
        raise ConversionError(f"{sample}: the model was fitted on {expected} unnamed features "
                              f"and the sample has {len(columns)} columns ({columns}): give "
                              "the sample with exactly the training columns, in their order, "
                              "and --target for the label")
    if named and not extra:
        raise ConversionError(f"{sample}: a {type(_sklearn.final_step(estimator)).__name__} "
                              "predicts a label, which the PMML names after the sample's "
                              "label column: add it to the sample and pass --target NAME")


def export_spark_dir(pipeline_dir: str, sample: str, *, name: str,
                     repo: str | Repository | None = None,
                     verification_rows: int = DEFAULT_VERIFICATION_ROWS,
                     tolerance: float = DEFAULT_TOLERANCE,
                     backends: tuple[str, ...] = BACKENDS,
                     parity_budget: float = SECONDARY_BUDGET,
                     description: str | None = None, tags: Mapping[str, str] | None = None,
                     metrics: Mapping[str, float] | None = None) -> ModelVersion:
    """Export a Spark ML PipelineModel saved with ``model.save(pipeline_dir)`` with a CSV
    (header, types inferred) or Parquet ``sample``: what ``pmmlkit export spark`` does."""
    from pmmlkit.converter import _spark

    check_name(name)
    session = _spark.spark_session()
    model = _spark.load_pipeline_model(session, pipeline_dir)
    with converter_boundary(f"{sample}: reading the sample with Spark"):
        reader = session.read
        frame = (reader.parquet(sample) if is_parquet(sample)
                 else reader.csv(sample, header=True, inferSchema=True))
    return export_spark(model, frame, repo=repo, name=name, tolerance=tolerance,
                        verification_rows=verification_rows, backends=backends,
                        parity_budget=parity_budget, description=description, tags=tags,
                        metrics=metrics)


def spark_session() -> Any:
    """The active Spark session (checked for JPMML-SparkML's jars), or a new local one."""
    from pmmlkit.converter import _spark

    return _spark.spark_session()


__all__ = ["SKLEARN2PMML_MAX_SKLEARN", "export_pmml", "export_sklearn", "export_sklearn_file",
           "export_spark", "export_spark_dir", "read_table", "sklearn_to_pmml",
           "sklearn_version_problem", "spark_session"]

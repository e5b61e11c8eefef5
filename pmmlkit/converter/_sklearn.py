"""scikit-learn → PMML through sklearn2pmml (which runs a Java converter per export)."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit.converter._parity import NativeOutputs
from pmmlkit.errors import ConversionError

#: what the test suite exports and scores with exact parity (docs/converter.md lists it)
TESTED_STEPS = (
    "ColumnTransformer, Pipeline, PMMLPipeline, StandardScaler, MinMaxScaler, OneHotEncoder, "
    "OrdinalEncoder, SimpleImputer; LogisticRegression, LinearRegression, Ridge, "
    "DecisionTreeClassifier/Regressor, RandomForestClassifier/Regressor, "
    "GradientBoostingClassifier/Regressor, HistGradientBoostingClassifier, MLPClassifier, "
    "GaussianNB, KNeighborsClassifier, KMeans")


def _check_versions() -> None:
    try:
        sk = version("scikit-learn")
        s2p = version("sklearn2pmml")
    except Exception as exc:
        raise ConversionError("exporting scikit-learn models needs scikit-learn and "
                              "sklearn2pmml: pip install 'pmmlkit[sklearn]'") from exc
    check_versions(sk, s2p)


def check_versions(sk: str, s2p: str) -> None:
    """Refuse a scikit-learn release newer than the installed sklearn2pmml converts."""
    from pmmlkit.doctor import SKLEARN2PMML_MAX_SKLEARN, _key

    newest = SKLEARN2PMML_MAX_SKLEARN.get(".".join(s2p.split(".")[:2]))
    if newest and _key(sk) > _key(newest):
        raise ConversionError(f"scikit-learn {sk} is newer than sklearn2pmml {s2p} supports "
                              f"(up to {newest}): install scikit-learn=={newest}, or a newer "
                              "sklearn2pmml that knows this release")


def check_columns(X: pd.DataFrame) -> None:
    """Refuse, naming the column and the fix, what sklearn2pmml fails on with only "Expected
    all values to be of the same data type": object columns mixing value types, such as
    booleans with missing values."""
    for name in X.columns:
        column = X[name]
        if column.dtype != object:
            continue
        present = column.dropna()
        types = sorted({type(v).__name__ for v in present.tolist()})
        if len(types) > 1:
            raise ConversionError(
                f"column {name!r} mixes value types ({', '.join(types)}); sklearn2pmml needs "
                "one data type per column. Convert it before fitting, e.g. "
                f"X[{name!r}] = X[{name!r}].astype(str) for a category")
        if types == ["bool"] and len(present) < len(column):
            raise ConversionError(
                f"column {name!r} holds booleans and missing values (object dtype), which "
                "sklearn2pmml reads as boolean and string. Convert it before fitting, e.g. "
                f"X[{name!r}] = X[{name!r}].map({{True: 1.0, False: 0.0}}) (missing stays NaN "
                "for an imputer), or to the strings 'true'/'false' for a category")


def to_pmml_pipeline(estimator: Any, X: pd.DataFrame, y: pd.Series | None) -> Any:
    """A fitted PMMLPipeline around a fitted Pipeline, bare estimator or PMMLPipeline."""
    from sklearn.base import BaseEstimator
    from sklearn2pmml import make_pmml_pipeline
    from sklearn2pmml.pipeline import PMMLPipeline

    if isinstance(estimator, PMMLPipeline):
        return estimator
    if not isinstance(estimator, BaseEstimator):
        kind = type(estimator)
        raise ConversionError(
            f"{kind.__module__}.{kind.__qualname__} is not a scikit-learn estimator (it does "
            "not derive from sklearn.base.BaseEstimator). export_sklearn converts fitted "
            f"scikit-learn Pipelines, estimators and PMMLPipelines; tested: {TESTED_STEPS}. "
            "For a model made elsewhere, write PMML with its own converter and publish it "
            "with pmmlkit.export_pmml")
    target = None
    if _is_supervised(estimator):
        target = [str(y.name)] if y is not None and y.name is not None else ["y"]
    return make_pmml_pipeline(estimator, active_fields=[str(c) for c in X.columns],
                              target_fields=target)


def _final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _kind(estimator: Any) -> str | None:
    """``classifier``, ``regressor``, ``clusterer`` … from scikit-learn's estimator tags."""
    from sklearn.utils import get_tags

    try:
        kind: str | None = get_tags(_final_step(estimator)).estimator_type
    except Exception:
        kind = None
    return kind


def _is_supervised(estimator: Any) -> bool:
    return _kind(estimator) in ("classifier", "regressor")


def native_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str]) -> NativeOutputs:
    """Native predictions keyed by pmmlkit's output columns."""
    final = _final_step(pipeline)
    target = schema_columns[0]
    values: dict[str, np.ndarray] = {}
    labels: set[str] = set()
    kind = _kind(pipeline)
    if hasattr(final, "predict_proba") and kind == "classifier":
        probabilities = pipeline.predict_proba(X)
        for cls, column in zip(pipeline.classes_ if hasattr(pipeline, "classes_")
                               else final.classes_, probabilities.T, strict=True):
            name = f"probability({_label(cls)})"
            if name in schema_columns:
                values[name] = column
        values[target] = np.asarray(pipeline.predict(X))
        labels.add(target)
    elif kind == "clusterer":
        values[target] = np.asarray(pipeline.predict(X))
        labels.add(target)
    else:
        values[target] = np.asarray(pipeline.predict(X), dtype=float)
    return NativeOutputs(values, frozenset(labels))


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


def convert(pipeline: Any, X_verify: pd.DataFrame, *, with_verification: bool) -> bytes:
    """Run sklearn2pmml; return the PMML bytes or raise ConversionError with Java's reason."""
    from sklearn2pmml import sklearn2pmml

    if with_verification and len(X_verify):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.verify(X_verify)
    with tempfile.TemporaryDirectory(prefix="pmmlkit-export-") as folder:
        target = Path(folder) / "model.pmml"
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                sklearn2pmml(pipeline, str(target))
        except Exception as exc:
            raise ConversionError(_explain(exc, captured.getvalue(), pipeline)) from exc
        return target.read_bytes()


_JAVA_CAUSE = re.compile(r"^(?:\S+\.)?(?:\w+Exception|\w+Error): (.+)$", re.M)


def _explain(exc: Exception, output: str, pipeline: Any) -> str:
    causes = _JAVA_CAUSE.findall(output)
    reason = causes[0] if causes else str(exc)  # the first is the converter's own diagnosis
    steps = " -> ".join(_step_names(pipeline))
    hint = ""
    if "supported" in reason:
        hint = f". Tested and supported: {TESTED_STEPS}"
    return f"sklearn2pmml could not convert the pipeline ({steps}): {reason}{hint}"


def _step_names(estimator: Any) -> list[str]:
    """Class names of the steps, nested pipelines and column transformers flattened."""
    if hasattr(estimator, "steps"):
        return [n for _, step in estimator.steps for n in _step_names(step)]
    if hasattr(estimator, "transformers"):
        inner = [n for _, t, _ in estimator.transformers for n in _step_names(t)
                 if isinstance(t, object) and not isinstance(t, str)]
        return [f"{type(estimator).__name__}[{', '.join(inner)}]"]
    return [type(estimator).__name__]

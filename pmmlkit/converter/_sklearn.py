"""scikit-learn → PMML through sklearn2pmml (which runs a Java converter per export)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._boundary import converter
from pmmlkit._values import plain, pmml_text
from pmmlkit._version import installed, version_key
from pmmlkit.converter._parity import NativeOutputs
from pmmlkit.errors import ConversionError

#: The newest scikit-learn each sklearn2pmml line accepts at export time (measured).
SKLEARN2PMML_MAX_SKLEARN = {"0.133": "1.9.0"}
#: seconds one sklearn2pmml conversion (a Java process) may take
CONVERT_TIMEOUT = 600

#: what the test suite exports and scores with exact parity (docs/converter.md lists it)
TESTED_STEPS = (
    "ColumnTransformer, Pipeline, PMMLPipeline, StandardScaler, MinMaxScaler, OneHotEncoder, "
    "OrdinalEncoder, SimpleImputer; LogisticRegression, LinearRegression, Ridge, "
    "DecisionTreeClassifier/Regressor, RandomForestClassifier/Regressor, "
    "GradientBoostingClassifier/Regressor, HistGradientBoostingClassifier, MLPClassifier, "
    "GaussianNB, KNeighborsClassifier, KMeans")


def check_installed() -> None:
    sk, s2p = installed("scikit-learn"), installed("sklearn2pmml")
    if sk is None or s2p is None:
        raise ConversionError("exporting scikit-learn models needs scikit-learn and "
                              "sklearn2pmml: pip install 'pmmlkit[sklearn]'")
    problem = version_problem(sk, s2p)
    if problem:
        raise ConversionError(problem)


def version_problem(sk: str, s2p: str) -> str | None:
    """Why the installed sklearn2pmml cannot export this scikit-learn release, or None."""
    newest = SKLEARN2PMML_MAX_SKLEARN.get(".".join(s2p.split(".")[:2]))
    if newest and version_key(sk) > version_key(newest):
        return (f"scikit-learn {sk} is newer than sklearn2pmml {s2p} supports (up to "
                f"{newest}): install scikit-learn=={newest}, or a newer sklearn2pmml that "
                "knows this release")
    return None


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
    with converter("sklearn2pmml's make_pmml_pipeline"):
        return make_pmml_pipeline(estimator, active_fields=[str(c) for c in X.columns],
                                  target_fields=target)


def final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _kind(estimator: Any) -> str | None:
    """``classifier``, ``regressor``, ``clusterer`` … from scikit-learn's estimator tags."""
    from sklearn.utils import get_tags

    try:
        kind: str | None = get_tags(final_step(estimator)).estimator_type
    except Exception:
        kind = None
    return kind


def _is_supervised(estimator: Any) -> bool:
    return _kind(estimator) in ("classifier", "regressor")


def native_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str]) -> NativeOutputs:
    """Native predictions keyed by pmmlkit's output columns."""
    with converter("the native model's predict on the sample"):
        return _native_outputs(pipeline, X, schema_columns)


def _native_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str]) -> NativeOutputs:
    final = final_step(pipeline)
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
    """A class label as sklearn2pmml writes it: integral numbers without ``.0``; booleans as
    Python prints them."""
    if isinstance(value, (bool, np.bool_)):
        return str(plain(value))
    return pmml_text(value)


def convert(pipeline: Any, X_verify: pd.DataFrame, *, with_verification: bool) -> bytes:
    """Run sklearn2pmml's Java converter; return the PMML bytes or raise ConversionError with
    Java's reason.

    The converter runs as a child process whose output pmmlkit reads itself: nothing
    process-wide (``sys.stdout``, warning filters) is swapped, so exports may run in threads.
    """
    import joblib
    import sklearn2pmml

    if with_verification and len(X_verify):
        with converter("recording verification data (PMMLPipeline.verify)"):
            pipeline.verify(X_verify)
    with tempfile.TemporaryDirectory(prefix="pmmlkit-export-") as folder:
        target = Path(folder) / "model.pmml"
        dump = Path(folder) / "pipeline.pkl.z"
        with converter("pickling the pipeline for sklearn2pmml"):
            joblib.dump(sklearn2pmml._escape(pipeline, escape_func=sklearn2pmml._escape),
                        dump, compress=3)
        command = [_java(), "-cp", os.pathsep.join(sklearn2pmml._classpath([])),
                   "com.sklearn2pmml.Main", "--pkl-input", str(dump),
                   "--pmml-output", str(target)]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=CONVERT_TIMEOUT, env=_converter_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConversionError(f"sklearn2pmml's Java converter could not run "
                                  f"({command[0]}): {exc}") from exc
        if done.returncode != 0 or not target.exists():
            raise ConversionError(_explain(done.stdout + "\n" + done.stderr, pipeline))
        return target.read_bytes()


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


@functools.lru_cache(maxsize=1)
def _environment_text() -> str:
    """What sklearn2pmml passes its converter to record in the PMML header (versions)."""
    import sklearn2pmml

    try:
        found = sklearn2pmml._environment()
    except Exception:  # the header note is optional; the conversion does not need it
        return ""
    return "\n".join(f"{k}: {v}" for k, v in found.items())


def _converter_env() -> dict[str, str]:
    return {**os.environ, "SKLEARN2PMML_ENVIRONMENT": _environment_text()}


_JAVA_CAUSE = re.compile(r"^(?:\S+\.)?(?:\w+Exception|\w+Error): (.+)$", re.M)


def _explain(output: str, pipeline: Any) -> str:
    causes = _JAVA_CAUSE.findall(output)
    lines = [line for line in output.strip().splitlines() if line.strip()]
    # the first cause is the converter's own diagnosis
    reason = causes[0] if causes else (lines[-1] if lines else "the Java converter failed")
    steps = " -> ".join(step_names(pipeline))
    hint = ""
    if "supported" in reason:
        hint = f". Tested and supported: {TESTED_STEPS}"
    return f"sklearn2pmml could not convert the pipeline ({steps}): {reason}{hint}"


def step_names(estimator: Any) -> list[str]:
    """Class names of the steps, nested pipelines and column transformers flattened."""
    if hasattr(estimator, "steps"):
        return [n for _, step in estimator.steps for n in step_names(step)]
    if hasattr(estimator, "transformers"):
        inner = [n for _, t, _ in estimator.transformers for n in step_names(t)
                 if isinstance(t, object) and not isinstance(t, str)]
        return [f"{type(estimator).__name__}[{', '.join(inner)}]"]
    return [type(estimator).__name__]

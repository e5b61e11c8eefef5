"""scikit-learn → PMML through sklearn2pmml (which runs a Java converter per export)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._boundary import converter
from pmmlkit._values import plain, pmml_text
from pmmlkit._version import installed, version_key
from pmmlkit.converter._parity import NativeOutputs
from pmmlkit.errors import ConversionError
from pmmlkit.scorer.verification import record_precision

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


def to_pmml_pipeline(estimator: Any, X: pd.DataFrame, y: pd.Series | pd.DataFrame | None
                     ) -> Any:
    """A fitted PMMLPipeline around a fitted Pipeline, bare estimator or PMMLPipeline."""
    from sklearn.base import BaseEstimator
    from sklearn2pmml import make_pmml_pipeline
    from sklearn2pmml.pipeline import PMMLPipeline

    if not isinstance(estimator, BaseEstimator):
        kind = type(estimator)
        raise ConversionError(
            f"{kind.__module__}.{kind.__qualname__} is not a scikit-learn estimator (it does "
            "not derive from sklearn.base.BaseEstimator). export_sklearn converts fitted "
            f"scikit-learn Pipelines, estimators and PMMLPipelines; tested: {TESTED_STEPS}. "
            "For a model made elsewhere, write PMML with its own converter and publish it "
            "with pmmlkit.export_pmml")
    _check_fitted(estimator)
    if isinstance(estimator, PMMLPipeline):
        return estimator
    target = None
    if is_supervised(estimator):
        if isinstance(y, pd.DataFrame):
            target = [str(c) for c in y.columns]  # a multi-output estimator: one per column
        elif y is not None and y.name is not None:
            target = [str(y.name)]
        else:
            import warnings

            warnings.warn("the model's target is named 'y' in the PMML: pass the labels as "
                          "a Series named after them (y_sample=frame['churn']) to name it",
                          UserWarning, stacklevel=4)
            target = ["y"]
    with converter("sklearn2pmml's make_pmml_pipeline"):
        return make_pmml_pipeline(estimator, active_fields=[str(c) for c in X.columns],
                                  target_fields=target)


def _check_fitted(estimator: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(final_step(estimator))
    except NotFittedError as exc:
        raise ConversionError(f"the {type(estimator).__name__} is not fitted: call .fit(X, y) "
                              "on it first, then export the fitted model") from exc
    except TypeError:  # an object scikit-learn cannot tell about: sklearn2pmml decides
        pass


def configure(pipeline: Any, options: Mapping[str, Any]) -> None:
    """sklearn2pmml's conversion options on the pipeline's final estimator."""
    with converter(f"sklearn2pmml's PMMLPipeline.configure({dict(options)})"):
        pipeline.configure(**options)


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


def is_supervised(estimator: Any) -> bool:
    return _kind(estimator) in ("classifier", "regressor")


def native_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str],
                   targets: list[str] | None = None) -> NativeOutputs:
    """Native predictions keyed by pmmlkit's output columns (``targets``: the contract's
    target columns, several for a multi-output estimator)."""
    with converter("the native model's predict on the sample"):
        return _native_outputs(pipeline, X, schema_columns, targets)


def _native_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str],
                    targets: list[str] | None = None) -> NativeOutputs:
    if targets is not None and len(targets) > 1:
        return _multi_target_outputs(pipeline, X, schema_columns, targets)
    final = final_step(pipeline)
    target = schema_columns[0]
    values: dict[str, np.ndarray] = {}
    labels: set[str] = set()
    kind = _kind(pipeline)
    if kind == "classifier":
        probabilities = _probabilities(pipeline, X)
        classes = pipeline.classes_ if hasattr(pipeline, "classes_") else final.classes_
        for cls, column in zip(classes, [] if probabilities is None else probabilities.T,
                               strict=probabilities is not None):
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


def _multi_target_outputs(pipeline: Any, X: pd.DataFrame, schema_columns: list[str],
                          targets: list[str]) -> NativeOutputs:
    """A multi-output estimator's predictions: one column per target (in the PMML's target
    order, which is the training frame's), and for a classifier the probabilities sklearn2pmml
    names ``probability(<target>, <class>)``."""
    values: dict[str, np.ndarray] = {}
    labels: set[str] = set()
    predicted = np.asarray(pipeline.predict(X))
    classifier = _kind(pipeline) == "classifier"
    for k, target in enumerate(targets):
        values[target] = predicted[:, k] if classifier else predicted[:, k].astype(float)
        if classifier:
            labels.add(target)
    probabilities = _probabilities(pipeline, X) if classifier else None
    if probabilities is not None:
        final = final_step(pipeline)
        classes = getattr(final, "classes_", None)
        for k, target in enumerate(targets):
            if isinstance(probabilities, list):  # MultiOutputClassifier: one array a target
                names = classes[k] if classes is not None else []
                columns = probabilities[k].T
            else:  # ClassifierChain: each target's positive-class probability (binary)
                names = [0, 1]
                columns = np.stack([1 - probabilities[:, k], probabilities[:, k]])
            for cls, column in zip(names, columns, strict=True):
                name = f"probability({target}, {_label(cls)})"
                if name in schema_columns:
                    values[name] = column
    return NativeOutputs(values, frozenset(labels))


def _probabilities(pipeline: Any, X: pd.DataFrame) -> Any:
    """``predict_proba``, or None for a classifier without it (sklearn2pmml's CHAID raises
    NotImplementedError)."""
    if not hasattr(pipeline, "predict_proba"):
        return None
    try:
        return pipeline.predict_proba(X)
    except (NotImplementedError, AttributeError):
        return None


def native_rows(pipeline: Any, rows: list[pd.DataFrame], columns: list[str],
                targets: list[str]) -> list[dict[str, Any] | str]:
    """The native model on each one-row frame: its outputs under pmmlkit's column names, or
    why it refused the row."""
    out: list[dict[str, Any] | str] = []
    for row in rows:
        try:
            found = _native_outputs(pipeline, row, columns, targets)
        except Exception as exc:  # the native model refuses the row: that is the answer
            out.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
                       if str(exc).strip() else type(exc).__name__)
            continue
        out.append({name: values[0] for name, values in found.values.items()})
    return out


def _label(value: Any) -> str:
    """A class label as sklearn2pmml writes it: integral numbers without ``.0``; booleans as
    Python prints them."""
    if isinstance(value, (bool, np.bool_)):
        return str(plain(value))
    return pmml_text(value)


def native_precision(pipeline: Any, X: pd.DataFrame) -> tuple[float, float]:
    """The verification precision the native predictions can be checked at: float precision
    when the estimator predicts in 32-bit floats (XGBoost), else double precision."""
    with converter("the native model's predict on the verification sample"):
        predicted = _probabilities(pipeline, X) if _kind(pipeline) == "classifier" else None
        if predicted is None:
            predicted = pipeline.predict(X)
    arrays = predicted if isinstance(predicted, list) else [predicted]
    single = any(np.asarray(a).dtype == np.float32 for a in arrays)
    return record_precision("float" if single else "double")


def convert(pipeline: Any, X_verify: pd.DataFrame, *, with_verification: bool,
            precision: tuple[float, float] | None = None) -> bytes:
    """Run sklearn2pmml's Java converter; return the PMML bytes or raise ConversionError with
    Java's reason. ``precision``: the verification records' precision and zero threshold
    (default: what :func:`native_precision` finds).

    The converter runs as a child process whose output pmmlkit reads itself: nothing
    process-wide (``sys.stdout``, warning filters) is swapped, so exports may run in threads.
    """
    import joblib
    import sklearn2pmml

    if with_verification and len(X_verify):
        if precision is None:
            precision = native_precision(pipeline, X_verify)
        with converter("recording verification data (PMMLPipeline.verify)"):
            pipeline.verify(_as_records(X_verify), precision=precision[0],
                            zeroThreshold=precision[1])
            if _multi_target(pipeline) and hasattr(pipeline.verification,
                                                    "probability_values"):
                # sklearn2pmml cannot record several targets' probabilities ("Expected one
                # element, got 2"): their predicted values are recorded
                del pipeline.verification.probability_values
    with tempfile.TemporaryDirectory(prefix="pmmlkit-export-") as folder:
        target = Path(folder) / "model.pmml"
        dump = Path(folder) / "pipeline.pkl.z"
        with converter("pickling the pipeline for sklearn2pmml"):
            joblib.dump(sklearn2pmml._escape(pipeline, escape_func=sklearn2pmml._escape),
                        dump, compress=3)
        command = [_java(), *_converter_jvm_options(dump.stat().st_size), "-cp",
                   os.pathsep.join(sklearn2pmml._classpath([])),
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


def _as_records(X: pd.DataFrame) -> pd.DataFrame:
    """The verification sample as sklearn2pmml should write it: dates as ISO dates, or
    dates and times without a fractional second (its own writing of a timestamp,
    ``2023-09-10T00:00``, is no date an evaluator reads)."""
    out = X
    for name in X.columns:
        if pd.api.types.is_datetime64_any_dtype(X[name]):
            values = X[name]
            midnight = bool((values.dropna() == values.dropna().dt.normalize()).all())
            out = out.assign(**{name: values.dt.strftime("%Y-%m-%d" if midnight
                                                         else "%Y-%m-%dT%H:%M:%S")})
    return out


def _multi_target(pipeline: Any) -> bool:
    target = getattr(pipeline, "target_fields", None)
    return target is not None and np.atleast_1d(np.asarray(target, dtype=object)).size > 1


#: a pickled pipeline below this many bytes (compressed) converts in a short-lived JVM, with
#: the C1 compiler only and the serial collector: faster up to ~1 MB of pickle, slower from
#: a few MB, where C2's code pays for itself (benchmarks/bench_convert_jvm.py, numbers in
#: docs/performance.md#export-overhead).
QUICK_CONVERT_BYTES = 1 << 20
QUICK_CONVERT_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def _converter_jvm_options(pickle_bytes: int) -> tuple[str, ...]:
    return QUICK_CONVERT_OPTIONS if pickle_bytes < QUICK_CONVERT_BYTES else ()


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


_JAVA_CAUSE = re.compile(r"^(?:\S+\.)?(\w+(?:Exception|Error)): (.+)$", re.M)
#: sklearn2pmml's "Context:" block names the Python object it was converting
_CONTEXT = re.compile(r"^Context:\s*\n\s*(\S+)", re.M)
#: what to do about the causes users meet most, by a pattern of the cause
_FIXES = (
    (re.compile(r"Element Node is not supported|missing value", re.I),
     "a missing value reaches a step that cannot encode it (e.g. OneHotEncoder or a tree on "
     "a column with NaN): impute the column first (SimpleImputer), or declare how missing "
     "values are treated (sklearn2pmml.decoration.CategoricalDomain/ContinuousDomain)"),
    (re.compile(r"Expected \d+ features?, got \d+"),
     "a step produces a different number of columns than sklearn2pmml expects of it (a "
     "version it does not know): use another encoder for this column"),
    (re.compile(r"supported", re.I), f"tested and supported: {TESTED_STEPS}"),
)


def _explain(output: str, pipeline: Any) -> str:
    """sklearn2pmml's failure in one line: the pipeline's steps, the object it was converting,
    its first diagnosis and the innermost cause, and what to do."""
    causes = _JAVA_CAUSE.findall(output)
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if causes:
        first, inner = causes[0][1], causes[-1]
        reason = first if len(causes) == 1 or inner[1] == first else \
            f"{first}; caused by {inner[0]}: {inner[1]}"
    else:
        reason = lines[-1] if lines else "the Java converter failed"
    steps = " -> ".join(step_names(pipeline))
    context = _CONTEXT.search(output)
    at = f" at {context.group(1)}" if context else ""
    fix = next((text for pattern, text in _FIXES if pattern.search(reason)), None)
    return (f"sklearn2pmml could not convert the pipeline ({steps}){at}: {reason}"
            + (f". Fix: {fix}" if fix else ""))


def step_names(estimator: Any) -> list[str]:
    """Class names of the steps, nested pipelines and column transformers flattened."""
    if hasattr(estimator, "steps"):
        return [n for _, step in estimator.steps for n in step_names(step)]
    if hasattr(estimator, "transformers"):
        inner = [n for _, t, _ in estimator.transformers for n in step_names(t)
                 if isinstance(t, object) and not isinstance(t, str)]
        return [f"{type(estimator).__name__}[{', '.join(inner)}]"]
    return [type(estimator).__name__]

"""The pipelines users write, end to end: fit, convert (sklearn2pmml, with verification
records), write the data as pandas and as R write CSV, score the file with ``pmmlkit score``,
and compare with the native model's own predictions.

The oracle is the native model: scikit-learn, XGBoost, LightGBM, CHAID, category_encoders.
Where the native model refuses a row (a value outside a domain), pmmlkit must refuse it too
and score the others. Numbers agree to 1e-9, or to float precision (1e-5 relative) where the
native library computes in 32-bit floats. The catalog is ``tests/conformance.py``; the docs
table ``docs/conformance.md`` lists the same cases (checked here).
"""

from __future__ import annotations

import math
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.cli._common import run
from tests import conformance
from tests.conformance import Case

DOCS = Path(__file__).parents[1] / "docs" / "conformance.md"
CASES = {case.name: case for case in conformance.cases()}


def _fit(case: Case, train: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    rows = train if case.missing else train.dropna(subset=case.features)
    X = rows[case.features]
    pipeline = case.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not case.target:
            pipeline.fit(X)
        elif len(case.target) == 1:
            pipeline.fit(X, rows[case.target[0]])
        else:
            pipeline.fit(X, rows[case.target])
    return pipeline, X


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """Every case fitted and converted, two conversions at a time (each is a Java process)."""
    from pmmlkit.converter import sklearn_to_pmml

    train = conformance.frame(400, 1)
    folder = tmp_path_factory.mktemp("conformance")

    def one(case: Case) -> tuple[str, tuple[Any, Path]]:
        pipeline, X = _fit(case, train)
        pmml = sklearn_to_pmml(pipeline, X.iloc[:40], with_verification=case.oracle == "native")
        path = folder / f"{case.name}.pmml"
        path.write_bytes(pmml)
        return case.name, (pipeline, path)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, CASES.values()))


def _rows(case: Case) -> pd.DataFrame:
    test = conformance.frame(150, 2)
    return test if case.missing else test.dropna(subset=case.features).reset_index(drop=True)


def _pandas_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _r_csv(frame: pd.DataFrame, path: Path) -> None:
    """As R's write.csv writes a data.frame (every digit kept): TRUE/FALSE, NA for any
    missing value, strings quoted."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == bool:
            out[name] = np.where(column, "TRUE", "FALSE")
        elif pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(column):
            out[name] = [("NA" if math.isnan(v) else repr(float(v))) for v in column]
        elif column.dtype.kind == "O" or pd.api.types.is_string_dtype(column):
            out[name] = ['"NA"' if pd.isna(v) else f'"{v}"' for v in column]
    lines = [",".join(f'"{c}"' for c in out.columns)]
    lines += [",".join("NA" if v == '"NA"' else str(v) for v in row)
              for row in out.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")


def _native_ok(pipeline: Any, X: pd.DataFrame) -> np.ndarray:
    """The rows the native model predicts (a domain refuses some values: per row then)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pipeline.predict(X)
            return np.ones(len(X), dtype=bool)
        except Exception:
            ok = []
            for i in range(len(X)):
                try:
                    pipeline.predict(X.iloc[[i]])
                    ok.append(True)
                except Exception:
                    ok.append(False)
            return np.array(ok)


def _expected(case: Case, pipeline: Any, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The native model's outputs under pmmlkit's column names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: dict[str, np.ndarray] = {}
        if case.kind == "outlier":
            out["decisionFunction"] = pipeline.decision_function(X)
            out["outlier"] = pipeline.predict(X) == -1
            return out
        predicted = np.asarray(pipeline.predict(X))
        if case.kind == "clusterer":
            out["prediction"] = predicted
            return out
        if len(case.target) == 1:
            out[case.target[0]] = predicted
        else:
            for k, target in enumerate(case.target):
                out[target] = predicted[:, k]
        if case.kind == "classifier" and len(case.target) == 1 and case.probabilities:
            try:
                probabilities = pipeline.predict_proba(X)
            except (AttributeError, NotImplementedError):
                return out
            for k, label in enumerate(pipeline.classes_):
                out[f"probability({label})"] = probabilities[:, k]
        return out


def _same(case: Case, got: pd.Series, want: np.ndarray) -> str | None:
    """Why the scored column differs from the native one, or None."""
    if want.dtype.kind in "fc" and case.kind != "clusterer":
        values = got.to_numpy(dtype=float)
        if case.float32:
            bad = np.abs(values - want) > 1e-5 * np.maximum(1.0, np.abs(want))
        else:
            bad = np.abs(values - want) > 1e-9
        worst = float(np.max(np.abs(values - want))) if len(want) else 0.0
        return f"max |difference| {worst:.3g}" if bad.any() else None
    if want.dtype.kind == "b":
        text = [str(v).lower() for v in got]
        ok = [t == str(bool(w)).lower() for t, w in zip(text, want, strict=True)]
    else:
        ok = [str(g) == str(w) or _number(g) == _number(w) for g, w in zip(got, want, strict=True)]
    return None if all(ok) else f"{ok.count(False)} labels differ"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("style", ["pandas", "r"])
@pytest.mark.parametrize("name", list(CASES))
def test_pmmlkit_score_gives_the_native_predictions(name, style, converted, tmp_path):
    case = CASES[name]
    pipeline, path = converted[name]
    rows = _rows(case)
    X = rows[case.features]
    source, out, rejects = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "bad.csv"
    (_pandas_csv if style == "pandas" else _r_csv)(X.assign(row_id=range(len(X))), source)
    code = run(app, ["score", str(path), str(source), "-o", str(out), "--keep", "row_id",
                     "--rejects", str(rejects)])
    assert code in (0, 10)
    scored = pd.read_csv(out, keep_default_na=False, na_values=[""])
    model = pmmlkit.load(path, verify=False)
    if case.oracle == "jpmml":
        _check_against_jpmml(path, source, scored, model)
        return
    ok = _native_ok(pipeline, X)
    assert sorted(scored["row_id"]) == list(np.flatnonzero(ok)), (
        pd.read_csv(rejects).head(5).to_dict("records") if rejects.exists() else None)
    good = X[ok]
    expected = _expected(case, pipeline, good)
    assert expected
    for column, want in expected.items():
        assert column in scored.columns, (column, list(scored.columns))
        problem = _same(case, scored[column], want)
        assert problem is None, (column, problem)
    # every output column of the contract is in the file, and nothing else
    assert list(scored.columns) == ["row_id", *model.schema.column_names]


def _check_against_jpmml(path: Path, source: Path, scored: pd.DataFrame,
                         model: pmmlkit.Model) -> None:
    """Raw JPMML-Evaluator on the file's cells (the documented file rules applied: NA
    markers are missing) scores exactly the rows pmmlkit scored, with its numbers."""
    from pmmlkit.batch import DEFAULT_NA_VALUES
    from tests import _raw

    cells = pd.read_csv(source, dtype=str, keep_default_na=False)
    records = [{k: (None if v in DEFAULT_NA_VALUES else v) for k, v in r.items()
                if k in model.schema.input_names} for r in cells.to_dict("records")]
    raw = _raw.jpmml(path.read_text(), records)
    target = model.schema.columns[0]
    scored_rows = set(scored["row_id"])
    expected_rows = {i for i, r in enumerate(raw)
                     if not isinstance(r, Exception) and r.get(target.key) is not None}
    assert scored_rows == expected_rows
    by_row = scored.set_index("row_id")
    for i in sorted(expected_rows):
        assert str(by_row.loc[i, target.name]) == str(raw[i][target.key]), i
    assert len(expected_rows) > len(records) // 2


#: the cases whose documents the columnar plan serves: imputed and missing values, ordinal
#: and target encodings (MapValues), boolean categories, XGBoost's float inputs, LightGBM, a
#: soft vote of a logistic regression and a tree (their categories in different orders), an
#: isolation forest (outputs computed by expressions of other outputs), a neural network, a
#: domain of intervals (a value outside is the evaluator's to refuse)
PLANNED = ["logistic_bool_onehot", "logistic_unknown_ignored_missing", "histgb_missing",
           "forest_ordinal", "voting_soft", "isolation_forest", "mlp", "continuous_domain",
           "target_encoder", "category_encoders_target", "category_encoders_count",
           "tree_multiclass", "gbm_regressor", "xgboost_classifier", "xgboost_regressor",
           "lightgbm_classifier"]


@pytest.mark.parametrize("name", PLANNED)
def test_the_columnar_plan_serves_with_the_evaluators_numbers(name, converted):
    """Once it serves, the plan gives the raw evaluator's numbers to the bit (every output,
    every row it does not defer) and the native model's predictions."""
    from tests import _raw

    case = CASES[name]
    pipeline, path = converted[name]
    X = _rows(case)[case.features].reset_index(drop=True)
    model = pmmlkit.load(path, verify=False)
    warm = pd.concat([X] * 4, ignore_index=True)
    for _ in range(3):  # the plan serves once it has computed 512 rows as the evaluator
        model.score_batch(warm)
    assert model.plan.startswith("serving:"), model.plan
    got = model.score_batch(X)
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in r.items()} for r in X.to_dict("records")]
    raw = _raw.jpmml(path.read_text(), records)
    ok = _native_ok(pipeline, X)
    assert ok.sum() > len(X) // 2
    for i, want in enumerate(raw):
        if isinstance(want, Exception):
            assert got["error"][i] is not None, i
            continue
        assert got["error"][i] is None, (i, got["error"][i])
        for column in model.schema.columns:
            key = column.name if column.kind == "probability" else column.key
            mine, theirs = got[column.name][i], want.get(key)
            if isinstance(theirs, float):
                assert np.float64(mine).view(np.int64) == np.float64(theirs).view(np.int64), (
                    i, column.name, mine, theirs)
            else:
                assert str(mine) == str(theirs), (i, column.name, mine, theirs)
    expected = _expected(case, pipeline, X[ok])
    for column, want in expected.items():
        problem = _same(case, got[column][ok].reset_index(drop=True), want)
        assert problem is None, (column, problem)


def test_a_pipeline_sklearn2pmml_cannot_convert_is_refused_naming_the_step(tmp_path):
    case = conformance.unsupported()
    pipeline, X = _fit(case, conformance.frame(200, 1))
    with pytest.raises(pmmlkit.ConversionError) as info:
        pmmlkit.export_sklearn(pipeline, X, conformance.frame(200, 1)["y"], repo=str(tmp_path),
                               name=case.name)
    message = str(info.value)
    assert "ColumnTransformer[BinaryEncoder] -> LogisticRegression" in message
    assert "Expected 4 features, got 5" in message and "Fix:" in message
    assert not pmmlkit.Repository(str(tmp_path)).names()


def test_export_refuses_a_conversion_that_loses_the_natives_missing_value_treatment(tmp_path):
    """The converted document gives no prediction where the native model uses its prior:
    its own verification records fail with the exact evaluator, so nothing is published."""
    case = conformance.lossy()
    train = conformance.frame(300, 1)
    pipeline, X = _fit(case, train)
    assert X["cat_na"].isna().sum() > 10
    with pytest.raises(pmmlkit.ParityError, match="its own verification records") as info:
        pmmlkit.export_sklearn(pipeline, X, train["y"], repo=str(tmp_path), name=case.name)
    assert "value is missing" in str(info.value) and "nothing was published" in str(info.value)
    assert not pmmlkit.Repository(str(tmp_path)).names()


def test_the_docs_table_lists_every_case():
    text = DOCS.read_text()
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M))
    assert listed == set(CASES), (set(CASES) - listed, listed - set(CASES))

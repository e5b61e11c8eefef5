"""Input handling: missing, invalid, wrong types, numpy and friends, the column rule, batches.

The evaluator decides what a value means (``tests/test_conformance_inputs.py`` checks that
cell kind by cell kind against raw JPMML-Evaluator); these tests check the paths around it on
real exported models. The logistic regression reads every input of every row, so a bad value
anywhere is refused; a tree reads only the inputs on its path.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import pmmlkit
from pmmlkit.datasets import FEATURES
from tests import _raw

BACKENDS = ["jpmml", "pypmml"]


@pytest.fixture(scope="module", params=BACKENDS)
def gbm(request, exported):
    return pmmlkit.load(exported["gbm"].path, backend=request.param, verify=False)


@pytest.fixture(scope="module", params=BACKENDS)
def logreg(request, exported):
    return pmmlkit.load(exported["logreg"].path, backend=request.param, verify=False)


@pytest.fixture()
def record(holdout):
    return holdout[FEATURES].iloc[0].to_dict()


def test_a_missing_value_goes_to_the_evaluator(gbm, exported, record):
    """scikit-learn's GradientBoostingClassifier refuses NaN; its PMML's trees say
    ``missingValueStrategy="nullPrediction"``: JPMML gives no prediction, and the row is an
    error naming the missing field. PMML4S scores it its own way: pmmlkit gives PMML4S's
    number (the evaluator decides), and the export's parity report says how far it is."""
    xml = exported["gbm"].path.read_text()
    for missing in (None, float("nan"), "", np.nan):
        given = {**record, "x0": missing}
        if gbm.backend == "jpmml":
            assert _raw.jpmml(xml, [{**record, "x0": None}])[0].get("churn") is None
            with pytest.raises(pmmlkit.InvalidInputError, match=r"'x0': value is missing") as info:
                gbm.score(given)
            assert info.value.field == "x0"
        else:
            (raw,) = _raw.pmml4s(xml, [{**record, "x0": None}])
            assert gbm.score(given)["probability(1)"] == raw["probability(1)"]


def test_an_absent_field_is_an_error_naming_it_and_the_closest_name(gbm, record):
    given = {("X1" if k == "x1" else k): v for k, v in record.items()}
    with pytest.raises(pmmlkit.InvalidInputError,
                       match=r"inputs \['x1'\] are not among.*did you mean 'X1' for 'x1'") as info:
        gbm.score(given)
    assert info.value.field == "x1" and info.value.reason == "missing column"
    # allowed: the absent input is missing on every row, as if given as None
    allowed = pmmlkit.load(gbm.pmml, backend=gbm.backend, verify=False,
                           allow_missing_columns=True)
    expected = _outcome(gbm, {**record, "x1": None})
    assert _outcome(allowed, given) == expected
    assert _outcome(gbm, given, allow_missing_columns=True) == expected


def _outcome(model, record, **options):
    """A record's result, or the reasons it was refused."""
    try:
        return model.score(record, **options)
    except pmmlkit.InvalidInputError as exc:
        return [p["reason"] for p in exc.problems]


def test_an_absent_column_fails_a_batch_before_scoring(gbm, holdout):
    frame = holdout[FEATURES].iloc[:20].rename(columns={"age": "Age", "x3": "X3"})
    with pytest.raises(pmmlkit.InvalidInputError, match=r"\['x3'\].*did you mean 'X3'"):
        gbm.score_batch(frame)
    out = gbm.score_batch(frame, allow_missing_columns=True)
    assert len(out) == 20


def test_unseen_category_names_field_value_and_valid_values(gbm, record):
    with pytest.raises(pmmlkit.InvalidInputError) as info:
        gbm.score({**record, "color": "purple"})
    message = str(info.value)
    assert "'color'" in message and "'purple'" in message
    assert "blue, green, red" in message
    assert info.value.value == "purple"


def test_string_for_a_number_is_an_error(logreg, record):
    with pytest.raises(pmmlkit.InvalidInputError, match=r"'x2'.*expected a number.*'abc'"):
        logreg.score({**record, "x2": "abc"})


def test_every_bad_field_of_a_record_is_named(logreg, record):
    with pytest.raises(pmmlkit.InvalidInputError) as info:
        logreg.score({**record, "x2": "abc", "size": "XXL", "x5": [1.0]})
    fields = [p["field"] for p in info.value.problems]
    assert sorted(fields) == ["size", "x2", "x5"]
    message = str(info.value)
    assert "'XXL'" in message and "'abc'" in message and "list" in message


def _native(exported, record):
    """scikit-learn's own probabilities for one record (the oracle)."""
    out = exported["gbm"].native(pd.DataFrame([record])[FEATURES])
    return {k: v[0] for k, v in out.items() if k.startswith("probability(")}


def test_numpy_decimal_bool_and_numeric_strings_are_converted(gbm, record, exported):
    converted = {**record, "x0": np.float64(record["x0"]), "x1": Decimal(str(record["x1"])),
                 "x2": str(record["x2"]), "color": np.str_(record["color"])}
    tolerance = 1e-9 if gbm.backend == "jpmml" else 1e-6
    for name, expected in _native(exported, record).items():
        assert gbm.score(converted)[name] == pytest.approx(expected, abs=tolerance)
    as_float32 = np.array([record["x3"]], dtype=np.float32)[0]
    for changed, plain in (({"x3": as_float32}, {"x3": float(as_float32)}),
                           ({"x4": True}, {"x4": 1.0}), ({"x5": np.int64(2)}, {"x5": 2.0})):
        scored = gbm.score({**record, **changed})
        for name, expected in _native(exported, {**record, **plain}).items():
            assert scored[name] == pytest.approx(expected, abs=tolerance), (changed, name)


def test_extra_fields_ignored_unless_strict(exported, record):
    path = exported["gbm"].path
    model = pmmlkit.load(path)
    assert model.score({**record, "customer_id": 7}) == model.score(record)
    strict = pmmlkit.load(path, strict=True)
    with pytest.raises(pmmlkit.InvalidInputError, match=r"unknown fields.*customer_id"):
        strict.score({**record, "customer_id": 7})
    assert strict.score({**record, "customer_id": 7}, strict=False) == model.score(record)


def test_score_requires_a_mapping(gbm):
    with pytest.raises(pmmlkit.InvalidInputError, match="mapping"):
        gbm.score([1, 2, 3])  # type: ignore[arg-type]


def test_batch_reports_bad_rows_and_scores_the_others(logreg, holdout, exported):
    rows = holdout[FEATURES].iloc[:50].astype(object).reset_index(drop=True)
    rows.loc[3, "x0"] = None
    rows.loc[7, "color"] = "purple"
    rows.loc[11, "x2"] = "abc"
    out = logreg.score_batch(rows)
    assert len(out) == 50
    errors = out["error"]
    # the oracle: raw JPMML-Evaluator on the same cells refuses or gives nothing on these
    raw = _raw.jpmml(exported["logreg"].path.read_text(),
                     [{k: (None if v is None else v) for k, v in r.items()}
                      for r in rows.to_dict("records")])
    refused = {i for i, r in enumerate(raw) if isinstance(r, Exception) or r.get("churn") is None}
    assert refused == {3, 7, 11}
    if logreg.backend == "jpmml":
        assert set(np.flatnonzero(errors.notna())) == {3, 7, 11}
        assert "'x0'" in errors[3] and "missing" in errors[3]
    else:  # PMML4S scores a missing number its own way; values are refused as by JPMML
        assert {7, 11} <= set(np.flatnonzero(errors.notna())) <= {3, 7, 11}
    assert "'purple'" in errors[7]
    assert "'abc'" in errors[11]
    assert out.loc[[7, 11], "probability(1)"].isna().all()
    good = logreg.score_batch(holdout[FEATURES].iloc[:50])
    keep = [i for i in range(50) if i not in (3, 7, 11)]
    assert np.allclose(out.loc[keep, "probability(1)"], good.loc[keep, "probability(1)"],
                       atol=0, rtol=0)


def test_batch_accepts_records_dicts_and_arrow(gbm, holdout):
    frame = holdout[FEATURES].iloc[:30]
    expected = gbm.score_batch(frame)
    for data in (frame.to_dict("records"), frame.to_dict("list"),
                 pa.Table.from_pandas(frame, preserve_index=False)):
        pd.testing.assert_frame_equal(gbm.score_batch(data), expected)


def test_batch_with_pandas_string_dtype(gbm, holdout):
    frame = holdout[FEATURES].iloc[:30].copy()
    for name in ("color", "size", "region"):
        frame[name] = frame[name].astype("string")
    pd.testing.assert_frame_equal(gbm.score_batch(frame),
                                  gbm.score_batch(holdout[FEATURES].iloc[:30]))


def test_batch_chunking_keeps_order(gbm, holdout):
    frame = holdout[FEATURES]
    pd.testing.assert_frame_equal(gbm.score_batch(frame, chunk_size=97),
                                  gbm.score_batch(frame))


def test_empty_batch(gbm, holdout):
    out = gbm.score_batch(holdout[FEATURES].iloc[:0])
    assert len(out) == 0
    assert list(out.columns) == [*gbm.schema.column_names, "error"]


def test_score_columns_takes_numpy_and_encoded_columns_without_pandas(logreg, holdout, exported):
    """The pandas-free primitive under the file path: NumPy numbers, dictionary-encoded text,
    an object column holding a bad value and an unhashable one; scikit-learn is the oracle."""
    gbm = logreg
    from pmmlkit.scorer.contract import python_values
    from pmmlkit.scorer.validation import Encoded

    X = holdout[FEATURES].iloc[:200].reset_index(drop=True)
    columns: dict[str, object] = {}
    for name in FEATURES:
        if X[name].dtype.kind in "if":
            columns[name] = X[name].to_numpy(np.float64)
        else:
            values = sorted(set(X[name]))
            columns[name] = Encoded(np.array([values.index(v) for v in X[name]]), values)
    native = exported["logreg"].estimator.predict_proba(X)[:, 1]
    labels = exported["logreg"].estimator.predict(X)
    names = gbm.schema.column_names
    out, errors = gbm.score_columns(columns, len(X))
    assert errors == []
    assert np.max(np.abs(out[names.index("probability(1)")] - native)) < 1e-9
    target = gbm.schema.columns[0]
    assert python_values(target, out[0]) == [int(v) for v in labels]
    odd = X["x0"].to_numpy(object)
    odd[3], odd[5], odd[8] = "abc", [1.0], "2.5"
    columns["x0"] = odd
    out, errors = gbm.score_columns(columns, len(X))
    assert [(e.row, e.field) for e in errors] == [(3, "x0"), (5, "x0")]
    assert "expected a number" in errors[0].reason and errors[1].value == [1.0]
    p = out[names.index("probability(1)")]
    assert np.isnan(p[3]) and np.isnan(p[5])
    assert python_values(target, out[0])[3] is None
    keep = np.ones(len(X), dtype=bool)
    keep[[3, 5, 8]] = False
    assert np.max(np.abs(p[keep] - native[keep])) < 1e-9
    moved = X.copy()
    moved.loc[8, "x0"] = 2.5
    assert p[8] == pytest.approx(exported["logreg"].estimator.predict_proba(moved.iloc[[8]])[0, 1],
                                 abs=1e-9)


def test_score_arrow_is_one_columnar_call_typed_by_the_output_schema(exported, holdout):
    """Arrow in, one record batch out: kept columns as given, the contract's columns typed by
    output_schema and equal to scikit-learn, error and the detail of each bad row."""
    model = pmmlkit.load(exported["linreg"].path)
    rows = holdout[FEATURES].iloc[:20].reset_index(drop=True).astype(object)
    rows.loc[3, "x1"] = "abc"  # a text cell in a numeric input: that row's error
    table = pa.table({"id": pa.array([f"r{i}" for i in range(20)]),
                      **{c: pa.array([str(v) if c == "x1" else v for v in rows[c]])
                         for c in FEATURES}})
    out = model.score_arrow(table, keep=["id"], detail=True)
    assert isinstance(out, pa.RecordBatch) and out.num_rows == 20
    assert out.schema.names == ["id", *model.schema.column_names, "error", "_pmmlkit_field",
                                "_pmmlkit_value", "_pmmlkit_reason"]
    for field in model.output_schema:
        assert out.schema.field(field.name).type == field.type
    assert model.output_schema.field("spend").type == pa.float64()
    assert out.column("id").to_pylist() == [f"r{i}" for i in range(20)]
    good = [i for i in range(20) if i != 3]
    native = exported["linreg"].native(holdout[FEATURES].iloc[good])["spend"]
    spend = out.column("spend").to_pylist()
    assert np.max(np.abs(np.array([spend[i] for i in good]) - native)) <= 1e-9
    assert spend[3] is None and "field 'x1'" in out.column("error")[3].as_py()
    assert (out.column("_pmmlkit_field")[3].as_py(), out.column("_pmmlkit_value")[3].as_py()) \
        == ("x1", "abc")
    assert "expected a number" in out.column("_pmmlkit_reason")[3].as_py()
    assert out.column("error").null_count == 19

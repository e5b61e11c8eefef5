"""Hand-written PMML: regression with replacements, a tree routing missing values, a scorecard."""

from __future__ import annotations

import pytest

import pmmlkit
from tests.conftest import DATA

BACKENDS = ["jpmml", "pypmml"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_applies_replacements_and_treatments(backend):
    model = pmmlkit.load(DATA / "regression.pmml", backend=backend)
    # 1.5 + 0.25*40 + 0.001*2000 + 2 (red)
    assert model.score({"age": 40, "income": 2000, "color": "red"}) == {
        "score": 15.5, "score_x2": 31.0}
    # income missing -> 1000; unseen colour is asMissing -> replacement "blue" (0)
    assert model.score({"age": 40, "income": None, "color": "purple"})["score"] == 12.5
    with pytest.raises(pmmlkit.InvalidInputError, match=r"'age'.*140.*outside the valid range"):
        model.score({"age": 140, "income": 1, "color": "red"})
    assert [c.name for c in model.schema.columns] == ["score", "score_x2"]  # hidden is not final


@pytest.mark.parametrize("backend", BACKENDS)
def test_tree_probabilities_from_score_distributions(backend):
    model = pmmlkit.load(DATA / "tree_missing.pmml", backend=backend, verify=False)
    out = model.score({"temperature": 30, "outlook": "sunny"})
    assert out == {"play": "no", "probability(yes)": pytest.approx(0.1),
                   "probability(no)": pytest.approx(0.9)}


@pytest.mark.parametrize("name", ["tree_missing", "scorecard"])
def test_backend_that_breaks_the_spec_is_detected(name):
    """PMML4S routes these missing values differently from the PMML spec: reported, not hidden."""
    assert pmmlkit.load(DATA / f"{name}.pmml", backend="jpmml").verify().passed
    with pytest.raises(pmmlkit.VerificationError, match=r"record 1, field") as info:
        pmmlkit.load(DATA / f"{name}.pmml", backend="pypmml")
    assert "verify=False" in str(info.value)
    with pytest.warns(UserWarning, match="record 1"):
        pmmlkit.load(DATA / f"{name}.pmml", backend="pypmml", verify="warn")


@pytest.mark.parametrize("backend", BACKENDS)
def test_scorecard_reason_codes_and_integer_input(backend):
    model = pmmlkit.load(DATA / "scorecard.pmml", backend=backend, verify=False)
    out = model.score({"age": 25, "job": "engineer"})
    assert out["final_score"] == 40.0 and out["score"] == 40.0
    assert out["reason_1"] == "RC_AGE"
    with pytest.raises(pmmlkit.InvalidInputError, match="expected an integer"):
        model.score({"age": 35.5, "job": "other"})
    assert model.score({"age": 35.0, "job": "other"})["final_score"] == 38.0


def test_tree_missing_values_are_routed_not_rejected():
    model = pmmlkit.load(DATA / "tree_missing.pmml")
    assert model.schema.describe_missing("temperature").startswith("to the model")
    out = model.score_batch([{"temperature": None, "outlook": None},
                             {"temperature": float("nan"), "outlook": ""}])
    assert list(out["play"]) == ["no", "no"]
    assert out["error"].isna().all()


_TYPED_OUTPUTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="y = 2x + 0.4; integer and boolean output fields"/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Output>
      <OutputField name="y_hat" optype="continuous" dataType="double" feature="predictedValue"/>
      <OutputField name="rounded" optype="continuous" dataType="integer" feature="transformedValue">
        <Apply function="round"><FieldRef field="y_hat"/></Apply>
      </OutputField>
      <OutputField name="big" optype="categorical" dataType="boolean" feature="transformedValue">
        <Apply function="greaterThan"><FieldRef field="y_hat"/><Constant dataType="double">3</Constant></Apply>
      </OutputField>
    </Output>
    <RegressionTable intercept="0.4"><NumericPredictor name="x" coefficient="2"/></RegressionTable>
  </RegressionModel>
</PMML>
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_and_boolean_outputs_keep_their_types(backend, tmp_path):
    """Worked out by hand: x=1 -> 2.4, 2, False; x=1.4 -> 3.2, 3, True; x=-2 -> -3.6, -4."""
    import pandas as pd
    import pyarrow.parquet as pq

    model = pmmlkit.load(_TYPED_OUTPUTS, backend=backend)
    assert [(c.name, c.data_type) for c in model.schema.columns] == [
        ("y", "double"), ("y_hat", "double"), ("rounded", "integer"), ("big", "boolean")]
    expected = [(2.4, 2, False), (3.2, 3, True), (-3.6, -4, False)]
    for x, (y, r, b) in zip([1.0, 1.4, -2.0], expected, strict=True):
        out = model.score({"x": x})
        assert out["y"] == out["y_hat"] == pytest.approx(y, abs=1e-12)
        assert (out["rounded"], out["big"]) == (r, b)
        assert type(out["rounded"]) is int and type(out["big"]) is bool
    frame = model.score_batch({"x": [1.0, 1.4, -2.0, None]})
    assert str(frame["rounded"].dtype) == "Int64" and str(frame["big"].dtype) == "boolean"
    assert frame["rounded"].tolist()[:3] == [2, 3, -4] and frame["big"].tolist()[:3] == [
        False, True, False]
    assert frame["error"].notna().tolist() == [False, False, False, True]
    source = tmp_path / "in.csv"
    pd.DataFrame({"x": [1.0, 1.4, -2.0]}).to_csv(source, index=False)
    pmml = tmp_path / "typed.pmml"
    pmml.write_bytes(_TYPED_OUTPUTS)
    pmmlkit.score_file(str(pmml), str(source), str(tmp_path / "out.parquet"), backend=backend)
    table = pq.read_table(tmp_path / "out.parquet")
    assert [str(t) for t in table.schema.types] == ["double", "double", "int64", "bool"]
    assert table.column("rounded").to_pylist() == [2, 3, -4]
    assert table.column("big").to_pylist() == [False, True, False]

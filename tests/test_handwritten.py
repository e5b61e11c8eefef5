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
    assert model.schema.input("temperature").handles_missing
    out = model.score_batch([{"temperature": None, "outlook": None},
                             {"temperature": float("nan"), "outlook": ""}])
    assert list(out["play"]) == ["no", "no"]
    assert out["error"].isna().all()

"""XGBoost and LightGBM inside a PMMLPipeline: export, load (with verification), score,
serve, against the native library's own predictions.

XGBoost computes in 32-bit floats: its document's outputs are ``float``, its verification
records are written and checked at float precision, and its numbers agree with XGBoost's to
float precision. PMML4S is far off on the same document (0.1 and more in probability): the
export's parity report says so, and ``auto`` never falls back to it.
"""

from __future__ import annotations

import warnings

import httpx
import numpy as np
import pytest

import pmmlkit
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC
from pmmlkit.server import ServerConfig
from tests.test_serve import _jsonable, serving


def _pipeline(model):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    from sklearn2pmml.pipeline import PMMLPipeline

    return PMMLPipeline([("pre", ColumnTransformer([("num", "passthrough", NUMERIC),
                                                    ("cat", OneHotEncoder(), CATEGORICAL)])),
                         ("model", model)])


def _with_missing(frame, share=0.05):
    out = frame.copy()
    rng = np.random.default_rng(0)
    for column in NUMERIC:
        out.loc[rng.random(len(out)) < share, column] = np.nan
    return out


@pytest.fixture(scope="module")
def boosted(tmp_path_factory, dataset):
    """XGBoost and LightGBM classifiers exported to one repository, trained (as on real data)
    on numbers with missing values, so each library learns where a missing value goes."""
    from lightgbm import LGBMClassifier
    from xgboost import XGBClassifier

    repo = tmp_path_factory.mktemp("boosted") / "models"
    train = _with_missing(dataset)
    out = {}
    for name, model in (("xgb", XGBClassifier(n_estimators=50, max_depth=3, random_state=0)),
                        ("lgbm", LGBMClassifier(n_estimators=50, random_state=0, verbose=-1))):
        pipeline = _pipeline(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.fit(train[FEATURES], train["churn"])
        ref = pmmlkit.export_sklearn(pipeline, dataset[FEATURES].iloc[:1000],
                                     dataset["churn"].iloc[:1000], repo=str(repo), name=name)
        out[name] = (pipeline, ref)
    return repo, out


def test_xgboost_round_trips_at_float_precision(boosted, holdout):
    _, models = boosted
    pipeline, ref = models["xgb"]
    parity = ref.manifest["parity"]
    assert parity["passed"] and parity["backends"]["jpmml"]["verification"]["passed"]
    # the records are written at float precision, which the document can meet
    model = pmmlkit.load(ref.ref)  # verify=True: the records are replayed
    assert model.backend == "jpmml"
    fields = model.schema.verification.fields
    assert fields["probability(1)"]["precision"] == 1e-5
    assert {c.data_type for c in model.schema.columns if c.name.startswith("probability(")} == {
        "float"}
    native = pipeline.predict_proba(holdout[FEATURES])[:, 1]
    scored = model.score_batch(holdout[FEATURES])
    assert scored["error"].isna().all()
    got = scored["probability(1)"].to_numpy()
    assert np.max(np.abs(got - native)) < 1e-6  # float precision, not more
    assert np.max(np.abs(got - native)) > 0  # (the document really computes in floats)
    assert list(scored["churn"]) == list(pipeline.predict(holdout[FEATURES]))
    # PMML4S differs by far more than float precision: recorded, and never the fallback
    assert not parity["backends"]["pypmml"]["passed"]
    assert max(parity["backends"]["pypmml"]["max_abs_difference"].values()) > 0.01


def test_lightgbm_round_trips_exactly(boosted, holdout):
    _, models = boosted
    pipeline, ref = models["lgbm"]
    model = pmmlkit.load(ref.ref)
    native = pipeline.predict_proba(holdout[FEATURES])[:, 1]
    got = model.score_batch(holdout[FEATURES])["probability(1)"].to_numpy()
    assert np.max(np.abs(got - native)) < 1e-12


def test_both_are_served_with_their_native_numbers(boosted, holdout):
    repo, models = boosted
    records = _jsonable(holdout[FEATURES].iloc[:40])
    with serving(ServerConfig(repo=str(repo), poll=0)) as base:
        for name, tolerance in (("xgb", 1e-6), ("lgbm", 1e-12)):
            pipeline, _ = models[name]
            r = httpx.post(f"{base}/v1/models/{name}:predict", json={"instances": records},
                           timeout=60)
            assert r.status_code == 200, r.text
            got = np.array([p["probability(1)"] for p in r.json()["predictions"]])
            native = pipeline.predict_proba(holdout[FEATURES].iloc[:40])[:, 1]
            assert np.max(np.abs(got - native)) < tolerance, name


def test_a_document_with_unmeetable_records_says_so_and_how_to_proceed(boosted, dataset,
                                                                        tmp_path):
    """sklearn2pmml's own default (precision 1e-13) on a float document: no evaluator can
    meet it, and loading says exactly that."""
    from sklearn2pmml import sklearn2pmml

    pipeline, _ = boosted[1]["xgb"]
    pipeline.verify(dataset[FEATURES].iloc[:20])  # sklearn2pmml's default precision
    path = tmp_path / "xgb.pmml"
    sklearn2pmml(pipeline, str(path))
    with pytest.raises(pmmlkit.VerificationError) as info:
        pmmlkit.load(path)
    message = str(info.value)
    assert "relative precision of 1e-13" in message and "32-bit floats" in message
    assert "Re-export" in message and "verify=False" in message
    model = pmmlkit.load(path, verify=False)
    assert model.score_batch(dataset[FEATURES].iloc[:5])["error"].isna().all()


def test_lightgbm_trained_without_missing_values_is_refused_with_the_cases(dataset, tmp_path):
    """LightGBM fitted on complete data sends a missing number down the zero side (its
    ``missing_type`` is None); the PMML JPMML-LightGBM writes for it decides otherwise. The
    sample has no missing value, so only the export's probes can see it: the export is
    refused and names each input whose missing value the two score differently."""
    from lightgbm import LGBMClassifier

    pipeline = _pipeline(LGBMClassifier(n_estimators=10, random_state=0, verbose=-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(dataset[FEATURES], dataset["churn"])
    sample = dataset[FEATURES].iloc[:300]
    # the oracle: LightGBM itself, on a row with x0 missing, against the same row through JPMML
    probe = sample.iloc[:1].copy()
    probe[NUMERIC[0]] = np.nan
    native = pipeline.predict_proba(probe)[0, 1]
    with pytest.raises(pmmlkit.ParityError) as info:
        pmmlkit.export_sklearn(pipeline, sample, dataset["churn"].iloc[:300],
                               repo=str(tmp_path / "models"), name="lgbm")
    message = str(info.value)
    assert "on rows the sample lacks" in message and f"{NUMERIC[0]} missing" in message
    assert "nothing was published" in message
    assert not (tmp_path / "models" / "lgbm").exists()
    from sklearn2pmml import sklearn2pmml

    path = tmp_path / "lgbm.pmml"
    sklearn2pmml(pipeline, str(path))
    pmml = pmmlkit.load(path, verify=False).score_batch(probe)["probability(1)"].iloc[0]
    assert abs(pmml - native) > 1e-3  # the difference the probe reported is real


def test_the_plan_computes_rows_missing_numbers_as_the_evaluator_does(boosted, holdout):
    """XGBoost and LightGBM learnt where a missing number goes; the columnar plan computes
    such rows itself (no deferral to the evaluator), bit for bit the raw evaluator's, and
    the native model's numbers."""
    from tests.test_plan import _check_against_raw, _computed_by_plan

    repo, models = boosted
    rows = _with_missing(holdout[FEATURES], share=0.2).reset_index(drop=True)
    missing = rows[rows[NUMERIC].isna().any(axis=1)].reset_index(drop=True)
    for name, (pipeline, ref) in models.items():
        model = pmmlkit.load(ref.ref)
        for _ in range(3):  # the plan's gate
            model.score_batch(rows)
        assert model.plan.startswith("serving:") and "walked level by level" in model.plan
        xml = pmmlkit.Repository(str(repo)).read_pmml(ref).decode()
        assert _check_against_raw(model, xml, rows) == len(rows)
        assert _computed_by_plan(model, missing) == len(missing) > 100, name
        got = model.score_batch(rows)["probability(1)"].to_numpy()
        native = pipeline.predict_proba(rows)[:, 1]
        assert np.max(np.abs(got - native)) < (1e-6 if name == "xgb" else 1e-12), name

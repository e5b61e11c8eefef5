"""export_sklearn: sklearn2pmml conversion, the parity gate, manifests, and `pmmlkit export`."""

from __future__ import annotations

import json
import warnings
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.cli._common import run
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC
from tests.conftest import DATA, jdk

runner = CliRunner()


def _pre(kind: str = "onehot") -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

    if kind == "ordinal":
        return ColumnTransformer([("num", "passthrough", NUMERIC),
                                  ("cat", OrdinalEncoder(), CATEGORICAL)])
    if kind == "impute":
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")),
                            ("scale", MinMaxScaler())])
        return ColumnTransformer([("num", numeric, NUMERIC),
                                  ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return ColumnTransformer([("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(),
                                                                    CATEGORICAL)])


def _cases() -> dict[str, tuple[Any, str]]:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeRegressor

    def pipe(step: Any, kind: str = "onehot") -> Any:
        return Pipeline([("pre", _pre(kind)), ("model", step)])

    return {
        "logreg": (pipe(LogisticRegression(max_iter=500)), "churn"),
        "ridge-imputed": (pipe(Ridge(alpha=0.5), "impute"), "spend"),
        "tree-regressor": (pipe(DecisionTreeRegressor(max_depth=6, random_state=0)), "spend"),
        "forest": (pipe(RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0)),
                   "churn"),
        "gbm-regressor": (pipe(GradientBoostingRegressor(n_estimators=20, random_state=0)),
                          "spend"),
        "histgb": (pipe(HistGradientBoostingClassifier(max_iter=20, random_state=0), "ordinal"),
                   "churn"),
        "mlp": (pipe(MLPClassifier(hidden_layer_sizes=(6,), max_iter=300, random_state=0)),
                "churn"),
        "naive-bayes": (pipe(GaussianNB(), "ordinal"), "churn"),
        "knn": (pipe(KNeighborsClassifier(n_neighbors=5)), "churn"),
        "kmeans": (pipe(KMeans(n_clusters=3, n_init=2, random_state=0)), ""),
    }


CASES = list(_cases())


def _fit(model: Any, frame: pd.DataFrame, target: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(frame[FEATURES], frame[target]) if target else model.fit(frame[FEATURES])


@pytest.mark.parametrize("case", CASES)
def test_export_publishes_a_pmml_that_reproduces_scikit_learn(tmp_path, dataset, holdout, case):
    model, target = _cases()[case]
    # k-NN's evaluation is a distance to every training row, in the native model and both
    # evaluators: 600 rows keep its export quick
    _fit(model, dataset.iloc[:600] if case == "knn" else dataset, target)
    sample = holdout.iloc[:300]
    if case == "ridge-imputed":
        sample = sample.copy()
        sample.loc[sample.index[::7], "x0"] = np.nan  # imputed inside the PMML too
    ref = pmmlkit.export_sklearn(model, sample[FEATURES], sample[target] if target else None,
                                 repo=str(tmp_path), name=case, verification_rows=20)
    assert (ref.name, ref.version) == (case, 1)
    manifest = ref.manifest
    assert manifest["source"]["framework"] == "scikit-learn"
    assert manifest["source"]["version"] == "1.9.0"
    assert manifest["converter"]["library"] == "sklearn2pmml"
    assert manifest["parity"]["passed"] and manifest["parity"]["rows"] == 300
    assert manifest["parity"]["backends"]["jpmml"]["passed"]
    assert set(manifest["parity"]["backends"]) == {"jpmml", "pypmml"}
    assert manifest["schema"]["inputs"] and manifest["pmmlkit_version"] == pmmlkit.__version__
    # independent check on rows the export never saw
    if case == "histgb" and jdk():
        # compiled: from the document as JPMML's post-parse visitors left it, a method
        # exceeded the JVM's 64 KB limit; pmmlkit now compiles the document as parsed (see
        # jpmml.prepared_pmml). Swapped in only once it reproduced the interpreter, then
        # checked against scikit-learn below
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning
            loaded = pmmlkit.load(f"{tmp_path}/{case}", transpile=True)
            loaded.score_batch(holdout.iloc[300:400][FEATURES])
        assert loaded.evaluator.endswith("(transpiled)")
    else:
        loaded = pmmlkit.load(f"{tmp_path}/{case}")
    records = loaded.schema.verification.rows if loaded.schema.verification else []
    # sklearn2pmml embeds verification records for supervised models only
    assert len(records) == (20 if target else 0)
    assert manifest["converter"]["verification_rows"] == len(records)
    fresh = holdout.iloc[300:]
    scored = loaded.score_batch(fresh[FEATURES])
    assert scored["error"].isna().all()
    column = loaded.schema.column_names[0]
    if target == "churn" and "probability(1)" not in scored:  # k-NN: votes, not probabilities
        assert list(scored[column]) == list(model.predict(fresh[FEATURES]))
    elif target == "churn":
        native = model.predict_proba(fresh[FEATURES])[:, 1]
        assert np.max(np.abs(scored["probability(1)"].to_numpy() - native)) < 1e-9
    elif target:
        assert np.max(np.abs(scored[column].to_numpy() - model.predict(fresh[FEATURES]))) < 1e-9
    else:
        assert list(scored[column].astype(int)) == list(model.predict(fresh[FEATURES]))


def test_bare_estimator_and_pmml_pipeline(tmp_path, dataset):
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml.pipeline import PMMLPipeline

    bare = LogisticRegression().fit(dataset[NUMERIC], dataset["churn"])
    ref = pmmlkit.export_sklearn(bare, dataset[NUMERIC].iloc[:100], dataset["churn"].iloc[:100],
                                 repo=str(tmp_path), name="bare")
    assert ref.manifest["schema"]["columns"][0]["name"] == "churn"
    wrapped = PMMLPipeline([("model", LogisticRegression())]).fit(dataset[NUMERIC],
                                                                  dataset["churn"])
    ref = pmmlkit.export_sklearn(wrapped, dataset[NUMERIC].iloc[:100], repo=str(tmp_path),
                                 name="bare")
    assert ref.version == 2


def test_exports_in_threads_never_touch_process_wide_state(tmp_path, dataset, holdout):
    """Concurrent exports: each publishes its own version, parity-checked against its own
    model, while sys.stdout and sys.stderr stay the main thread's and the warning filters are
    left as they were. (The filters are compared after, not watched: pandas 3 and
    scikit-learn enter ``warnings.catch_warnings`` inside ordinary calls such as
    ``frame[columns]`` and ``predict``, briefly, from whatever thread calls them — a
    process-wide swap no caller can prevent before Python 3.14's context-aware warnings.
    pmmlkit's converter has no such block of its own.)"""
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.linear_model import LogisticRegression

    models = [LogisticRegression(C=c).fit(dataset[NUMERIC], dataset["churn"])
              for c in (0.1, 1.0, 10.0)]
    stdout, stderr, filters = sys.stdout, sys.stderr, list(warnings.filters)
    swapped: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if sys.stdout is not stdout or sys.stderr is not stderr:
                swapped.append("stream")
            done.wait(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        X, y = dataset[NUMERIC].iloc[:200], dataset["churn"].iloc[:200]
        with ThreadPoolExecutor(3) as pool:
            refs = list(pool.map(lambda m: pmmlkit.export_sklearn(
                m, X, y, repo=str(tmp_path), name="threads"), models))
    finally:
        done.set()
        watcher.join()
    assert swapped == []
    assert warnings.filters == filters
    assert sorted(r.version for r in refs) == [1, 2, 3]
    rows = holdout[NUMERIC].iloc[:100]
    for model, ref in zip(models, refs, strict=True):
        got = pmmlkit.load(ref.ref).score_batch(rows)["probability(1)"]
        assert np.max(np.abs(got - model.predict_proba(rows)[:, 1])) <= 1e-9


def test_unsupported_step_names_the_class(tmp_path, dataset):
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    model = Pipeline([("kernel", Nystroem(n_components=5, random_state=0)),
                      ("model", LogisticRegression())]).fit(dataset[NUMERIC], dataset["churn"])
    with pytest.raises(pmmlkit.ConversionError) as info:
        pmmlkit.export_sklearn(model, dataset[NUMERIC].iloc[:50], repo=str(tmp_path), name="k")
    message = str(info.value)
    assert "sklearn.kernel_approximation.Nystroem" in message
    assert "tested and supported" in message and "HistGradientBoostingClassifier" in message
    assert not (tmp_path / "k").exists()


def test_boolean_column_with_missing_values_is_named_with_the_fix(tmp_path, dataset):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X = dataset[NUMERIC].iloc[:200].copy()
    X["member"] = pd.Series([True, False, np.nan] * 66 + [True, False], dtype=object,
                            index=X.index)
    y = dataset["churn"].iloc[:200]
    model = Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                      ("model", LogisticRegression(max_iter=300))]).fit(X, y)
    with pytest.raises(pmmlkit.ConversionError, match=r"column 'member' holds booleans and "
                                                      r"missing values.*map\(\{True: 1.0"):
        pmmlkit.export_sklearn(model, X, y, repo=str(tmp_path), name="b")
    assert not (tmp_path / "b").exists()


def test_object_that_is_not_an_estimator_is_refused_naming_its_class(tmp_path, dataset):
    class Homemade:
        def fit(self, X, y):
            return self

        def predict(self, X):
            return X.iloc[:, 0] > 0

    with pytest.raises(pmmlkit.ConversionError, match=r"Homemade is not a scikit-learn "
                                                      r"estimator.*export_pmml"):
        pmmlkit.export_sklearn(Homemade(), dataset[NUMERIC].iloc[:20], dataset["churn"].iloc[:20],
                               repo=str(tmp_path), name="h")


def test_parity_gate_refuses_a_pmml_that_drops_nan_routing(tmp_path, dataset):
    """scikit-learn trees route NaN natively; sklearn2pmml 0.133 encodes nullPrediction."""
    from sklearn.tree import DecisionTreeClassifier

    frame = dataset.copy()
    frame.loc[frame.index[::5], "x0"] = np.nan
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(frame[NUMERIC],
                                                                    frame["churn"])
    with pytest.raises(pmmlkit.ParityError) as info:
        pmmlkit.export_sklearn(model, frame[NUMERIC].iloc[:200], frame["churn"].iloc[:200],
                               repo=str(tmp_path), name="nan-tree")
    assert "nothing was published" in str(info.value) and "row " in str(info.value)
    # 40 rows have x0 missing; those whose path never tests x0 are scored by the evaluator
    assert 0 < info.value.report["backends"]["jpmml"]["rows_with_errors"] <= 40
    assert not pmmlkit.Repository(str(tmp_path)).names()


def test_tolerance_is_enforced(tmp_path, dataset):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(dataset[NUMERIC], dataset["spend"])
    ref = pmmlkit.export_sklearn(model, dataset[NUMERIC].iloc[:300], dataset["spend"].iloc[:300],
                                 repo=str(tmp_path), name="lin")
    worst = ref.manifest["parity"]["backends"]["jpmml"]["max_abs_difference"]["spend"]
    assert 0 < worst < 1e-9  # float rounding, far inside the default 1e-6
    with pytest.raises(pmmlkit.ParityError, match="tolerance 0"):
        pmmlkit.export_sklearn(model, dataset[NUMERIC].iloc[:300], dataset["spend"].iloc[:300],
                               repo=str(tmp_path), name="lin", tolerance=0.0)
    assert pmmlkit.Repository(str(tmp_path)).versions("lin") == [1]


def test_unknown_scikit_learn_version_is_refused():
    from pmmlkit.converter import sklearn_version_problem

    assert sklearn_version_problem("1.9.0", "0.133.1") is None
    assert "scikit-learn 1.9.1 is newer than sklearn2pmml 0.133.1 supports (up to 1.9.0)" in \
        sklearn_version_problem("1.9.1", "0.133.1")


def test_differing_backend_is_recorded_and_warned_about(tmp_path):
    """PMML4S routes a missing value against the spec; the default backend passes."""
    pmml = (DATA / "tree_missing.pmml").read_bytes()
    features = pd.DataFrame({"temperature": [30.0, None, 10.0], "outlook": ["sunny", None, "rain"]})
    expected = pd.DataFrame({"play": ["no", "no", "yes"]})
    ref = pmmlkit.export_pmml(pmml, features, expected, repo=str(tmp_path), name="weather")
    backends = ref.manifest["parity"]["backends"]
    assert backends["jpmml"]["passed"] and not backends["pypmml"]["passed"]
    assert backends["pypmml"]["label_mismatches"] == {"play": 1}
    with pytest.warns(UserWarning, match="backend 'pypmml' differed"):
        pmmlkit.load(f"{tmp_path}/weather", backend="pypmml", verify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pmmlkit.load(f"{tmp_path}/weather")
    listed = runner.invoke(app, ["list", str(tmp_path), "--json"])
    assert json.loads(listed.stdout)[0]["backends"] == {"jpmml": "pass", "pypmml": "differs"}


def test_cli_export_sklearn_and_list(tmp_path, dataset):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    model = Pipeline([("pre", _pre()), ("model", LogisticRegression(max_iter=500))])
    _fit(model, dataset, "churn")
    model_file = tmp_path / "model.joblib"
    joblib.dump(model, model_file)
    sample = tmp_path / "sample.csv"
    dataset.iloc[:200].to_csv(sample, index=False)  # extra columns: spend (ignored)
    repo = tmp_path / "repo"
    result = runner.invoke(app, ["export", "sklearn", str(model_file), "--sample", str(sample),
                                 "--repo", str(repo), "--name", "churn", "--target", "churn"])
    assert result.exit_code == 0, result.output
    assert "published churn version 1" in result.stdout and "parity jpmml: pass" in result.stdout
    listed = runner.invoke(app, ["list", str(repo)])
    assert "churn" in listed.stdout and "scikit-learn" in listed.stdout
    helptext = runner.invoke(app, ["export", "sklearn", "--help"])
    assert "trust" in helptext.stdout


def test_what_a_new_user_gets_wrong_is_named_with_the_fix(tmp_path, dataset, capsys):
    """An unfitted Pipeline, a CSV given as the model file, a model fitted on arrays with its
    label in the sample, a forgotten --target, a NaN category into a forest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    repo = str(tmp_path / "repo")
    unfitted = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    with pytest.raises(pmmlkit.ConversionError, match=r"the Pipeline is not fitted: call \.fit"):
        pmmlkit.export_sklearn(unfitted, dataset[NUMERIC], dataset["churn"], repo=repo, name="u")
    csv = tmp_path / "data.csv"
    dataset[[*NUMERIC, "churn"]].iloc[:200].to_csv(csv, index=False)
    export = ["export", "sklearn"]
    assert run(app, [*export, str(csv), "--sample", str(csv), "--repo", repo, "--name", "c",
                     "--target", "churn"]) == 6
    assert "not a joblib or pickle file" in capsys.readouterr().err
    arrays = LogisticRegression().fit(dataset[NUMERIC].to_numpy(), dataset["churn"].to_numpy())
    joblib.dump(arrays, tmp_path / "arrays.joblib")
    assert run(app, [*export, str(tmp_path / "arrays.joblib"), "--sample", str(csv),
                     "--repo", repo, "--name", "a"]) == 9
    err = capsys.readouterr().err
    assert "8 unnamed features" in err and "--target" in err
    named = LogisticRegression().fit(dataset[NUMERIC], dataset["churn"])
    joblib.dump(named, tmp_path / "named.joblib")
    assert run(app, [*export, str(tmp_path / "named.joblib"), "--sample", str(csv),
                     "--repo", repo, "--name", "n"]) == 9
    err = capsys.readouterr().err
    assert "'churn' is not one of the model's features" in err and "--target churn" in err
    assert run(app, [*export, str(tmp_path / "named.joblib"), "--sample", str(csv),
                     "--repo", repo, "--name", "n", "--target", "churn"]) == 0
    assert pmmlkit.load(f"{repo}/n").schema.targets[0].name == "churn"
    frame = dataset.copy()
    frame.loc[frame.index[::7], "region"] = np.nan
    forest = Pipeline([("pre", ColumnTransformer([
        ("num", "passthrough", NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])])),
        ("model", RandomForestClassifier(n_estimators=3, random_state=0))])
    forest.fit(frame[[*NUMERIC, "region"]], frame["churn"])
    with pytest.raises(pmmlkit.ConversionError) as info:
        pmmlkit.export_sklearn(forest, frame[[*NUMERIC, "region"]].iloc[:100],
                               frame["churn"].iloc[:100], repo=repo, name="rf")
    message = str(info.value)
    assert "RandomForestClassifier" in message and "Element Node is not supported" in message
    assert "impute" in message
    assert pmmlkit.Repository(repo).names() == ["n"]


def _frame_with_rare_region(n: int = 500) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, n),
                          "region": rng.choice(["n", "s", "e", "w", "x"], n,
                                               p=[0.4, 0.3, 0.2, 0.07, 0.03]),
                          "is_active": rng.random(n) > 0.5})
    y = ((frame["age"] > 40) ^ (frame["region"] == "n")).astype(int).rename("churned")
    return frame, y


def test_probes_refuse_a_pmml_that_gives_another_number_where_the_sample_has_no_case(tmp_path):
    """OneHotEncoder(handle_unknown='infrequent_if_exist') maps a missing category to its
    infrequent column; the PMML does not. The sample holds no missing region, so only the
    probes see it: nothing is published."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = _frame_with_rare_region()
    model = Pipeline([("pre", ColumnTransformer([
        ("num", "passthrough", ["age"]),
        ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=30),
         ["region"])])), ("model", LogisticRegression())]).fit(frame[["age", "region"]], y)
    with pytest.raises(pmmlkit.ParityError) as info:
        pmmlkit.export_sklearn(model, frame[["age", "region"]], y, repo=str(tmp_path), name="m")
    assert "on rows the sample lacks" in str(info.value) and "region missing" in str(info.value)
    probes = info.value.report["probes"]
    differ = [p for p in probes if p["outcome"] == "differ"]
    # the oracle: scikit-learn's own prediction for that row
    row = frame[["age", "region"]].iloc[[0]].astype({"region": object})
    row.loc[0, "region"] = None
    assert differ[0]["native"]["probability(1)"] == pytest.approx(
        model.predict_proba(row)[0, 1], abs=1e-12)
    assert not pmmlkit.Repository(str(tmp_path)).names()
    ref = pmmlkit.export_sklearn(model, frame[["age", "region"]], y, repo=str(tmp_path),
                                 name="m", probe=False)  # the opt-out
    assert "probes" not in ref.manifest["parity"]


def test_probes_report_what_the_pmml_refuses_or_scores_that_the_native_model_does_not(
        tmp_path, capsys):
    """The issue's case: OneHotEncoder(handle_unknown='ignore') over region and is_active,
    a sample without missing values: scikit-learn scores a missing category (all zeros), and
    so does the PMML now (the evaluator decides). A tree scores a missing number natively
    (scikit-learn routes NaN), where its PMML gives no prediction: reported, and printed."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    frame, y = _frame_with_rare_region()
    for estimator in (LogisticRegression(), DecisionTreeClassifier(max_depth=3, random_state=0)):
        model = Pipeline([("pre", ColumnTransformer([
            ("num", StandardScaler(), ["age"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region", "is_active"])])),
            ("model", estimator)]).fit(frame, y)
        joblib.dump(model, tmp_path / "model.joblib")
        frame.assign(churned=y).to_csv(tmp_path / "sample.csv", index=False)
        assert run(app, ["export", "sklearn", str(tmp_path / "model.joblib"), "--sample",
                         str(tmp_path / "sample.csv"), "--target", "churned", "--repo",
                         str(tmp_path / "repo"), "--name", type(estimator).__name__]) == 0
        out = capsys.readouterr().out
        ref = pmmlkit.Repository(str(tmp_path / "repo")).latest(type(estimator).__name__)
        probes = {(p["column"], p["case"]): p for p in ref.manifest["parity"]["probes"]}
        assert {p["outcome"] for p in probes.values()} <= {"agree", "pmml refuses"}
        if isinstance(estimator, DecisionTreeClassifier):
            assert probes[("age", "missing")]["outcome"] == "pmml refuses"
            assert "the PMML refuses what the native model scores: age missing" in out
        else:
            assert probes[("age", "missing")]["outcome"] == "agree"  # both refuse NaN
            for column in ("region", "is_active"):  # both score it, with the same numbers
                assert probes[(column, "missing")]["outcome"] == "agree"
                assert isinstance(probes[(column, "missing")]["pmml"], dict)

"""Both backends against the native scikit-learn predictions, and against each other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.datasets import FEATURES

MODELS = ["logreg", "tree", "forest", "gbm", "linreg", "mlp", "kmeans"]
BACKENDS = ["jpmml", "pypmml"]
EXACT = 1e-9


def _max_diff(scored: pd.DataFrame, native: dict[str, np.ndarray]) -> dict[str, float]:
    diffs = {}
    for column, expected in native.items():
        got = scored[column].to_numpy()
        if (np.asarray(expected).dtype.kind in "fc" and column.startswith("probability")) or \
                column == "spend":
            diffs[column] = float(np.max(np.abs(got.astype(float) - expected)))
        else:
            diffs[column] = float(np.mean(got.astype(str) != np.asarray(expected).astype(str)))
    return diffs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [m for m in MODELS if m != "kmeans"])
def test_backend_reproduces_scikit_learn(exported, holdout, name, backend):
    """Both evaluators, fed through pmmlkit's in-JVM bridge (no JSON rounding), are exact."""
    item = exported[name]
    model = pmmlkit.load(item.path, backend=backend)
    scored = model.score_batch(holdout[FEATURES])
    assert scored["error"].isna().all()
    diffs = _max_diff(scored, item.native(holdout[FEATURES]))
    assert all(d <= EXACT for d in diffs.values()), diffs
    assert model.verify().passed


def test_kmeans_clusters_match_scikit_learn(exported, holdout):
    item = exported["kmeans"]
    native = item.estimator.predict(holdout[FEATURES])
    for backend in BACKENDS:
        scored = pmmlkit.load(item.path, backend=backend).score_batch(holdout[FEATURES])
        assert list(scored["prediction"].astype(int)) == list(native), backend


@pytest.mark.parametrize("name", MODELS)
def test_backends_share_the_output_contract(exported, holdout, name):
    item = exported[name]
    rows = holdout[FEATURES].iloc[:200]
    a = pmmlkit.load(item.path, backend="jpmml").score_batch(rows)
    b = pmmlkit.load(item.path, backend="pypmml", verify=False).score_batch(rows)
    assert list(a.columns) == list(b.columns)
    assert a.dtypes.to_dict() == b.dtypes.to_dict()
    for column in a.columns:
        if a[column].dtype.kind == "f":
            assert np.max(np.abs(a[column] - b[column])) <= EXACT, column
        else:
            assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    assert a.columns[0] == (item.target or "prediction")
    if item.classes is not None:
        for cls in item.classes:
            assert f"probability({cls})" in a.columns


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_score_matches_score_batch(exported, holdout, name, backend):
    model = pmmlkit.load(exported[name].path, backend=backend, verify=False)
    rows = holdout[FEATURES].iloc[:20]
    batch = model.score_batch(rows).drop(columns="error")
    for i, record in enumerate(rows.to_dict("records")):
        single = model.score(record)
        assert list(single) == list(batch.columns)
        for key, value in single.items():
            expected = batch[key].iloc[i]
            if isinstance(value, float):
                assert value == pytest.approx(float(expected), abs=1e-12)
            else:
                assert str(value) == str(expected)

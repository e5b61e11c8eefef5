"""The benchmark models of the scorer issue, trained once and cached under benchmarks/.cache."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn

CACHE = Path(__file__).parent / ".cache"


def _estimators() -> dict:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logreg": LogisticRegression(max_iter=1000),
        "gbm": GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0,
                                         n_jobs=2),
        "tree": DecisionTreeClassifier(max_depth=5, random_state=0),
        "histgb": HistGradientBoostingClassifier(max_iter=30, random_state=0),
    }


def benchmark_models() -> dict[str, Path]:
    """Export (once) the three benchmark pipelines; return their PMML paths."""
    from sklearn2pmml import sklearn2pmml

    CACHE.mkdir(exist_ok=True)
    paths = {}
    train = None
    for name, estimator in _estimators().items():
        path = CACHE / f"{name}.pmml"
        paths[name] = path
        if path.exists():
            continue
        if train is None:
            train = make_churn(20_000, seed=10)
        pipeline = fitted_pipeline(estimator, train)
        pipeline.verify(train[FEATURES].iloc[:50])
        sklearn2pmml(pipeline, str(path))
    return paths


def fitted_pipeline(estimator: Any, train: Any) -> Any:
    """The benchmarks' PMMLPipeline (StandardScaler on the numeric columns, OneHotEncoder on
    the categorical ones, then ``estimator``), fitted on ``train``'s churn."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn2pmml.pipeline import PMMLPipeline

    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(), CATEGORICAL)])
    pipeline = PMMLPipeline([("pre", pre), ("model", estimator)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(train[FEATURES], train["churn"])
    return pipeline


def best_of(fn: Any, repeat: int = 2) -> float:
    """The fastest of ``repeat`` timed calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best

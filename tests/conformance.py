"""A catalog of the pipelines users write, across sklearn2pmml's feature list.

Each :class:`Case` builds an unfitted pipeline over :func:`frame`'s columns: numbers with and
without missing values, a string category with missing values, a pandas bool, dates, short
texts. ``tests/test_conformance_pipelines.py`` fits each on small data, converts it with
sklearn2pmml, writes the data to CSV the way pandas and R write it, scores the file with
``pmmlkit score`` and compares with the native predictions; ``benchmarks/conformance_table.py``
writes ``docs/conformance.md`` from the same catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = ["num_a", "num_b"]


@dataclass(frozen=True)
class Case:
    """One pipeline: its name, how to build it, what it reads and predicts."""

    name: str
    build: Callable[[], Any]
    features: list[str]
    #: the label column(s); none for clustering and outlier detection
    target: list[str] = field(default_factory=lambda: ["y"])
    kind: str = "classifier"  # classifier, regressor, clusterer, outlier
    #: the rows given: every row, or only those without missing values in ``features``
    missing: bool = False
    #: the native library computes in 32-bit floats (XGBoost): float tolerance
    float32: bool = False
    #: what the case shows, for the docs table
    about: str = ""
    #: the oracle: the native model, or (when it cannot predict: sklearn2pmml's CHAID has no
    #: predict) raw JPMML-Evaluator on the same cells
    oracle: str = "native"
    #: the PMML gives class probabilities (a nearest-neighbour model votes: no probabilities)
    probabilities: bool = True


def frame(n: int, seed: int) -> pd.DataFrame:
    """The data every case draws its columns and labels from."""
    rng = np.random.default_rng(seed)
    num_a = rng.normal(0, 1, n)
    num_b = rng.normal(2, 3, n)
    num_c = rng.normal(0, 1, n)
    num_c[rng.random(n) < 0.1] = np.nan
    cat = rng.choice(["red", "green", "blue"], n)
    cat_na = pd.Series(rng.choice(["north", "south", "east", "west"], n))
    cat_na[rng.random(n) < 0.1] = np.nan
    flag = rng.random(n) < 0.4
    when = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    words = np.array(["good", "bad", "fast", "slow", "cheap", "great", "poor", "late"])
    text = [" ".join(rng.choice(words, rng.integers(1, 5))) for _ in range(n)]
    score = (1.2 * num_a - 0.4 * num_b + np.nan_to_num(num_c) + 1.5 * flag
             + (cat == "red") - 0.8 * (cat_na == "east").to_numpy()
             + np.array(["good" in t or "great" in t for t in text]) * 1.1
             + (when.year.to_numpy() - 2021) * 0.3 + rng.normal(0, 0.7, n))
    return pd.DataFrame({
        "num_a": num_a, "num_b": num_b, "num_c": num_c, "cat": cat, "cat_na": cat_na,
        "flag": flag, "when": when, "text": text,
        "y": (score > np.median(score)).astype(int),
        "y2": (num_b + rng.normal(0, 1, n) > 2).astype(int),
        "y_multi": np.select([score < -0.5, score < 1.0], ["low", "mid"], "high"),
        "y_reg": score * 10 + 50,
        "y_reg2": num_a * 3 - num_b,
    })


def lossy() -> Case:
    """A pipeline sklearn2pmml 0.133 converts without the native model's treatment of a
    missing category (its MapValues row for a missing key is no key to JPMML: no
    prediction, where category_encoders' TargetEncoder uses its prior)."""
    from category_encoders import TargetEncoder
    from sklearn.linear_model import LogisticRegression

    return Case("category_encoders_target_missing", lambda: _pmml(
        ("pre", _columns(("num", "passthrough", NUMERIC), ("cat", TargetEncoder(), ["cat_na"]))),
        ("m", LogisticRegression())), ["num_a", "num_b", "cat_na"], missing=True)


def unsupported() -> Case:
    """A pipeline sklearn2pmml 0.133 cannot convert (category_encoders 2.11's BinaryEncoder
    gives it one column more than it expects)."""
    from category_encoders import BinaryEncoder
    from sklearn.linear_model import LogisticRegression

    return Case("category_encoders_binary", lambda: _pmml(
        ("pre", _columns(("num", "passthrough", NUMERIC), ("cat", BinaryEncoder(), ["cat"]))),
        ("m", LogisticRegression())), ["num_a", "num_b", "cat"])


def _pmml(*steps: tuple[str, Any]) -> Any:
    from sklearn2pmml.pipeline import PMMLPipeline

    return PMMLPipeline(list(steps))


def _columns(*parts: tuple[str, Any, list[str]]) -> Any:
    from sklearn.compose import ColumnTransformer

    return ColumnTransformer(list(parts))


def _scaled_onehot(cats: list[str], *, unknown: str = "error") -> Any:
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return _columns(("num", StandardScaler(), NUMERIC),
                    ("cat", OneHotEncoder(handle_unknown=unknown), cats))


def cases() -> list[Case]:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
        StackingClassifier,
        VotingClassifier,
    )
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.multioutput import ClassifierChain, MultiOutputRegressor, RegressorChain
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, OrdinalEncoder
    from sklearn.preprocessing import TargetEncoder as SkTargetEncoder
    from sklearn.tree import DecisionTreeClassifier
    from sklearn2pmml.feature_extraction.text import Splitter

    out = [
        Case("logistic_bool_onehot", lambda: _pmml(
            ("pre", _scaled_onehot(["cat", "flag"])), ("m", LogisticRegression())),
            ["num_a", "num_b", "cat", "flag"], about="a pandas bool column one-hot encoded"),
        Case("logistic_unknown_ignored_missing", lambda: _pmml(
            ("pre", _columns(("num", make_pipeline(SimpleImputer(), "passthrough"), ["num_c"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["cat_na"]))),
            ("m", LogisticRegression())),
            ["num_c", "cat_na"], missing=True,
            about="imputed numbers, a category with missing values (handle_unknown='ignore')"),
        Case("histgb_missing", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", ["num_a", "num_c"]),
                             ("cat", OrdinalEncoder(), ["cat"]))),
            ("m", HistGradientBoostingClassifier(max_iter=20, random_state=0))),
            ["num_a", "num_c", "cat"], missing=True,
            about="HistGradientBoosting with missing numbers"),
        Case("forest_ordinal", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", NUMERIC), ("cat", OrdinalEncoder(), ["cat"]))),
            ("m", RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0))),
            ["num_a", "num_b", "cat"]),
        Case("tree_multiclass", lambda: _pmml(
            ("pre", _scaled_onehot(["cat"])),
            ("m", DecisionTreeClassifier(max_depth=4, random_state=0))),
            ["num_a", "num_b", "cat"], target=["y_multi"], about="string classes"),
        Case("multi_output_regressor", lambda: _pmml(
            ("m", MultiOutputRegressor(LinearRegression()))),
            NUMERIC, target=["y_reg", "y_reg2"], kind="regressor", about="two targets"),
        Case("regressor_chain", lambda: _pmml(("m", RegressorChain(Ridge()))),
             NUMERIC, target=["y_reg", "y_reg2"], kind="regressor", about="two targets"),
        Case("classifier_chain", lambda: _pmml(
            ("m", ClassifierChain(LogisticRegression()))),
            NUMERIC, target=["y", "y2"], about="two targets, with probabilities"),
        Case("stacking", lambda: _pmml(
            ("pre", _scaled_onehot(["cat"])),
            ("m", StackingClassifier([("lr", LogisticRegression()),
                                      ("nb", GaussianNB())], LogisticRegression()))),
            ["num_a", "num_b", "cat"]),
        Case("voting_soft", lambda: _pmml(
            ("pre", _scaled_onehot(["cat"])),
            ("m", VotingClassifier([("lr", LogisticRegression()),
                                    ("tree", DecisionTreeClassifier(max_depth=3))],
                                   voting="soft"))),
            ["num_a", "num_b", "cat"], float32=True,
            about="the document scales in float32 for the tree, and its logistic regression "
                  "reads those floats"),
        Case("count_vectorizer_text", lambda: _pmml(
            ("pre", _columns(("text", CountVectorizer(tokenizer=Splitter(), lowercase=False,
                                                      token_pattern=None), "text"))),
            ("m", LogisticRegression())), ["text"], about="text (CountVectorizer)"),
        Case("tfidf_text", lambda: _pmml(
            ("pre", _columns(("text", TfidfVectorizer(tokenizer=Splitter(), lowercase=False,
                                                      token_pattern=None, norm=None), "text"))),
            ("m", LogisticRegression())), ["text"], about="text (TfidfVectorizer)"),
        Case("kbins", lambda: _pmml(
            ("pre", _columns(("num", KBinsDiscretizer(n_bins=4, encode="onehot-dense",
                                                      strategy="quantile"), NUMERIC))),
            ("m", LogisticRegression())), NUMERIC),
        Case("target_encoder", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", NUMERIC),
                             ("cat", SkTargetEncoder(random_state=0), ["cat"]))),
            ("m", LogisticRegression())), ["num_a", "num_b", "cat"],
            about="scikit-learn's TargetEncoder"),
        Case("knn", lambda: _pmml(("pre", _scaled_onehot(["cat"])),
                                  ("m", KNeighborsClassifier(n_neighbors=5))),
             ["num_a", "num_b", "cat"], probabilities=False, about="votes, no probabilities"),
        Case("kmeans", lambda: _pmml(("m", KMeans(n_clusters=3, n_init=3, random_state=0))),
             NUMERIC, target=[], kind="clusterer"),
        Case("isolation_forest", lambda: _pmml(
            ("m", IsolationForest(n_estimators=20, random_state=0))),
            NUMERIC, target=[], kind="outlier"),
        Case("mlp", lambda: _pmml(("pre", _scaled_onehot(["cat"])),
                                  ("m", MLPClassifier(hidden_layer_sizes=(6,), max_iter=500,
                                                      random_state=0))),
             ["num_a", "num_b", "cat"]),
        Case("gbm_regressor", lambda: _pmml(
            ("pre", _scaled_onehot(["cat"])),
            ("m", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0))),
            ["num_a", "num_b", "cat"], target=["y_reg"], kind="regressor"),
    ]
    out += _extra_cases()
    return out


def _extra_cases() -> list[Case]:
    """Cases that need sklearn2pmml's own steps or other libraries."""
    from category_encoders import CountEncoder
    from category_encoders import TargetEncoder as CeTargetEncoder
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.preprocessing import OneHotEncoder
    from sklearn2pmml.decoration import CategoricalDomain, ContinuousDomain, DateDomain
    from sklearn2pmml.preprocessing import DaysSinceYearTransformer
    from sklearn2pmml.tree.chaid import CHAIDClassifier
    from xgboost import XGBClassifier, XGBRegressor

    return [
        # (a nested Pipeline of these stateless steps is "not fitted" to scikit-learn 1.9)
        Case("dates", lambda: _pmml(
            ("domain", DateDomain()), ("days", DaysSinceYearTransformer(year=2020)),
            ("m", LinearRegression())), ["when"], target=["y_reg"], kind="regressor",
            about="a date (days since 2020)"),
        Case("continuous_domain", lambda: _pmml(
            ("pre", _columns(("num", ContinuousDomain(), NUMERIC))),
            ("m", LinearRegression())), NUMERIC, target=["y_reg"], kind="regressor",
            about="sklearn2pmml's ContinuousDomain"),
        Case("chaid_missing", lambda: _pmml(
            ("pre", _columns(("cat", CategoricalDomain(), ["cat", "cat_na"]))),
            ("m", CHAIDClassifier(config={"max_depth": 3}))),
            ["cat", "cat_na"], missing=True, oracle="jpmml",
            about="CHAID on categories with missing values (no native predict)"),
        Case("category_encoders_target", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", NUMERIC),
                             ("cat", CeTargetEncoder(), ["cat"]))),
            ("m", LogisticRegression())), ["num_a", "num_b", "cat"],
            about="category_encoders' TargetEncoder"),
        Case("category_encoders_count", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", NUMERIC),
                             ("cat", CountEncoder(), ["cat"]))),
            ("m", LinearRegression())), ["num_a", "num_b", "cat"], target=["y_reg"],
            kind="regressor", about="category_encoders' CountEncoder"),
        Case("xgboost_classifier", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", ["num_a", "num_b", "num_c"]),
                             ("cat", OneHotEncoder(), ["cat"]))),
            ("m", XGBClassifier(n_estimators=30, max_depth=3, random_state=0))),
            ["num_a", "num_b", "num_c", "cat"], missing=True, float32=True,
            about="XGBoost (float32), missing numbers"),
        Case("xgboost_regressor", lambda: _pmml(
            ("m", XGBRegressor(n_estimators=30, max_depth=3, random_state=0))),
            NUMERIC, target=["y_reg"], kind="regressor", float32=True, about="XGBoost (float32)"),
        Case("lightgbm_classifier", lambda: _pmml(
            ("pre", _columns(("num", "passthrough", ["num_a", "num_b", "num_c"]),
                             ("cat", OneHotEncoder(), ["cat"]))),
            ("m", LGBMClassifier(n_estimators=30, verbose=-1, random_state=0))),
            ["num_a", "num_b", "num_c", "cat"], missing=True, about="LightGBM, missing numbers"),
    ]

"""sklearn2pmml's Java converter with the JVM's default options against the quick-start ones
(C1 only, serial collector), by the size of the pickled pipeline.

    .venv/bin/python benchmarks/bench_convert_jvm.py [--repeat 3]

The same pickle is converted with each option set, one after the other in this run, best of
``--repeat``; pmmlkit uses the quick-start options below
``pmmlkit.converter._sklearn.QUICK_CONVERT_BYTES`` of compressed pickle.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from pmmlkit.converter._sklearn import QUICK_CONVERT_OPTIONS, _converter_env, _java
from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn


def _cases() -> list[tuple[str, int, Any]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    return [("logreg", 400, LogisticRegression(max_iter=300)),
            ("gbm 50 trees", 400, GradientBoostingClassifier(n_estimators=50, random_state=0)),
            ("forest 100 × depth 8", 3000, RandomForestClassifier(
                n_estimators=100, max_depth=8, random_state=0, n_jobs=2)),
            ("forest 60 × depth 12", 20000, RandomForestClassifier(
                n_estimators=60, max_depth=12, random_state=0, n_jobs=2)),
            ("forest 200 × depth 14", 20000, RandomForestClassifier(
                n_estimators=200, max_depth=14, random_state=0, n_jobs=2))]


def main() -> None:
    import joblib
    import sklearn2pmml
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    from sklearn2pmml.pipeline import PMMLPipeline

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| pipeline | pickle (bytes) | default JVM (s) | quick-start (s) |")
    print("|---|---|---|---|")
    for name, rows, estimator in _cases():
        frame = make_churn(rows, seed=1)
        pipeline = PMMLPipeline([("pre", ColumnTransformer([
            ("num", "passthrough", NUMERIC), ("cat", OneHotEncoder(), CATEGORICAL)])),
            ("model", estimator)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.fit(frame[FEATURES], frame["churn"])
        folder = Path(tempfile.mkdtemp())
        dump = folder / "pipeline.pkl.z"
        joblib.dump(sklearn2pmml._escape(pipeline, escape_func=sklearn2pmml._escape), dump,
                    compress=3)
        times = []
        for options in ((), QUICK_CONVERT_OPTIONS):
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                subprocess.run([_java(), *options, "-cp",
                                os.pathsep.join(sklearn2pmml._classpath([])),
                                "com.sklearn2pmml.Main", "--pkl-input", str(dump),
                                "--pmml-output", str(folder / "out.pmml")],
                               capture_output=True, env=_converter_env(), check=True)
                best = min(best, time.perf_counter() - started)
            times.append(best)
        print(f"| {name} | {dump.stat().st_size:,} | {times[0]:.2f} | {times[1]:.2f} |")


if __name__ == "__main__":
    main()

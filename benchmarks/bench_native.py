"""pmmlkit against the native model: scikit-learn's own predict_proba, same rows, same process.

    .venv/bin/python benchmarks/bench_native.py [--rows 10000,100000,1000000] [--models logreg,gbm,...]
    .venv/bin/python benchmarks/bench_native.py --csv 1000000
    .venv/bin/python benchmarks/bench_native.py --onnx [--rows ...] [--models ...]
    .venv/bin/python benchmarks/bench_native.py --missing 0.05 --models xgboost,lightgbm,gbm

The models of the columnar-evaluator issue: a ColumnTransformer (StandardScaler on 8 numeric
columns, OneHotEncoder on 3 categorical ones of 3, 4 and 5 levels) before LogisticRegression,
GradientBoosting (100 trees, depth 3), RandomForest (100 trees, depth 8),
HistGradientBoosting (30 iterations), XGBoost (100 trees, depth 4) and LightGBM (100 trees),
trained once on 20,000 rows and exported with sklearn2pmml (cached under
benchmarks/.cache/native). For each model and row count, side by side in one process on the
same generated rows: scikit-learn ``predict_proba`` on the DataFrame, pmmlkit ``score_batch``
(DataFrame in, DataFrame out) with the columnar plan (the default) and with
``PMMLKIT_PLAN=off``, and ``score_arrow`` (Arrow in, Arrow out) with the plan. Each pmmlkit
model is warmed first (the plan's gate passed, a background compilation finished); the best
of 3 timed calls counts (1 at a million rows with the plan off). Also the largest
|difference| from scikit-learn, and ``Model.score(dict)`` per record. With ``--csv ROWS``:
``pmmlkit score`` of a CSV file against pandas ``read_csv`` + ``predict_proba`` + ``to_csv``,
each a fresh process. With ``--onnx``: onnxruntime too (skl2onnx's conversion of the same
fitted pipelines, float32 inputs) in a benchmark-only environment this script creates under
benchmarks/.cache/onnx-venv (``_onnx_worker.py``), on the same rows, with its own
scikit-learn call as the ratio's base. Prints JSON and a Markdown table; the results are
recorded in docs/performance.md. With ``--missing SHARE``: 100k rows where SHARE of each
numeric column is missing, ``score_batch`` with the plan on and off (best of 3).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _models import CACHE, best_of, fitted_pipeline

from pmmlkit.datasets import FEATURES, make_churn

FOLDER = CACHE / "native"


def _estimators() -> dict[str, Any]:
    """The scorer benchmark's models (not its single tree), then XGBoost and LightGBM."""
    import lightgbm
    import xgboost
    from _models import _estimators as scorer_models

    out = {k: v for k, v in scorer_models().items() if k != "tree"}
    out["xgboost"] = xgboost.XGBClassifier(n_estimators=100, max_depth=4, n_jobs=2,
                                           random_state=0)
    out["lightgbm"] = lightgbm.LGBMClassifier(n_estimators=100, n_jobs=2, random_state=0,
                                              verbose=-1)
    from sklearn.neural_network import MLPClassifier

    out["mlp"] = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=200, random_state=0)
    return out


def models(names: list[str]) -> dict[str, tuple[Path, Any]]:
    """Export (once) each pipeline; return its PMML path and the fitted pipeline."""
    from sklearn2pmml import sklearn2pmml

    FOLDER.mkdir(parents=True, exist_ok=True)
    out = {}
    train = make_churn(20_000, seed=10)
    for name, estimator in _estimators().items():
        if name not in names:
            continue
        path, pickled = FOLDER / f"{name}.pmml", FOLDER / f"{name}.pkl"
        if path.exists() and pickled.exists():
            out[name] = (path, pickle.loads(pickled.read_bytes()))
            continue
        pipeline = fitted_pipeline(estimator, train)
        pipeline.verify(train[FEATURES].iloc[:50], precision=1e-6, zeroThreshold=1e-6)
        sklearn2pmml(pipeline, str(path))
        pickled.write_bytes(pickle.dumps(pipeline))
        out[name] = (path, pipeline)
    return out


ONNX_VENV = CACHE / "onnx-venv"


def onnx_venv() -> Path:
    """The benchmark-only environment of onnxruntime: the main environment's scikit-learn,
    XGBoost, LightGBM, NumPy and pandas (to unpickle the same pipelines), sklearn2pmml (the
    pickles are PMMLPipelines), skl2onnx and onnxmltools."""
    import subprocess
    from importlib.metadata import version

    python = ONNX_VENV / "bin" / "python"
    if python.exists():
        return python
    print("creating the onnxruntime environment ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(ONNX_VENV)], check=True)
    same = [f"{p}=={version(p)}" for p in ("scikit-learn", "numpy", "pandas", "lightgbm",
                                           "sklearn2pmml")]
    same.append(f"xgboost-cpu=={version('xgboost-cpu')}")
    subprocess.run([str(ONNX_VENV / "bin" / "pip"), "install", "--quiet", *same,
                    "onnxruntime>=1.32,<2", "skl2onnx>=1.20,<2", "onnxmltools>=1.16,<2",
                    "onnx>=1.20,<2"], check=True)
    return python


def onnx_rows(names: list[str], sizes: list[int]) -> dict[str, Any]:
    import subprocess

    done = subprocess.run([str(onnx_venv()), str(Path(__file__).parent / "_onnx_worker.py"),
                           ",".join(names), ",".join(map(str, sizes))],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _load(path: Path, plan: bool, warm: Any) -> Any:
    import pmmlkit

    os.environ["PMMLKIT_PLAN"] = "on" if plan else "off"
    model = pmmlkit.load(path)
    for _ in range(4):  # the plan's gate, then the JIT
        model.score_batch(warm)
    model.wait_compiled(600)
    model.score_batch(warm)
    return model


def run(names: list[str], sizes: list[int], single: int) -> dict[str, Any]:
    import pyarrow as pa

    report: dict[str, Any] = {"rows": sizes, "models": {}}
    warm = make_churn(5_000, seed=12)[FEATURES]
    for name, (path, pipeline) in models(names).items():
        planned = _load(path, True, warm)
        plain = _load(path, False, warm)
        entry: dict[str, Any] = {"plan": planned.plan, "evaluator": planned.evaluator,
                                 "sizes": {}}
        for n in sizes:
            X = make_churn(n, seed=11)[FEATURES]
            table = pa.Table.from_pandas(X, preserve_index=False)
            native = pipeline.predict_proba(X)[:, 1]
            got = planned.score_batch(X)["probability(1)"].to_numpy(float)
            repeat_off = 1 if n >= 1_000_000 else 3
            times = {
                "sklearn": best_of(lambda X=X, p=pipeline: p.predict_proba(X), 3),
                "plan": best_of(lambda X=X, m=planned: m.score_batch(X), 3),
                "plan_arrow": best_of(lambda t=table, m=planned: m.score_arrow(t), 3),
                "off": best_of(lambda X=X, m=plain: m.score_batch(X), repeat_off),
            }
            entry["sizes"][str(n)] = {
                "rows_per_s": {k: n / v for k, v in times.items()},
                "ratio_to_sklearn": {k: times["sklearn"] / v for k, v in times.items()},
                "max_abs_diff": float(np.max(np.abs(got - native))),
            }
        records = make_churn(single, seed=13)[FEATURES].to_dict("records")
        for record in records[:200]:
            planned.score(record)
        each = []
        for record in records:
            start = time.perf_counter()
            planned.score(record)
            each.append(time.perf_counter() - start)
        entry["single_record_us"] = statistics.median(each) * 1e6
        report["models"][name] = entry
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)
    return report


_USER = """
import pickle, sys, pandas as pd
pipeline = pickle.load(open(sys.argv[1], "rb"))
frame = pd.read_csv(sys.argv[2])
proba = pipeline.predict_proba(frame.drop(columns=["id"]))
out = pd.DataFrame({"id": frame["id"], "probability(0)": proba[:, 0], "probability(1)": proba[:, 1]})
out.to_csv(sys.argv[3], index=False)
"""


def csv_files(names: list[str], rows: int) -> dict[str, Any]:
    """``pmmlkit score MODEL in.csv -o out.csv --keep id`` against what a user holding the
    pickle runs instead (pandas ``read_csv``, ``predict_proba``, ``to_csv``), each a fresh
    process on the same file, best of 2; seconds and the ratio."""
    import subprocess

    folder = FOLDER / "csv"
    folder.mkdir(exist_ok=True)
    source = folder / f"in-{rows}.csv"
    if not source.exists():
        frame = make_churn(rows, seed=14)[FEATURES]
        frame.insert(0, "id", range(rows))
        frame.to_csv(source, index=False)
    out: dict[str, Any] = {}
    for name, (path, _) in models(names).items():
        pickled = FOLDER / f"{name}.pkl"

        def pmmlkit_cli(path: Path = path) -> None:
            subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(path), str(source),
                            "-o", str(folder / "out-pmmlkit.csv"), "--keep", "id",
                            "--overwrite"],
                           check=True, capture_output=True)

        def user(pickled: Path = pickled) -> None:
            subprocess.run([sys.executable, "-c", _USER, str(pickled), str(source),
                            str(folder / "out-user.csv")], check=True, capture_output=True)

        seconds = {"pmmlkit score": best_of(pmmlkit_cli, 2), "pandas + predict_proba": best_of(user, 2)}
        out[name] = {"seconds": seconds,
                     "ratio": seconds["pandas + predict_proba"] / seconds["pmmlkit score"]}
        print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    return out


def table(report: dict[str, Any]) -> str:
    lines = ["| model | rows | scikit-learn rows/s | pmmlkit plan `score_batch` | plan `score_arrow` "
             "| `PMMLKIT_PLAN=off` | max abs diff | `score(dict)` µs | plan |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, entry in report["models"].items():
        for n, size in entry["sizes"].items():
            r, q = size["rows_per_s"], size["ratio_to_sklearn"]
            lines.append(
                f"| {name} | {int(n):,} | {r['sklearn']:,.0f} | {r['plan']:,.0f} "
                f"({q['plan']:.2f}×) | {r['plan_arrow']:,.0f} ({q['plan_arrow']:.2f}×) | "
                f"{r['off']:,.0f} ({q['off']:.2f}×) | {size['max_abs_diff']:.1e} | "
                f"{entry['single_record_us']:.0f} | {entry['plan'].split(':')[0]} |")
    return "\n".join(lines)


def missing_numbers(names: list[str], share: float) -> dict[str, Any]:
    """Rows missing a number: the plan (which computes them) against the evaluator path."""
    from pmmlkit.datasets import NUMERIC

    X = make_churn(100_000, seed=11)[FEATURES]
    rng = np.random.default_rng(0)
    for column in NUMERIC:
        X.loc[rng.random(len(X)) < share, column] = np.nan
    out: dict[str, Any] = {"rows_missing_a_number": float(X[NUMERIC].isna().any(axis=1).mean())}
    for name, (path, _) in models(names).items():
        rates = {}
        for plan in (True, False):
            model = _load(path, plan, X.iloc[:5000])
            rates["plan" if plan else "off"] = len(X) / best_of(lambda m=model: m.score_batch(X), 3)
        out[name] = rates
        print(json.dumps({name: rates}), file=sys.stderr, flush=True)
    return out


def onnx_table(report: dict[str, Any]) -> str:
    """pmmlkit's plan and onnxruntime, each as a ratio to the scikit-learn call of its own
    process, and pmmlkit's rows/s over onnxruntime's."""
    lines = ["| model | rows | onnxruntime rows/s (÷ its scikit-learn) | max abs diff | "
             "pmmlkit plan `score_batch` (÷ its scikit-learn) | pmmlkit ÷ onnxruntime |",
             "|---|---|---|---|---|---|"]
    for name, entry in report["models"].items():
        theirs = report["onnxruntime"].get(name, {})
        for n, size in entry["sizes"].items():
            if "error" in theirs or n not in theirs:
                lines.append(f"| {name} | {int(n):,} | {theirs.get('error', 'not run')} | | | |")
                continue
            o = theirs[n]["rows_per_s"]
            mine = size["rows_per_s"]["plan"]
            lines.append(
                f"| {name} | {int(n):,} | {o['onnxruntime']:,.0f} "
                f"({o['onnxruntime'] / o['sklearn']:.2f}×) | {theirs[n]['max_abs_diff']:.1e} | "
                f"{mine:,.0f} ({size['ratio_to_sklearn']['plan']:.2f}×) | "
                f"{mine / o['onnxruntime']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--models", default="logreg,gbm,forest,histgb,xgboost,lightgbm")
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--csv", type=int, default=0, metavar="ROWS",
                        help="instead: pmmlkit score of a ROWS-row CSV against pandas + predict_proba")
    parser.add_argument("--missing", type=float, default=0.0, metavar="SHARE",
                        help="instead: rows missing numbers, plan on against off")
    parser.add_argument("--onnx", action="store_true",
                        help="also onnxruntime, in a benchmark-only environment")
    args = parser.parse_args()
    if args.missing:
        print(json.dumps(missing_numbers(args.models.split(","), args.missing), indent=1))
        return
    if args.csv:
        result = csv_files(args.models.split(","), args.csv)
        print(json.dumps(result, indent=1))
        print("| model | `pmmlkit score` s | pandas + `predict_proba` + `to_csv` s | ratio |")
        print("|---|---|---|---|")
        for name, entry in result.items():
            t = entry["seconds"]
            print(f"| {name} | {t['pmmlkit score']:.2f} | {t['pandas + predict_proba']:.2f} | "
                  f"{entry['ratio']:.2f}× |")
        return
    names, sizes = args.models.split(","), [int(r) for r in args.rows.split(",")]
    report = run(names, sizes, args.single)
    if args.onnx:
        models(names)  # the pickles the worker reads
        report["onnxruntime"] = onnx_rows(names, sizes)
    print(json.dumps(report, indent=1))
    print(table(report))
    if args.onnx:
        print(onnx_table(report))
    for name, entry in report["models"].items():
        print(f"{name}: {entry['plan']}")


if __name__ == "__main__":
    main()

"""Scorer benchmark: pmmlkit against pypmml and jpmml_evaluator, same data, same run.

    .venv/bin/python benchmarks/bench_scorer.py [--rows 100000] [--single 2000] [--memory-rows 1000000]

Batch: 100k rows (8 numeric + 3 categorical features) through LogisticRegression, a 100-tree
GradientBoostingClassifier and a 100-tree RandomForestClassifier, exported with sklearn2pmml.
Each contender runs in its own fresh process (JPype allows one JVM per process, and
jpmml_evaluator needs its default heap, a quarter of RAM, for a 100k-row evaluateAll) on the
same generated rows; the best of two timed runs counts. Single record: ``score(dict)`` against
pypmml ``predict(dict)`` and jpmml_evaluator ``Evaluator.evaluate``. Memory: peak RSS of
``score_batch`` on 1M rows of the GBM. Prints JSON and Markdown tables; the results are recorded
in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _models import benchmark_models, best_of

from pmmlkit.datasets import FEATURES, make_churn

BATCH = ["pypmml predict(DataFrame)", "jpmml_evaluator evaluateAll",
         "pmmlkit score_batch (jpmml)", "pmmlkit score_batch (pypmml)"]
SINGLE = ["pypmml predict(dict)", "jpmml_evaluator evaluate", "pmmlkit score (jpmml)"]




def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scorer(contender: str, path: str) -> Any:
    """A function scoring a DataFrame (batch) or a dict (single), as a user would write it."""
    if contender.startswith("pypmml"):
        from pypmml import Model

        model = Model.fromFile(path)
        return model.predict
    if contender.startswith("jpmml_evaluator"):
        import jpmml_evaluator

        evaluator = jpmml_evaluator.make_evaluator(path, backend="jpype").verify()
        if "evaluateAll" in contender:
            # its batch call fails on np.str_ values of pandas string columns
            return lambda frame: evaluator.evaluateAll(frame.astype(object))
        return lambda record: evaluator.evaluate(dict(record))
    import pmmlkit

    backend = "pypmml" if "(pypmml)" in contender else "jpmml"
    model = pmmlkit.load(path, backend=backend, verify="warn")
    return model.score_batch if "batch" in contender else model.score


def worker(contender: str, path: str, rows: int) -> dict[str, Any]:
    if contender in BATCH:
        frame = make_churn(rows, seed=99)[FEATURES]
        score = _scorer(contender, path)
        score(frame.iloc[:2000])
        seconds = best_of(lambda: score(frame))
        return {"rows_per_s": rows / seconds, "peak_rss_mb": _peak_mb()}
    records = make_churn(rows, seed=7)[FEATURES].to_dict("records")
    score = _scorer(contender, path)
    for r in records[:1000]:
        score(r)
    seconds = best_of(lambda: [score(r) for r in records], 3)
    return {"us_per_record": seconds / rows * 1e6}


def run_worker(contender: str, path: Path, rows: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--worker", contender, str(path), str(rows)],
                          capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        return {"failed": proc.stderr.strip().splitlines()[-1]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=5000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=3, metavar=("CONTENDER", "PMML", "ROWS"))
    args = parser.parse_args()
    if args.worker:
        contender, path, rows = args.worker
        print(json.dumps(worker(contender, path, int(rows))))
        return
    paths = benchmark_models()
    report: dict[str, Any] = {"batch": {}, "single": {}}
    for name, path in paths.items():
        report["batch"][name] = {c: run_worker(c, path, args.rows) for c in BATCH}
        single_rows = {c: args.single if "pypmml" not in c else max(100, args.single // 10)
                       for c in SINGLE}
        report["single"][name] = {c: run_worker(c, path, single_rows[c]) for c in SINGLE}
    report["memory"] = run_worker("pmmlkit score_batch (jpmml)", paths["gbm"], args.memory_rows)
    print(json.dumps(report, indent=2))
    _tables(report, args)


def _tables(report: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nBatch, {args.rows:,} rows: rows/s (peak RSS MB)\n")
    print("| model | " + " | ".join(BATCH) + " | pmmlkit ÷ best baseline |")
    print("|---" * (len(BATCH) + 2) + "|")
    for name, row in report["batch"].items():
        cells = [f"{r['rows_per_s']:,.0f} ({r['peak_rss_mb']:,.0f})" if "rows_per_s" in r
                 else "failed" for r in row.values()]
        base = max(row[c].get("rows_per_s", 0) for c in BATCH[:2])
        ours = row[BATCH[2]].get("rows_per_s", 0)
        print(f"| {name} | " + " | ".join(cells) + f" | {ours / base:.1f}× |")
    print("\nSingle record: µs per record\n")
    print("| model | " + " | ".join(SINGLE) + " | pypmml ÷ pmmlkit | pmmlkit ÷ jpmml_evaluator |")
    print("|---" * (len(SINGLE) + 3) + "|")
    for name, row in report["single"].items():
        us = [row[c].get("us_per_record", float("nan")) for c in SINGLE]
        print(f"| {name} | " + " | ".join(f"{u:,.0f}" for u in us)
              + f" | {us[0] / us[2]:.0f}× | {us[2] / us[1]:.2f}× |")
    mem = report["memory"]
    print(f"\nMemory: score_batch of {args.memory_rows:,} GBM rows: peak RSS "
          f"{mem.get('peak_rss_mb', float('nan')):,.0f} MB, {mem.get('rows_per_s', 0):,.0f} rows/s")


if __name__ == "__main__":
    main()

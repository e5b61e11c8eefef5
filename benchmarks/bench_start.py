"""Start-up and compilation benchmark: small jobs, time to first rows, cold and cached compiles.

    .venv/bin/python benchmarks/bench_start.py [--small 30] [--rows 100000,1000000]

1. Wall time of a whole small job (``--small`` rows, CSV -> CSV, fresh process each) for every
   benchmark model: ``pmmlkit score`` on an empty compiled-model cache (first run) and once
   the cache holds a verified jar (later runs, best of two), with the default
   ``PMMLKIT_TRANSPILE=auto`` (ensembles compile) and with ``background`` (every model
   compiles, so every model can start from a jar), side by side with the five-line pandas +
   pypmml and pandas + jpmml_evaluator scripts.
2. For each row count, in a fresh process: seconds to load, to the first 50k-row chunk scored,
   and in total, for the interpreter only, a cold cache (background compile) and a warm cache.
3. With ``--jit-rows``: ``pmmlkit score`` wall seconds per file size, with the default JVM
   options against the quick-start ones a short job gets (``_jvm.QUICK_START_OPTS``), both
   given through ``PMMLKIT_JAVA_OPTS``: where the CLI's size threshold belongs.

Every run is its own process, on the same data, in one invocation, so ratios compare alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _models import CACHE, benchmark_models
from bench_batch import _JPMML, _PYPMML, make_csv

_API = """
import sys, time, json
t0 = time.perf_counter()
import pyarrow.csv as pacsv
import pmmlkit
transpile = {"off": False, "auto": None}[sys.argv[3]]
model = pmmlkit.load(sys.argv[1], transpile=transpile)
t_load = time.perf_counter() - t0
table = pacsv.read_csv(sys.argv[2]).to_pandas()
first = None
for start in range(0, len(table), 50_000):
    out = model.score_batch(table.iloc[start:start + 50_000])
    if first is None:
        first = time.perf_counter() - t0
total = time.perf_counter() - t0
print(json.dumps({"load": t_load, "first_chunk": first, "total": total,
                  "evaluator": model.evaluator}))
"""


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
    if proc.returncode not in (0, 10):
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stderr.decode()[-400:]}")
    return time.perf_counter() - start


def small_jobs(paths: dict[str, Path], rows: int) -> dict[str, dict[str, float]]:
    data = CACHE / f"start-{rows}.csv"
    make_csv(data, rows)
    out = str(CACHE / "start-out.csv")
    report: dict[str, dict[str, float]] = {}
    fill = ("import sys, pmmlkit, pyarrow.csv as c; m = pmmlkit.load(sys.argv[1]); "
            "m.wait_compiled(); m.score_batch(c.read_csv(sys.argv[2]).to_pandas())")
    for name, path in paths.items():
        cli = [sys.executable, "-m", "pmmlkit", "score", str(path), str(data), "-o", out]
        report[name] = {}
        for label, mode in (("default", "auto"), ("every model compiled", "background")):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "PMMLKIT_CACHE_DIR": cache, "PMMLKIT_TRANSPILE": mode}
                report[name][f"pmmlkit score, {label}: first run"] = run(cli, env)
                # a first run ends before its compile: finish it and check it on rows, as
                # a longer job does, so the jar is verified
                subprocess.run([sys.executable, "-c", fill, str(path), str(data)], env=env,
                               check=True, capture_output=True)
                report[name][f"pmmlkit score, {label}: later runs"] = min(
                    run(cli, env) for _ in range(2))
        report[name]["pandas + pypmml"] = run(
            [sys.executable, "-c", _PYPMML, str(path), str(data), out], dict(os.environ))
        report[name]["pandas + jpmml_evaluator"] = run(
            [sys.executable, "-c", _JPMML, str(path), str(data), out], dict(os.environ))
        print(name, json.dumps(report[name]), flush=True)
    return report


def large_jobs(paths: dict[str, Path], rows: int, models: list[str]) -> dict[str, Any]:
    data = CACHE / f"batch-{rows}.csv"
    make_csv(data, rows)
    report: dict[str, Any] = {}
    for name in models:
        path = str(paths[name])
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "PMMLKIT_CACHE_DIR": cache}

            def api(mode: str, env: dict[str, str] = env, path: str = path) -> dict[str, Any]:
                proc = subprocess.run([sys.executable, "-c", _API, path, str(data), mode],
                                      env=env, capture_output=True, check=True)
                result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
                return result

            report[name] = {"interpreter only": api("off"), "cold cache": api("auto"),
                            "cached compile": api("auto")}
        print(name, rows, json.dumps(report[name]), flush=True)
    return report


def jit_jobs(paths: dict[str, Path], sizes: list[int], models: list[str]
             ) -> dict[int, dict[str, tuple[float, float, int]]]:
    """Default vs quick-start JVM options, same file, best of two each; (default, quick,
    file bytes) per model and row count."""
    from pmmlkit.scorer.backends import _jvm

    default = _jvm.DEFAULT_JAVA_OPTS
    quick = " ".join([o for o in default.split() if o != "-XX:+UseParallelGC"]
                     + list(_jvm.QUICK_START_OPTS))
    out = str(CACHE / "jit-out.csv")
    report: dict[int, dict[str, tuple[float, float, int]]] = {}
    for rows in sizes:
        data = CACHE / f"batch-{rows}.csv"
        make_csv(data, rows)
        report[rows] = {}
        for name in models:
            cli = [sys.executable, "-m", "pmmlkit", "score", str(paths[name]), str(data), "-o",
                   out]
            times = {}
            for label, opts in (("default", default), ("quick", quick)):
                env = {**os.environ, "PMMLKIT_JAVA_OPTS": opts}
                times[label] = min(run(cli, env) for _ in range(2))
            report[rows][name] = (times["default"], times["quick"], data.stat().st_size)
            print(rows, name, report[rows][name], flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=30)
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--models", default="logreg,tree,forest,gbm,histgb")
    parser.add_argument("--large-models", default="gbm,forest")
    parser.add_argument("--jit-rows", default="",
                        help="row counts for the default vs quick-start comparison, e.g. "
                             "5800,23000,100000,1000000 (off by default)")
    parser.add_argument("--jit-models", default="logreg,gbm,forest")
    args = parser.parse_args()
    paths = {k: v for k, v in benchmark_models().items() if k in args.models.split(",")}
    if args.jit_rows:
        models = args.jit_models.split(",")
        jit = jit_jobs(benchmark_models(), [int(r) for r in args.jit_rows.split(",")], models)
        print("\n`pmmlkit score`, whole process, seconds: default -> quick-start options\n")
        print("| rows (size) | " + " | ".join(models) + " |")
        print("|---" * (len(models) + 1) + "|")
        for rows, by_model in jit.items():
            size = next(iter(by_model.values()))[2] / 2**20
            print(f"| {rows:,} ({size:.0f} MiB) | " + " | ".join(
                f"{d:.2f} -> {q:.2f}" for d, q, _ in by_model.values()) + " |")
        return
    small = small_jobs(paths, args.small)
    large = {rows: large_jobs(paths, int(rows), args.large_models.split(","))
             for rows in args.rows.split(",") if rows}
    print(f"\n`pmmlkit score` of a {args.small}-row CSV, whole process, seconds\n")
    columns = list(next(iter(small.values())))
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, runs in small.items():
        print(f"| {name} | " + " | ".join(f"{runs[c]:.2f}" for c in columns) + " |")
    for rows, report in large.items():
        print(f"\nAPI, {int(rows):,} rows in 50k-row chunks: load / first chunk / total, seconds "
              "(evaluator at the end)\n")
        print("| model | interpreter only | cold cache | cached compile |")
        print("|---|---|---|---|")
        for name, runs in report.items():
            cells = [f"{r['load']:.2f} / {r['first_chunk']:.2f} / {r['total']:.2f} "
                     f"({r['evaluator'].rsplit('(', 1)[-1].rstrip(')')})" for r in runs.values()]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

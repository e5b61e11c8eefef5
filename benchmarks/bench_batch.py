"""File scoring benchmark: `pmmlkit score` against two user-written pandas baselines.

    .venv/bin/python benchmarks/bench_batch.py [--rows 1000000] [--big-rows 10000000]

The same CSV (8 numeric + 3 categorical features and an id) is scored CSV -> CSV with the
scorer benchmark's three models by
  - pmmlkit:   pmmlkit score MODEL in.csv -o out.csv --keep id
  - pypmml:    pandas.read_csv -> pypmml Model.predict(DataFrame) -> to_csv
  - jpmml:     pandas.read_csv -> jpmml_evaluator evaluateAll -> to_csv, in 100k-row chunks
               (one 1M-row evaluateAll needs tens of GB of heap)
each in its own process; peak RSS is sampled over the whole process tree (pypmml's JVM is a
child process). Then `pmmlkit score` on --big-rows rows shows memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _models import CACHE, benchmark_models

_PYPMML = """
import sys, pandas as pd
from pypmml import Model
model = Model.fromFile(sys.argv[1])
frame = pd.read_csv(sys.argv[2])
out = model.predict(frame)
out.insert(0, "id", frame["id"])
out.to_csv(sys.argv[3], index=False)
"""
_JPMML = """
import sys, pandas as pd, jpmml_evaluator
evaluator = jpmml_evaluator.make_evaluator(sys.argv[1], backend="jpype").verify()
first = True
for frame in pd.read_csv(sys.argv[2], chunksize=100_000):
    out = evaluator.evaluateAll(frame.astype(object))
    out.insert(0, "id", frame["id"].to_numpy())
    out.to_csv(sys.argv[3], index=False, header=first, mode="w" if first else "a")
    first = False
"""


def make_csv(path: Path, rows: int) -> None:
    """Write ``rows`` rows of the benchmark data with pyarrow, in 1M-row pieces."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from pmmlkit.datasets import FEATURES, make_churn

    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    with pacsv.CSVWriter(str(tmp), pa.Table.from_pandas(
            make_churn(1, seed=0)[FEATURES].assign(id=0), preserve_index=False).schema) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            frame = make_churn(n, seed=start + 17)[FEATURES]
            frame["id"] = range(start, start + n)
            writer.write_table(pa.Table.from_pandas(frame, preserve_index=False))
    tmp.rename(path)


def measure(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; wall time and peak RSS of its whole process tree (sampled every 50 ms)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 10):
        return {"failed": (proc.stderr.read() if proc.stderr else b"").decode()[-300:]}
    return {"seconds": seconds, "peak_rss_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--models", default="logreg,gbm,forest")
    args = parser.parse_args()
    paths = benchmark_models()
    data = CACHE / f"batch-{args.rows}.csv"
    make_csv(data, args.rows)
    out = CACHE / "out.csv"
    pmmlkit_cli = [sys.executable, "-m", "pmmlkit", "score"]
    report: dict[str, Any] = {"rows": args.rows, "models": {}}
    for name in args.models.split(","):
        pmml = str(paths[name])
        runs = {
            "pmmlkit score": measure([*pmmlkit_cli, pmml, str(data), "-o", str(out),
                                      "--keep", "id"]),
            "pandas + pypmml": measure([sys.executable, "-c", _PYPMML, pmml, str(data),
                                        str(out)]),
            "pandas + jpmml_evaluator": measure([sys.executable, "-c", _JPMML, pmml, str(data),
                                                 str(out)]),
        }
        report["models"][name] = runs
        print(name, json.dumps(runs), flush=True)
    if args.big_rows:
        big = CACHE / f"batch-{args.big_rows}.csv"
        make_csv(big, args.big_rows)
        report["big"] = {"rows": args.big_rows, "model": "gbm", **measure(
            [*pmmlkit_cli, str(paths["gbm"]), str(big), "-o", str(out), "--keep", "id"])}
    print(json.dumps(report, indent=2))
    print(f"\nCSV -> CSV, {args.rows:,} rows: rows/s (peak RSS MB)\n")
    print("| model | pmmlkit score | pandas + pypmml | pandas + jpmml_evaluator | pmmlkit ÷ best "
          "baseline |")
    print("|---|---|---|---|---|")
    for name, runs in report["models"].items():
        rates = {k: args.rows / v["seconds"] if "seconds" in v else 0.0 for k, v in runs.items()}
        cells = [f"{rates[k]:,.0f} ({v['peak_rss_mb']:,.0f})" if "seconds" in v else "failed"
                 for k, v in runs.items()]
        best = max(rates["pandas + pypmml"], rates["pandas + jpmml_evaluator"])
        print(f"| {name} | " + " | ".join(cells) + f" | {rates['pmmlkit score'] / best:.1f}× |")
    if "big" in report:
        b = report["big"]
        print(f"\n`pmmlkit score` GBM, {b['rows']:,} rows: {b['rows'] / b['seconds']:,.0f} rows/s, "
              f"peak RSS {b['peak_rss_mb']:,.0f} MB")
    out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

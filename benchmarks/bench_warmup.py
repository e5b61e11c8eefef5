"""Warm-up benchmark: the first ``score_batch`` calls of a fresh process against the steady state.

    .venv/bin/python benchmarks/bench_warmup.py [--rows 50000] [--calls 10] [--models logreg,gbm]

For each model, in a fresh process (a cold JVM, the model loaded from the cache as a later
job would): ``--calls`` successive ``score_batch`` calls on the same ``--rows``-row DataFrame,
rows/s of each, then ``score_chunk`` alone on the same rows (the wrapper's cost is the
difference). The first call is reported on its own; "steady" is the median of the last half.

``--jit`` repeats every model under each JIT set-up (the default's tiered C1 + C2, C2 only,
C1 only), given through ``PMMLKIT_JAVA_OPTS``, to show what the first call trades against.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _models import benchmark_models

_RUN = """
import json, sys, time
import pmmlkit
from pmmlkit.datasets import FEATURES, make_churn
rows = make_churn(int(sys.argv[2]), seed=7)[FEATURES]
model = pmmlkit.load(sys.argv[1])
model.wait_compiled()
rates = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    out = model.score_batch(rows)
    rates.append(len(rows) / (time.perf_counter() - start))
    assert out["error"].isna().all()
chunk = []
for _ in range(3):
    start = time.perf_counter()
    model.score_chunk(rows)
    chunk.append(len(rows) / (time.perf_counter() - start))
print(json.dumps({"evaluator": model.evaluator, "score_batch": rates, "score_chunk": chunk}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--models", default="logreg,gbm")
    parser.add_argument("--jit", action="store_true",
                        help="also C2 only and C1 only, next to the default")
    args = parser.parse_args()
    paths = benchmark_models()
    from pmmlkit.scorer.backends._jvm import DEFAULT_JAVA_OPTS

    setups = {"default": DEFAULT_JAVA_OPTS}
    if args.jit:
        setups["C2 only"] = DEFAULT_JAVA_OPTS + " -XX:-TieredCompilation"
        setups["C1 only"] = DEFAULT_JAVA_OPTS + " -XX:TieredStopAtLevel=1"
    lines = ["| model | evaluator | JIT | first call | 2nd | 3rd | steady (median of last half) "
             "| score_chunk alone (best of 3) |", "|---|---|---|---|---|---|---|---|"]
    for name in args.models.split(","):
        # one run to fill the caches (compiled model, parsed document), as a later job finds them
        subprocess.run([sys.executable, "-c", _RUN, str(paths[name]), "1000", "1"],
                       check=True, capture_output=True)
        for setup, opts in setups.items():
            out = subprocess.run([sys.executable, "-c", _RUN, str(paths[name]), str(args.rows),
                                  str(args.calls)], check=True, capture_output=True, text=True,
                                 env={**os.environ, "PMMLKIT_JAVA_OPTS": opts})
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rates = result["score_batch"]
            steady = sorted(rates[len(rates) // 2:])[len(rates[len(rates) // 2:]) // 2]
            print(name, setup, json.dumps(result), flush=True)
            lines.append(f"| {name} | {result['evaluator'].split('(')[-1].rstrip(')')} | "
                         f"{setup} | {rates[0]:,.0f} | {rates[1]:,.0f} | {rates[2]:,.0f} | "
                         f"{steady:,.0f} | {max(result['score_chunk']):,.0f} |")
    print("\nrows/s of successive calls, fresh process each model\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

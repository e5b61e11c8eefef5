"""The scorer of two source trees side by side: is one slower than the other?

    git worktree add /tmp/base c7554d0
    .venv/bin/python benchmarks/bench_trees.py --tree base=/tmp/base --tree head=. [--repeat 3]

For each of the scorer benchmark's models, ``score_batch`` on 100,000 rows and ``score``
per record on 3,000 records (bench_scorer.py's workers), each call in a fresh process
running the given tree's code (``PYTHONPATH``), the trees alternating, best of ``--repeat``.
The environment pins the path both trees share: ``PMMLKIT_PLAN=off`` and
``PMMLKIT_TRANSPILE=off`` (the interpreter), so the comparison is of the code around the
evaluator. Prints a Markdown table; the results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CALLS = [("pmmlkit score_batch (jpmml)", 100_000, "rows/s"),
         ("pmmlkit score (jpmml)", 3_000, "µs per record")]


def measure(root: Path, contender: str, pmml: Path, rows: int) -> float | None:
    env = {**os.environ, "PYTHONPATH": str(root), "PMMLKIT_PLAN": "off",
           "PMMLKIT_TRANSPILE": "off"}
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_scorer.py"),
                           "--worker", contender, str(pmml), str(rows)],
                          capture_output=True, text=True, env=env, cwd=root, check=False)
    if proc.returncode != 0:
        print(proc.stderr[-500:], file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result.get("rows_per_s") or result.get("us_per_record")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--models", default="logreg,gbm,forest")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    cache = Path(__file__).parent / ".cache"
    best: dict[tuple[str, str, str], float] = {}
    for model in args.models.split(","):
        pmml = cache / f"{model}.pmml"
        for contender, rows, unit in CALLS:
            for _ in range(args.repeat):
                for name, path in trees.items():
                    value = measure(Path(path).resolve(), contender, pmml, rows)
                    if value is None:
                        continue
                    key = (model, contender, name)
                    keep = max if unit == "rows/s" else min
                    best[key] = keep(best.get(key, value), value)
                    print(json.dumps({"model": model, "call": contender, "tree": name,
                                      "value": value}), file=sys.stderr, flush=True)
    names = list(trees)
    print(f"| model | call | {' | '.join(names)} | {names[-1]} ÷ {names[0]} |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for model in args.models.split(","):
        for contender, _, unit in CALLS:
            values = [best.get((model, contender, n)) for n in names]
            if None in values:
                continue
            first, last = values[0], values[-1]
            ratio = last / first if unit == "rows/s" else first / last
            cells = " | ".join(f"{v:,.1f}" for v in values)
            print(f"| {model} | `{contender}` ({unit}) | {cells} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()

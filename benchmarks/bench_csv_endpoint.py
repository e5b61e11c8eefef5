"""The CSV endpoint (``POST /v1/models/NAME:score``) of two source trees, side by side.

    git worktree add /tmp/before <commit> --detach
    .venv/bin/python benchmarks/bench_csv_endpoint.py --tree before=/tmp/before --tree now=. \
        [--tree before2=/tmp/before --tree now2=.]

Each tree's ``pmmlkit serve`` serves the benchmark GBM (100 trees; ``benchmarks/_models.py``)
on 127.0.0.1, one server at a time, on the same two cores. Each server answers the same CSV
bodies of 1,000 and 20,000 rows: 3 warm-up calls, then ``--calls`` timed calls one after
another, for rows/s, and ``--parallel`` concurrent clients for the throughput under load.
Every tree's answers are checked to be byte-identical first.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import httpx
    from _models import benchmark_models

    import pmmlkit
    from pmmlkit.datasets import FEATURES, make_churn

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"pmmlkit-csv-{os.getpid()}"
    repo = folder / "repo"
    pmmlkit.Repository(str(repo)).publish(benchmark_models()["gbm"].read_bytes(), {},
                                          name="gbm")
    bodies = {n: make_churn(n, seed=5)[FEATURES].to_csv(index=False).encode()
              for n in (1_000, 20_000)}
    answers: dict[str, dict[int, bytes]] = {}
    rows = [("tree", "rows a call", "calls in a row (rows/s)",
             f"{args.parallel} at once (rows/s)")]
    for item in args.tree:
        name, _, path = item.partition("=")
        port = free_port()
        tree = Path(path).resolve()
        env = {**os.environ, "PYTHONPATH": str(tree)}  # run from the tree: its pmmlkit first
        help_text = subprocess.run([sys.executable, "-m", "pmmlkit", "serve", "--help"],
                                   env=env, cwd=tree, capture_output=True, text=True).stdout
        extra = ["--grpc-port", "0", "--v2-grpc-port", "0"] if "--grpc-port" in help_text \
            else []
        proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(repo), "--port",
                                 str(port), "--poll", "0", "--log-level", "warning",
                                 "--max-body-mb", "64", *extra], env=env, cwd=tree,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/v1/models/gbm:score"
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            answers[name] = {}
            for n, body in bodies.items():
                for _ in range(3):
                    answers[name][n] = httpx.post(url, content=body, timeout=300).content
                started = time.perf_counter()
                for _ in range(args.calls):
                    httpx.post(url, content=body, timeout=300)
                serial = n * args.calls / (time.perf_counter() - started)
                def post(_: int, url: str = url, body: bytes = body) -> bytes:
                    return httpx.post(url, content=body, timeout=300).content

                with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
                    started = time.perf_counter()
                    list(pool.map(post, range(args.calls)))
                    parallel = n * args.calls / (time.perf_counter() - started)
                rows.append((name, f"{n:,}", f"{serial:,.0f}", f"{parallel:,.0f}"))
                print(" | ".join(rows[-1]), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    first = next(iter(answers.values()))
    same = all(a == first for a in answers.values())
    print(f"answers byte-identical across trees: {same}")
    print("servers ran:", {name: str(Path(p.partition('=')[2]).resolve()) for p in args.tree
                           for name in [p.partition('=')[0]]})
    print("| " + " | ".join(rows[0]) + " |\n|---|---|---|---|")
    print("\n".join("| " + " | ".join(r) + " |" for r in rows[1:]))


if __name__ == "__main__":
    main()

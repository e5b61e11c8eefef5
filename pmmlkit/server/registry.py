"""Which model versions are served, and swapping in new ones without downtime.

Like TensorFlow Serving's model base path: the registry polls the repository, loads a newly
published version in a background thread (sha256 checked against the manifest, verification
records replayed, warmed up), and only then swaps it in, atomically, on the event loop. A
request resolves its version once, when it starts, and finishes on it even if a newer
version arrives meanwhile; the old version's queue drains and is dropped afterwards.

A version that fails to load, whatever the defect (bad checksum, a manifest that is not an
object, failed verification, an evaluator's refusal, an error of pmmlkit's own), is never
served: it is marked failed with its reason, what was serving keeps answering, and every
other model and version loads as before. A version that failed on a storage error is tried
again at the next poll; any other failure is final (a published version never changes).
Versions load in parallel, ``load_workers`` at a time, each served as soon as it is ready.

A listing that fails or comes back empty never unloads anything. A listing that fails, or a
repository root that is not there any more, is a storage problem: recorded once per change
(a log line, :attr:`Registry.storage`), shown by the model status, readiness and metrics,
and cleared by the next listing that succeeds. Every listing starts from a fresh view of the
store (:meth:`pmmlkit.Repository.refresh`): s3fs and other fsspec backends would otherwise
answer from listings cached at start-up and never see a new version.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmmlkit.errors import PmmlkitError, StorageError, VerificationError
from pmmlkit.repository import NAME_PATTERN, Repository
from pmmlkit.scorer.loading import load
from pmmlkit.scorer.model import Model
from pmmlkit.server.batching import Batcher

log = logging.getLogger("pmmlkit.server")

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve: the latest ``latest`` ones, or the ``specific`` ones."""

    latest: int = 1
    specific: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """``latest``, ``latest:N``, ``all`` or a comma-separated list of versions."""
        text = text.strip().lower()
        if text in ("", "latest"):
            return cls()
        if text == "all":
            return cls(latest=10**9)
        if text.startswith("latest:") and text[7:].isascii() and text[7:].isdigit() \
                and int(text[7:]) > 0:
            return cls(latest=int(text[7:]))
        parts = [p.strip() for p in text.split(",")]
        if all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
            return cls(latest=0, specific=tuple(sorted({int(p) for p in parts})))
        raise ValueError(f"version policy {text!r}: use latest, latest:N, all or a list "
                         "of versions such as 3,4")

    def choose(self, published: list[int]) -> list[int]:
        if self.specific:
            return [v for v in published if v in self.specific]
        return published[-self.latest:] if self.latest else []


@dataclass
class VersionStatus:
    """TF Serving's ``ModelVersionStatus``: a state and, on failure, an error."""

    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""
    #: failed on a storage error: loading is tried again at the next poll
    retry: bool = False

    def to_dict(self, version: int) -> dict[str, Any]:
        return {"version": str(version), "state": self.state,
                "status": {"error_code": self.error_code, "error_message": self.error_message}}


@dataclass
class LoadedVersion:
    name: str
    version: int
    model: Model
    batcher: Batcher


@dataclass
class ServedModel:
    name: str
    versions: dict[int, LoadedVersion] = field(default_factory=dict)
    status: dict[int, VersionStatus] = field(default_factory=dict)

    def latest(self) -> LoadedVersion | None:
        return self.versions[max(self.versions)] if self.versions else None


@dataclass
class StorageHealth:
    """Whether the repository could be listed at the last poll, and since when not."""

    ok: bool = True
    error: str | None = None
    #: when the current failure began (time.time()), None while ok
    since: float | None = None
    #: listings failed since the server started
    failures: int = 0
    last_success: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error,
                "since": None if self.since is None else _iso(self.since),
                "failures": self.failures,
                "last_success": None if self.last_success is None else _iso(
                    self.last_success)}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def default_load_workers() -> int:
    """Versions loaded at once: the machine's cores, from 2 to 8 (a load is half parsing
    and compiling in the JVM, half waiting on storage)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(2, min(8, cores))


class Registry:
    """The served models of one repository; see the module docstring."""

    def __init__(self, repo: str, *, names: list[str] | None, policy: VersionPolicy,
                 labels: dict[str, dict[str, int]], backend: str | None,
                 make_batcher: Callable[[str, Model], Batcher],
                 on_load: Callable[[str, int, bool], None] | None = None,
                 on_storage: Callable[[bool], None] | None = None,
                 load_workers: int | None = None):
        self.repository = Repository(repo)
        self._names = names
        self._policy = policy
        #: the labels given (--label) win over the repository's stored ones
        self._given_labels = labels
        self.labels: dict[str, dict[str, int]] = {k: dict(v) for k, v in labels.items()}
        self._backend = backend
        self._make_batcher = make_batcher
        self._on_load = on_load
        self.models: dict[str, ServedModel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_storage = on_storage
        self._load_workers = load_workers or default_load_workers()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._sync_lock = threading.Lock()
        #: swaps of a model's served versions, and the collector's freeze, one at a time
        self._install_lock = threading.Lock()
        self.first_sync = threading.Event()
        self.storage = StorageHealth()
        #: why the loader thread ended, if it ever ended otherwise than by stop()
        self.loader_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop, poll: float) -> None:
        """Load what the policy wants, then poll every ``poll`` seconds (0: never again)."""
        self._loop = loop
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._load_workers, thread_name_prefix="pmmlkit-model-load")
        self._thread = threading.Thread(target=self._poll, args=(poll,),
                                        name="pmmlkit-model-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for served in self.models.values():
            for loaded in served.versions.values():
                loaded.batcher.close()

    def _poll(self, poll: float) -> None:
        """The loader thread: a failure of one sync is logged and the next poll runs; should
        the thread end any other way, :meth:`loader_alive` says so (readiness, metrics)."""
        try:
            while not self._stop.is_set():
                try:
                    self.sync()
                except Exception as exc:  # never let one defect end the loader
                    log.exception("the model loader's sync failed; polling goes on")
                    self._storage_failed(f"{type(exc).__name__}: {exc}")
                self.first_sync.set()
                if poll <= 0 or self._stop.wait(poll):
                    return
        except BaseException as exc:
            self.loader_error = f"the model loader stopped: {type(exc).__name__}: {exc}"
            log.critical("%s; no new version will load until a restart", self.loader_error)
            raise

    def loader_alive(self) -> bool:
        return self.loader_error is None

    # -- storage health ----------------------------------------------------------------------
    def _storage_failed(self, message: str) -> None:
        health = self.storage
        if health.ok or health.error != message:  # one line per change, not per poll
            log.warning("the repository %s cannot be read: %s (serving what is loaded)",
                        self.repository.root, message)
        self.storage = StorageHealth(False, message, health.since or time.time(),
                                     health.failures + 1, health.last_success)
        if self._on_storage:
            self._on_storage(False)

    def _storage_ok(self) -> None:
        health = self.storage
        if not health.ok:
            log.warning("the repository %s can be read again (it could not since %s)",
                        self.repository.root, _iso(health.since or time.time()))
        self.storage = StorageHealth(True, None, None, health.failures, time.time())
        if self._on_storage:
            self._on_storage(True)

    # -- what is served --------------------------------------------------------------------
    def ready(self) -> bool:
        """What was asked for is served: the first listing happened, the loader runs, every
        model named (``--model``) has a version available, and at least one model does.
        A model not named whose versions all failed for good (a broken manifest or
        document), or that has no version to serve (all deprecated), does not hold the
        others back; it is listed as such by the status and the repository index."""
        if not self.first_sync.is_set() or not self.models or not self.loader_alive():
            return False
        if self._names is not None and any(
                n not in self.models or not self.models[n].versions for n in self._names):
            return False
        if not any(served.versions for served in self.models.values()):
            return False
        return not any(self._pending(served) for served in self.models.values())

    @staticmethod
    def _pending(served: ServedModel) -> bool:
        """Nothing served yet, and a version still loading or to be tried again."""
        return not served.versions and any(
            st.state in ("START", "LOADING") or st.retry for st in served.status.values())

    def index(self) -> list[dict[str, Any]]:
        """Every model and version known, with its state (KServe's repository index)."""
        out = []
        for name in sorted(self.models):
            served = self.models[name]
            for version in sorted(served.status):
                status = served.status[version]
                out.append({"name": name, "version": str(version), "state": status.state,
                            "reason": status.error_message})
        return out

    def resolve(self, name: str, version: int | None = None,
                label: str | None = None) -> LoadedVersion | None:
        served = self.models.get(name)
        if served is None:
            return None
        if label is not None:
            version = self.labels.get(name, {}).get(label)
            if version is None:
                return None
        if version is None:
            return served.latest()
        return served.versions.get(version)

    # -- loading ---------------------------------------------------------------------------
    def sync(self) -> None:
        """List the repository once; load (in parallel) and swap in what the policy wants."""
        with self._sync_lock:
            try:
                self.repository.refresh()
                self.repository.check_present()
                names = self.repository.names()
            except Exception as exc:  # keep serving what is loaded
                self._storage_failed(str(exc) if isinstance(exc, PmmlkitError)
                                     else f"{type(exc).__name__}: {exc}")
                return
            if self._names is not None:
                names = [n for n in names if n in self._names]
            plans: list[tuple[ServedModel, set[int]]] = []
            failed = False
            for name in names:
                if not NAME_PATTERN.match(name):
                    continue
                try:
                    plans.append(self._plan(name))
                except Exception as exc:
                    failed = True
                    self._storage_failed(f"listing {name}: {exc}")
            if not failed:
                self._storage_ok()
            loads = [(served, v) for served, wanted in plans
                     for v in sorted(wanted - set(served.versions))
                     if self._should_load(served, v)]
            for served, version in loads:
                served.status[version] = VersionStatus("LOADING")
            if self._pool is None or len(loads) <= 1:
                for served, version in loads:
                    self._load(served, version)
            else:
                futures = [self._pool.submit(self._load, served, version)
                           for served, version in loads]
                concurrent.futures.wait(futures)
            for served, wanted in plans:
                self._drop_stale(served, wanted)

    def _plan(self, name: str) -> tuple[ServedModel, set[int]]:
        """The versions of ``name`` the policy wants (raises when listing fails)."""
        published = self.repository.versions(name)
        active = self.repository.versions(name, deprecated=False)
        stored = self.repository.labels(name)
        self.labels[name] = {**stored, **self._given_labels.get(name, {})}
        # the latest-versions policy passes over deprecated versions; a version named
        # (--versions 3,4) or labelled is served as asked
        wanted = set(self._policy.choose(published if self._policy.specific else active))
        wanted |= {v for v in self.labels[name].values() if v in published}
        return self.models.setdefault(name, ServedModel(name)), wanted

    @staticmethod
    def _should_load(served: ServedModel, version: int) -> bool:
        status = served.status.get(version)
        # failed before: a published version never changes (but storage may come back)
        return not (status is not None and status.state == "END"
                    and status.error_code != "OK" and not status.retry)

    def _drop_stale(self, served: ServedModel, wanted: set[int]) -> None:
        if not wanted:
            return  # an empty listing never unloads what is served
        stale = [v for v in served.versions if v not in wanted]
        if stale and any(v in served.versions for v in wanted):
            with self._install_lock:
                self._install(served, {v: lv for v, lv in served.versions.items()
                                       if v not in stale})
            for v in stale:
                served.status[v] = VersionStatus("END")

    def _load(self, served: ServedModel, version: int) -> None:
        """Load, verify, warm up and install one version; any failure marks it failed with
        its reason (never raises: one bad version must not stop the others)."""
        status = served.status[version] = VersionStatus("LOADING")
        started = time.perf_counter()
        try:
            ref = self.repository.get(served.name, version)
            model = load(ref.ref, backend=self._backend, verify=True)
            _warm_up(model)
            loaded = self._on_loop(lambda: LoadedVersion(
                served.name, version, model, self._make_batcher(served.name, model)))
            with self._install_lock:
                self._install(served, {**served.versions, version: loaded})
                status.state = "AVAILABLE"
                # a loaded model's objects must never be collected in the middle of requests
                # (a full collection over them is a latency spike): collect once now and
                # move what survives out of the collector's generations. Unfreeze first, so
                # the objects of versions unloaded since the last load can be collected.
                gc.unfreeze()
                gc.collect()
                gc.freeze()
        except Exception as exc:
            self._failed(served, version, status, exc)
            return
        log.info("%s version %s available (%.1f s, %s)", served.name, version,
                 time.perf_counter() - started, model.evaluator)
        if self._on_load:
            self._on_load(served.name, version, True)

    def _failed(self, served: ServedModel, version: int, status: VersionStatus,
                exc: Exception) -> None:
        status.state = "END"
        status.retry = isinstance(exc, StorageError)
        if isinstance(exc, PmmlkitError):
            status.error_message = str(exc)
            status.error_code = ("FAILED_PRECONDITION" if isinstance(exc, VerificationError)
                                 else "UNAVAILABLE" if status.retry else "UNKNOWN")
            log.error("%s version %s was not loaded: %s%s", served.name, version, exc,
                      " (tried again at the next poll)" if status.retry else "")
        else:  # a defect of pmmlkit's own: still only this version fails
            status.error_code = "INTERNAL"
            status.error_message = f"{type(exc).__name__}: {exc}"
            log.exception("%s version %s was not loaded", served.name, version)
        if self._on_load:
            self._on_load(served.name, version, False)

    def _install(self, served: ServedModel, versions: dict[int, LoadedVersion]) -> None:
        """Swap the served versions in one assignment; close the queues of those dropped."""
        dropped = [lv for v, lv in served.versions.items() if versions.get(v) is not lv]
        served.versions = versions
        for loaded in dropped:
            self._on_loop(loaded.batcher.close)

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the event loop (batchers belong to it) and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the registry is not started")

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()


def _warm_up(model: Model, budget: float = 0.5, rounds: int = 50) -> None:
    """Score the model's verification records ``rounds`` times, or for ``budget`` seconds
    if that comes first (JIT, first-call costs), before it takes traffic; a model without
    records is warmed by its first requests."""
    records = model.schema.verification
    if records is None or not records.rows:
        return
    from pmmlkit.scorer.validation import object_column

    columns = {name: object_column([r.get(name) for r in records.rows])
               for name in model.schema.input_names}
    deadline = time.perf_counter() + budget
    for _ in range(rounds):  # the path larger requests take (the batcher's)
        model.score_columns(columns, len(records.rows), parallelism=1)
        if time.perf_counter() >= deadline:
            return

"""Which model versions are served, and swapping in new ones without downtime.

Like TensorFlow Serving's model base path: the registry polls the repository, loads a newly
published version in a background thread (sha256 checked against the manifest, verification
records replayed, warmed up), and only then swaps it in, atomically, on the event loop. A
request resolves its version once, when it starts, and finishes on it even if a newer
version arrives meanwhile; the old version's queue drains and is dropped afterwards.

A version that fails to load (bad checksum, failed verification, evaluator refusal) is never
served: what was serving keeps answering and the status reports the failure. A listing that
fails or comes back empty never unloads anything.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmmlkit.errors import PmmlkitError, VerificationError
from pmmlkit.repository import NAME_PATTERN, Repository
from pmmlkit.scorer.model import Model, load
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


class Registry:
    """The served models of one repository; see the module docstring."""

    def __init__(self, repo: str, *, names: list[str] | None, policy: VersionPolicy,
                 labels: dict[str, dict[str, int]], backend: str | None,
                 make_batcher: Callable[[str, Model], Batcher],
                 on_load: Callable[[str, int, bool], None] | None = None):
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
        self._sync_lock = threading.Lock()
        self.first_sync = threading.Event()
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop, poll: float) -> None:
        """Load what the policy wants, then poll every ``poll`` seconds (0: never again)."""
        self._loop = loop
        self._thread = threading.Thread(target=self._poll, args=(poll,),
                                        name="pmmlkit-model-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for served in self.models.values():
            for loaded in served.versions.values():
                loaded.batcher.close()

    def _poll(self, poll: float) -> None:
        while not self._stop.is_set():
            self.sync()
            self.first_sync.set()
            if poll <= 0 or self._stop.wait(poll):
                return

    # -- what is served --------------------------------------------------------------------
    def ready(self) -> bool:
        """What was asked for is served: the first listing happened, every model named
        (``--model``) is there, at least one model is, and each has a version available."""
        if not self.first_sync.is_set() or not self.models:
            return False
        if self._names is not None and any(n not in self.models for n in self._names):
            return False
        return all(served.versions for served in self.models.values())

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
        """List the repository once; load and swap in what the policy wants."""
        with self._sync_lock:
            try:
                names = self.repository.names()
            except PmmlkitError as exc:  # keep serving what is loaded
                self.last_error = str(exc)
                log.warning("listing %s failed: %s", self.repository.root, exc)
                return
            if self._names is not None:
                names = [n for n in names if n in self._names]
            for name in names:
                if NAME_PATTERN.match(name):
                    self._sync_model(name)

    def _sync_model(self, name: str) -> None:
        try:
            published = self.repository.versions(name)
            active = self.repository.versions(name, deprecated=False)
            stored = self.repository.labels(name)
        except PmmlkitError as exc:
            log.warning("listing %s failed: %s", name, exc)
            return
        self.labels[name] = {**stored, **self._given_labels.get(name, {})}
        # the latest-versions policy passes over deprecated versions; a version named
        # (--versions 3,4) or labelled is served as asked
        wanted = set(self._policy.choose(published if self._policy.specific else active))
        wanted |= {v for v in self.labels[name].values() if v in published}
        served = self.models.setdefault(name, ServedModel(name))
        for version in sorted(wanted - set(served.versions)):
            status = served.status.get(version)
            if status is not None and status.state == "END" and status.error_code != "OK":
                continue  # failed before: a published version never changes
            self._load(served, version)
        if not wanted:
            return  # an empty listing never unloads what is served
        stale = [v for v in served.versions if v not in wanted]
        if stale and any(v in served.versions for v in wanted):
            self._install(served, {v: lv for v, lv in served.versions.items()
                                   if v not in stale})
            for v in stale:
                served.status[v] = VersionStatus("END")

    def _load(self, served: ServedModel, version: int) -> None:
        status = served.status[version] = VersionStatus("LOADING")
        started = time.perf_counter()
        try:
            ref = self.repository.get(served.name, version)
            model = load(ref.ref, backend=self._backend, verify=True)
            _warm_up(model)
        except PmmlkitError as exc:
            status.state, status.error_message = "END", str(exc)
            status.error_code = ("FAILED_PRECONDITION" if isinstance(exc, VerificationError)
                                 else "UNKNOWN")
            log.error("%s version %s was not loaded: %s", served.name, version, exc)
            if self._on_load:
                self._on_load(served.name, version, False)
            return
        loaded = self._on_loop(lambda: LoadedVersion(served.name, version, model,
                                                     self._make_batcher(served.name, model)))
        self._install(served, {**served.versions, version: loaded})
        status.state = "AVAILABLE"
        # a full collection over the loaded model's objects took 10-15 ms in the middle of
        # requests (p99 15.8 ms at concurrency 1): collect once now and move what survives
        # out of the collector's generations. Unfreeze first, so the objects of versions
        # unloaded since the last load can still be collected.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        log.info("%s version %s available (%.1f s, %s)", served.name, version,
                 time.perf_counter() - started, model.evaluator)
        if self._on_load:
            self._on_load(served.name, version, True)

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


def _warm_up(model: Model, budget: float = 0.5) -> None:
    """Score the model's verification records a few times (JIT, first-call costs) before it
    takes traffic; a model without records is warmed by its first requests."""
    records = model.schema.verification
    if records is None or not records.rows:
        return
    from pmmlkit.scorer.validation import object_column

    columns = {name: object_column([r.get(name) for r in records.rows])
               for name in model.schema.input_names}
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline:  # the path larger requests take (the batcher's)
        model.score_columns(columns, len(records.rows), parallelism=1)

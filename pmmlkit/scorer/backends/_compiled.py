"""Compiled (transpiled) JPMML models: built once per PMML, cached on disk, off the scoring path.

JPMML-Transpiler turns a model into Java bytecode, several times faster on tree ensembles, but
compiling a large ensemble can take minutes (a 30-iteration HistGradientBoosting with many
one-hot categories took over 10 minutes). So:

- scoring starts at once with the interpreting evaluator;
- the compiled model is built in a background thread (``transpile=None``, the default, for
  tree models on a JDK) or at load (``transpile=True``), and written as a jar to a cache
  folder keyed by the PMML's sha256 and the JPMML versions, so every later process (a CLI
  run, a server, a Spark executor) loads it in milliseconds instead of compiling again;
- a compilation that fails or exceeds its time budget (``PMMLKIT_COMPILE_TIMEOUT`` seconds,
  default 60) leaves the interpreter in place with one warning;
- the compiled model replaces the interpreter only after it reproduced the interpreter's
  results on a chunk of real rows (see :meth:`pmmlkit.scorer.backends.base.Handle.offer`),
  because the transpiler can disagree with the interpreter (measured: a TreeModel with
  ``missingValueStrategy="none"`` whose node score is not its distribution's mode);
- a jar that passed that check is marked verified, and later processes load it directly,
  without parsing the PMML at all: 0.2 s instead of ~1.8 s for JPMML's first XML parse.

The cache folder is ``PMMLKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pmmlkit``, else
``~/.cache/pmmlkit``; :func:`clear_cache` empties it.

Compiles are bounded per machine, across processes: a worker compiles only while it holds
one of ``PMMLKIT_COMPILE_JOBS`` slots (default: one fewer than the machine's cores, at least
one), each an exclusive ``flock`` on a file in the cache folder (the kernel releases it when
the worker ends, however it ends). A worker waiting for a slot holds no JVM; its time budget
starts when it gets one. (Measured before the bound: 20 GBMs loaded on an empty cache
started 15 compiler JVMs at once on 2 cores, 4.26 GiB.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pmmlkit import cache
from pmmlkit.cache import cache_dir
from pmmlkit.scorer.backends._jars import (
    _ERROR_MARK,
    _describe,
    _failed_path,
    _jar_evaluator,
    _lock_path,
    _log_path,
    _running_path,
    cached_jar,
    compile_jar,
    compile_slot,
    load_jar,
    timeout,
)


def clear_cache() -> int:
    """Delete every cached compiled model and parsed document; returns how many compiled
    models were deleted."""
    folder = cache_dir() / "compiled"
    count = len(list(folder.glob("*.jar"))) if folder.is_dir() else 0
    # also forgets failures: a new JPMML or JDK may compile what failed before
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(cache_dir() / "parsed", ignore_errors=True)
    _forget()
    return count


def _forget() -> None:
    """Forget this process's compilations (their jars are gone)."""
    with _registry_lock:
        _registry.clear()


class Compilation:
    """One model's compilation: at once in this process (:meth:`run`), or in a separate
    worker process (:meth:`start`) that outlives a short job, fills the cache for the next
    one, and is killed when it exceeds its budget.

    ``build`` returns the loaded PMML object graph to compile, prepared the way the
    interpreter's was; ``pmml`` is the document the worker compiles the same way.
    """

    def __init__(self, jpype: Any, sha256: str, source: str, pmml: bytes,
                 build: Callable[[], Any]):
        self._jpype = jpype
        self.sha256 = sha256
        self.source = source
        self._pmml = pmml
        self._build = build
        self.budget = timeout()
        self.started = time.monotonic()
        self.evaluator: Any = None
        self.path: Path | None = None
        self.error: str | None = None
        self.from_cache = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._worker: subprocess.Popen[bytes] | None = None
        self._warned = False

    def run(self) -> None:
        """Load the cached jar, or compile and cache it here; never raises."""
        try:
            path = cached_jar(self.sha256)
            if path is not None:
                self.from_cache = True
            else:
                with compile_slot():
                    path = cached_jar(self.sha256) or compile_jar(self._jpype, self._build(),
                                                                  self.sha256)
            self._take(path)
        except Exception as exc:  # a Java exception, or the cache folder unwritable
            self.error = _describe(exc)
        finally:
            self._done.set()

    def start(self) -> None:
        """Take the cached jar, or start a worker process compiling it (unless another
        process already is, or one already failed on it); :meth:`poll` picks the jar up when
        it appears."""
        path = cached_jar(self.sha256)
        if path is not None:
            self.from_cache = True
            self.run()
            return
        failed = _failed_path(self.sha256)
        if failed.is_file():  # the process that tried said why; this one stays quiet
            self.error = failed.read_text(errors="replace").strip()
            self._warned = True
            self._done.set()
            return
        try:
            self._worker = _start_worker(self._pmml, self.sha256, self.budget)
        except OSError as exc:
            self.error = f"cannot start the compiler process: {exc}"
            self._done.set()

    def _take(self, path: Path) -> None:
        self.evaluator = load_jar(self._jpype, path)
        self.path = path

    def _check(self) -> None:
        """Pick up the worker's jar, or its failure."""
        with self._lock:
            if self._done.is_set():
                return
            path = cached_jar(self.sha256)
            try:
                if path is not None:
                    self._take(path)
                    self._done.set()
                    return
            except Exception as exc:
                self.error = _describe(exc)
                self._done.set()
                return
            worker = self._worker
            ended = (worker.poll() is not None if worker is not None
                     else not _lock_path(self.sha256).exists())  # another process's compile
            if not ended:
                return
            # the jar may have been put in place between the look above and the worker's
            # exit: look again before calling it a failure (a race seen under load)
            path = cached_jar(self.sha256)
            if path is not None:
                try:
                    self._take(path)
                except Exception as exc:
                    self.error = _describe(exc)
            else:
                self.error = _worker_error(self.sha256,
                                           worker.returncode if worker is not None else -1)
            self._done.set()

    def poll(self) -> Any:
        """The compiled evaluator once it is ready and in budget, else None (warning once
        on a failure or when the budget is exceeded)."""
        self._check()
        if not self._done.is_set():
            if self._over_budget():
                if self._worker is not None and self._worker.poll() is None:
                    self._worker.kill()
                self._warn(f"compiling took longer than its budget of {self.budget:g} s "
                           "(PMMLKIT_COMPILE_TIMEOUT)")
            return None
        if self.error is not None:
            self._warn(f"JPMML could not transpile the model ({self.error})")
            return None
        if self._warned:
            return None
        return self.evaluator

    def mark_verified(self) -> None:
        """Record that this jar reproduced the interpreter, so later processes start from it
        (best effort: a read-only cache only costs the next process a parse)."""
        if self.path is not None:
            cache.mark_verified(self.sha256, _jar_evaluator(self.path))

    def mark_rejected(self, reason: str) -> None:
        """Record that this jar disagreed with the interpreter: it is deleted, and later
        processes neither use it nor compile again (until :func:`clear_cache`)."""
        self.error, self._warned = reason, True
        if self.path is not None:
            with contextlib.suppress(OSError):
                _failed_path(self.sha256).write_text(reason + "\n")
                self.path.unlink()

    @property
    def abandoned(self) -> bool:
        """True once it failed or ran out of time (the warning has been given)."""
        return self._warned

    def _over_budget(self) -> bool:
        """Compiling for longer than the budget: in this process since it started; in a
        worker since it got its slot (waiting for one is not compiling)."""
        if self._worker is None:
            return time.monotonic() - self.started > self.budget
        try:
            began = _running_path(self.sha256).stat().st_mtime
        except OSError:
            return False  # queued for a slot (or just ended: _check sees it)
        return time.time() - began > self.budget

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the compiled model is ready or failed, over budget, or ``timeout``
        seconds passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set() and not self._over_budget() and (
                deadline is None or time.monotonic() < deadline):
            self._check()
            self._done.wait(0.05)

    def _warn(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{self.source}: {reason}; scoring with the interpreting evaluator",
                          stacklevel=4)


def _start_worker(pmml: bytes, sha256: str, budget: float) -> subprocess.Popen[bytes] | None:
    """Start ``python -m pmmlkit.scorer.backends._compiled`` on ``pmml`` (given on stdin),
    unless another process holds the compile lock (a lock older than the budget is stale)."""
    lock = _lock_path(sha256)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            if not _stale(lock, budget):
                return None
            lock.unlink(missing_ok=True)
    else:
        return None
    with open(_log_path(sha256), "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "pmmlkit.scorer.backends._compile_worker", sha256, str(budget)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True)
    with contextlib.suppress(OSError):
        lock.write_text(str(worker.pid))
    assert worker.stdin is not None
    worker.stdin.write(pmml)
    worker.stdin.close()
    # reap it whenever it ends, even if nothing polls this compilation again
    threading.Thread(target=worker.wait, name="pmmlkit-compile-reaper", daemon=True).start()
    return worker


def _stale(lock: Path, budget: float) -> bool:
    """A compile lock whose worker is gone (it may wait for a slot for a long time, alive)."""
    try:
        text = lock.read_text().strip()
        age = time.time() - lock.stat().st_mtime
    except OSError:
        return True
    if text.isdigit():
        try:
            os.kill(int(text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return age >= budget + 10  # written by a worker that never recorded its pid


def _worker_error(sha256: str, code: int) -> str:
    try:
        lines = _log_path(sha256).read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    marked = [line for line in lines if line.startswith(_ERROR_MARK)]
    if marked:
        return marked[-1][len(_ERROR_MARK):].strip()
    return f"the compiler process exited with code {code}" + (f": {lines[-1]}" if lines else "")


_registry: dict[str, Compilation] = {}
_registry_lock = threading.Lock()
cache.on_clear(_forget)


def obtain(jpype: Any, sha256: str, source: str, pmml: bytes, build: Callable[[], Any], *,
           background: bool) -> Compilation:
    """The one compilation of a PMML in this process: loading the same model again (or from
    many threads) shares it rather than compiling again; a failed one is retried."""
    with _registry_lock:
        existing = _registry.get(sha256)
        if existing is not None and existing.error is None and not existing.abandoned:
            return existing
        compilation = Compilation(jpype, sha256, source, pmml, build)
        _registry[sha256] = compilation
    if background:
        compilation.start()
    else:
        compilation.run()
    return compilation

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
  ``missingValueStrategy="none"`` whose node score is not its distribution's mode).

The cache folder is ``PMMLKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pmmlkit``, else
``~/.cache/pmmlkit``; :func:`clear_cache` empties it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pmmlkit.errors import ConfigurationError

#: bump when what pmmlkit adds to a document before compiling changes
_FORMAT = "1"
DEFAULT_TIMEOUT = 60.0


def cache_dir() -> Path:
    """The folder compiled models are cached in."""
    configured = os.environ.get("PMMLKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pmmlkit"


def clear_cache() -> int:
    """Delete every cached compiled model; returns how many were deleted."""
    folder = cache_dir() / "compiled"
    count = len(list(folder.glob("*.jar"))) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    with _registry_lock:
        _registry.clear()
    return count


def timeout() -> float:
    """The compile time budget in seconds (``PMMLKIT_COMPILE_TIMEOUT``)."""
    text = os.environ.get("PMMLKIT_COMPILE_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigurationError(f"PMMLKIT_COMPILE_TIMEOUT={text!r} is not a number of "
                                 "seconds") from exc
    if value <= 0:
        raise ConfigurationError(f"PMMLKIT_COMPILE_TIMEOUT={text!r} must be positive")
    return value


def _key(sha256: str) -> str:
    return f"{sha256}-jpmml{version('jpmml-evaluator')}-f{_FORMAT}"


def cached_jar(sha256: str) -> Path | None:
    """A compiled jar of this PMML in the cache, if there is one."""
    found = sorted((cache_dir() / "compiled").glob(f"{_key(sha256)}-*.jar"))
    return found[0] if found else None


_PACKAGE = "pmmlkit_compiled"


def compile_jar(jpype: Any, pmml: Any, sha256: str) -> Path:
    """Transpile a loaded PMML object graph into a jar in the cache (written atomically).

    Each compilation gets its own class name: a JVM cannot define one name twice, and the
    same PMML may be compiled again in one process (after :func:`clear_cache`).
    """
    util = jpype.JClass("org.jpmml.transpiler.TranspilerUtil")
    code = util.translate(pmml, f"{_PACKAGE}.Model_{sha256[:16]}_{uuid.uuid4().hex[:12]}")
    util.compile(code)
    # a new file name each time: the JVM caches open jars by URL, so a jar rewritten under a
    # name it has opened before would serve the old jar's resources
    target = cache_dir() / "compiled" / f"{_key(sha256)}-{uuid.uuid4().hex[:12]}.jar"
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    stream = jpype.JClass("java.io.FileOutputStream")(str(temp))
    try:
        util.archive(code, stream)
    finally:
        stream.close()
    os.replace(temp, target)
    return target


def _main_class(path: Path) -> str:
    """The transpiled PMML class of a jar: the one top-level class of pmmlkit's package."""
    import zipfile

    with zipfile.ZipFile(path) as jar:
        found = [n for n in jar.namelist() if n.startswith(f"{_PACKAGE}/") and "$" not in n
                 and n.endswith(".class")]
    if len(found) != 1:
        raise ValueError(f"{path} is not a jar pmmlkit compiled (classes: {found})")
    return found[0][:-len(".class")].replace("/", ".")


def load_jar(jpype: Any, path: Path) -> Any:
    """Build an evaluator from a cached jar."""
    url = jpype.JClass("java.io.File")(str(path)).toURI().toURL()
    parent = jpype.JClass("org.dmg.pmml.PMML").class_.getClassLoader()
    loader = jpype.JClass("java.net.URLClassLoader")(jpype.JArray(jpype.JClass("java.net.URL"))([url]),
                                                     parent)
    pmml = loader.loadClass(_main_class(path)).getDeclaredConstructor().newInstance()
    return jpype.JClass("org.jpmml.evaluator.ModelEvaluatorBuilder")(pmml).build()


class Compilation:
    """One model's compilation, run in the background or at once.

    ``build`` returns the loaded PMML object graph to compile (already prepared the way the
    interpreter's was); ``ready`` receives the compiled evaluator.
    """

    def __init__(self, jpype: Any, sha256: str, source: str, build: Callable[[], Any]):
        self._jpype = jpype
        self.sha256 = sha256
        self.source = source
        self._build = build
        self.budget = timeout()
        self.started = time.monotonic()
        self.evaluator: Any = None
        self.error: str | None = None
        self.from_cache = False
        self._done = threading.Event()
        self._warned = False

    def run(self) -> None:
        """Load the cached jar, or compile and cache it; never raises."""
        try:
            path = cached_jar(self.sha256)
            if path is not None:
                self.from_cache = True
            else:
                path = compile_jar(self._jpype, self._build(), self.sha256)
            self.evaluator = load_jar(self._jpype, path)
        except Exception as exc:  # a Java exception, or the cache folder unwritable
            self.error = _describe(exc)
        finally:
            self._done.set()

    def start(self) -> None:
        """Compile in a daemon thread (attached to the JVM as a daemon, so exit never waits)."""
        def target() -> None:
            thread = self._jpype.JClass("java.lang.Thread")
            thread.attachAsDaemon()
            # javac and the jar's class loader look up the context class loader, which is
            # unset on a thread attached from Python
            thread.currentThread().setContextClassLoader(
                self._jpype.JClass("java.lang.ClassLoader").getSystemClassLoader())
            self.run()

        threading.Thread(target=target, name=f"pmmlkit-compile-{self.sha256[:8]}",
                         daemon=True).start()

    def poll(self) -> Any:
        """The compiled evaluator once it is ready and in budget, else None (warning once
        on a failure or when the budget is exceeded)."""
        if not self._done.is_set():
            if time.monotonic() - self.started > self.budget:
                self._warn(f"compiling took longer than its budget of {self.budget:g} s "
                           "(PMMLKIT_COMPILE_TIMEOUT)")
            return None
        if self.error is not None:
            self._warn(f"JPMML could not transpile the model ({self.error})")
            return None
        if self._warned:
            return None
        return self.evaluator

    @property
    def abandoned(self) -> bool:
        """True once it failed or ran out of time (the warning has been given)."""
        return self._warned

    def wait(self, timeout: float | None = None) -> None:
        remaining = self.budget - (time.monotonic() - self.started)
        self._done.wait(max(0.0, remaining if timeout is None else min(timeout, remaining)))

    def _warn(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{self.source}: {reason}; scoring with the interpreting evaluator",
                          stacklevel=4)


_registry: dict[str, Compilation] = {}
_registry_lock = threading.Lock()


def obtain(jpype: Any, sha256: str, source: str, build: Callable[[], Any], *,
           background: bool) -> Compilation:
    """The one compilation of a PMML in this process: loading the same model again (or from
    many threads) shares it rather than compiling again; a failed one is retried."""
    with _registry_lock:
        existing = _registry.get(sha256)
        if existing is not None and existing.error is None and not existing.abandoned:
            return existing
        compilation = Compilation(jpype, sha256, source, build)
        _registry[sha256] = compilation
    if background:
        compilation.start()
    else:
        compilation.run()
    return compilation


def _describe(exc: BaseException) -> str:
    get_class = getattr(exc, "getClass", None)
    if get_class is not None:
        message = exc.getMessage()  # type: ignore[attr-defined]
        name = str(get_class().getSimpleName())
        return f"{name}: {message}" if message else name
    return f"{type(exc).__name__}: {exc}"

"""The compile cache on disk: jar names keyed by the PMML and the code that prepares it,
the verified marks, the per-machine compile slots, the worker's marker files, and the
modes and budget of a compile (``PMMLKIT_TRANSPILE``, ``PMMLKIT_COMPILE_TIMEOUT``,
``PMMLKIT_COMPILE_JOBS``). :mod:`pmmlkit.scorer.backends._compiled` runs compilations
over it."""


from __future__ import annotations

import contextlib
import os
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pmmlkit import cache
from pmmlkit.cache import cache_dir, source_tag, write_atomic
from pmmlkit.errors import ConfigurationError, StorageError

#: bump when what pmmlkit adds to a document before compiling changes
_FORMAT = "2"
DEFAULT_TIMEOUT = 60.0


def compile_jobs() -> int:
    """Compiles that may run at once on this machine (``PMMLKIT_COMPILE_JOBS``)."""
    text = os.environ.get("PMMLKIT_COMPILE_JOBS", "").strip()
    if not text:
        return max(1, (os.cpu_count() or 2) - 1)
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise ConfigurationError(f"PMMLKIT_COMPILE_JOBS={text!r} is not a whole number of at "
                                 "least 1")
    return jobs


def _slots_dir() -> Path:
    return cache_dir() / "compiled" / "slots"


@contextlib.contextmanager
def compile_slot(poll: float = 0.1) -> Any:
    """Wait for one of the machine's compile slots and hold it for the block (no bound
    where the OS has no ``flock``)."""
    try:
        import fcntl
    except ImportError:
        yield None
        return
    jobs = compile_jobs()
    folder = _slots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for i in range(jobs):
            fd = os.open(folder / f"slot-{i}", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                yield i
            finally:
                os.close(fd)  # releases the lock
            return
        time.sleep(poll)


_MODES = {"auto": None, "background": None, "on": True, "off": False}


def default_mode(ensemble: bool) -> bool | None:
    """What ``transpile=None`` means, from ``PMMLKIT_TRANSPILE``: ``auto`` (default) compiles
    tree models and ensembles in the background, ``background`` any model in the background,
    ``on`` any model at load, ``off`` nothing. Returns None (background), True or False."""
    text = os.environ.get("PMMLKIT_TRANSPILE", "auto").strip().lower()
    if text not in _MODES:
        raise ConfigurationError(f"PMMLKIT_TRANSPILE={text!r}: use one of {', '.join(_MODES)}")
    if text == "auto":
        return None if ensemble else False
    return _MODES[text]


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


def cache_key(sha256: str) -> str:
    """A cache entry's name: the PMML's sha256, JPMML's version and what pmmlkit adds to the
    document (``_FORMAT``, and the source of the modules that decide it, so a changed rule
    never meets an entry built under the old one)."""
    here = Path(__file__).parent
    tag = source_tag(*sorted((here.parents[1] / "schema").glob("*.py")), here / "jpmml.py",
                     Path(__file__))
    return f"{sha256}-jpmml{version('jpmml-evaluator')}-f{_FORMAT}.{tag[:8]}"


def cached_jar(sha256: str) -> Path | None:
    """A compiled jar of this PMML in the cache, if there is one (verified ones first)."""
    found = sorted((cache_dir() / "compiled").glob(f"{cache_key(sha256)}-*.jar"))
    found.sort(key=lambda p: not _is_verified(sha256, p))
    return found[0] if found else None


def install_verified_jar(sha256: str, file_name: str, data: bytes) -> bool:
    """Put a jar verified elsewhere (the Spark driver's) into this machine's cache, marked
    verified, unless the cache has one; False when the cache cannot be written (this
    process then compiles or interprets)."""
    if cached_jar(sha256) is not None:
        return True
    path = cache_dir() / "compiled" / file_name
    if not write_atomic(path, data):
        return False
    cache.mark_verified(sha256, _jar_evaluator(path))
    return _is_verified(sha256, path)


def verified_jar(sha256: str) -> Path | None:
    """A cached jar that has already reproduced the interpreter (see :meth:`Compilation.
    mark_verified`): loading it skips parsing the PMML, the largest fixed cost of a job."""
    path = cached_jar(sha256)
    return path if path is not None and _is_verified(sha256, path) else None


def _jar_evaluator(jar: Path) -> str:
    """What the cache's verification marks call a compiled jar (its file name is unique);
    "exact": the mark of a jar that reproduced the interpreter bit for bit (marks made when
    the check allowed 1e-9 are not trusted)."""
    return f"compiled model {jar.name} exact"


def _is_verified(sha256: str, jar: Path) -> bool:
    """Whether ``jar`` reproduced the interpreter: a mark of the cache's one scheme
    (:func:`pmmlkit.cache.mark_verified`)."""
    return cache.is_verified(sha256, _jar_evaluator(jar))


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
    target = cache_dir() / "compiled" / f"{cache_key(sha256)}-{uuid.uuid4().hex[:12]}.jar"
    buffer = jpype.JClass("java.io.ByteArrayOutputStream")()
    util.archive(code, buffer)
    if not write_atomic(target, bytes(buffer.toByteArray())):
        raise StorageError(f"{target}: cannot write the compiled model into the cache")
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


def _lock_path(sha256: str) -> Path:
    return cache_dir() / "compiled" / f"{cache_key(sha256)}.lock"


def _running_path(sha256: str) -> Path:
    """Exists while a worker holds a slot and compiles; its mtime is when it started."""
    return cache_dir() / "compiled" / f"{cache_key(sha256)}.running"


def _log_path(sha256: str) -> Path:
    return cache_dir() / "compiled" / f"{cache_key(sha256)}.log"


def _failed_path(sha256: str) -> Path:
    return cache_dir() / "compiled" / f"{cache_key(sha256)}.failed"


_ERROR_MARK = "pmmlkit-compile-error:"


def _describe(exc: BaseException) -> str:
    get_class = getattr(exc, "getClass", None)
    if get_class is not None:
        message = exc.getMessage()  # type: ignore[attr-defined]
        name = str(get_class().getSimpleName())
        return f"{name}: {message}" if message else name
    return f"{type(exc).__name__}: {exc}"

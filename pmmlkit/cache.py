"""pmmlkit's on-disk cache: what one process learns about a model, later processes reuse.

Everything is keyed by the PMML's sha256 (and the evaluator's version), so a changed document
never meets a stale entry. The folder is ``PMMLKIT_CACHE_DIR``, else
``$XDG_CACHE_HOME/pmmlkit``, else ``~/.cache/pmmlkit``:

- ``compiled/``: models compiled to bytecode by JPMML's transpiler (see
  ``pmmlkit.scorer.backends._compiled``);
- ``parsed/``: parsed documents, serialized (see ``pmmlkit.scorer.backends._parsed``);
- ``schema/``: what pmmlkit read from a document (its inputs, outputs and verification
  records, as JSON), so a later load does not parse the XML in Python again;
- ``jvm/``: the JVM's class-data-sharing archive (see ``pmmlkit.scorer.backends._jvm``);
- ``verified/``: marks of documents whose ModelVerification records an evaluator reproduced,
  so ``load`` does not replay them again.

Deleting the folder (or :func:`clear`) is always safe: it only costs the next load time.
Whoever can write to it can change what pmmlkit runs (compiled jars are code): keep it as
private as the user's home.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder."""
    configured = os.environ.get("PMMLKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pmmlkit"


def _verified_path(sha256: str, evaluator: str) -> Path:
    from pmmlkit._version import __version__

    tag = hashlib.sha256(f"{evaluator}|pmmlkit {__version__}".encode()).hexdigest()[:16]
    return cache_dir() / "verified" / f"{sha256}-{tag}"


def is_verified(sha256: str, evaluator: str) -> bool:
    """True when ``evaluator`` (its full description) already reproduced this document's
    verification records, with this pmmlkit version."""
    return _verified_path(sha256, evaluator).is_file()


def mark_verified(sha256: str, evaluator: str) -> None:
    """Remember a passed verification; a cache that cannot be written is no error."""
    path = _verified_path(sha256, evaluator)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


@functools.cache
def source_tag(*modules: Path) -> str:
    """A short hash of these source files: part of a cache key whose entries depend on how
    pmmlkit's code reads or rewrites a document, so a release or a developer's edit never
    meets an entry made by other code (computed once per process)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.read_bytes())
    return digest.hexdigest()[:12]


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``path`` whole or not at all (:func:`pmmlkit.storage.atomic_write`, the one
    write-then-rename); False when the cache cannot be written, which only costs the next
    process time."""
    from pmmlkit.errors import StorageError
    from pmmlkit.storage import atomic_write

    try:
        with atomic_write(str(path)) as fh:
            fh.write(data)
    except (StorageError, OSError):
        return False
    return True


#: what forgets the cache's contents held in memory (the compile cache registers its own)
_on_clear: list[Callable[[], None]] = []


def on_clear(forget: Callable[[], None]) -> None:
    """Call ``forget`` when the cache is cleared. A layer above the cache registers itself,
    so the cache never imports what uses it."""
    if forget not in _on_clear:
        _on_clear.append(forget)


def clear() -> int:
    """Delete the whole cache; returns how many compiled models were deleted."""
    compiled = cache_dir() / "compiled"
    count = len(list(compiled.glob("*.jar"))) if compiled.is_dir() else 0
    for forget in list(_on_clear):
        forget()
    shutil.rmtree(cache_dir(), ignore_errors=True)
    return count

"""Scoring backends: ``jpmml`` (JPMML-Evaluator, default) and ``pypmml`` (PMML4S).

Both run in pmmlkit's in-process JVM behind :class:`~pmmlkit.scorer.backends.base.Backend`;
a backend module is imported only when asked for. Nothing else in pmmlkit imports jpype,
py4j, pypmml or jpmml_evaluator.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from pmmlkit.errors import BackendError
from pmmlkit.scorer.backends.base import Backend

BACKENDS = {"jpmml": "pmmlkit.scorer.backends.jpmml", "pypmml": "pmmlkit.scorer.backends.pypmml"}
#: ``auto``: JPMML-Evaluator (the exact one), and PMML4S for a document JPMML refuses
AUTO = "auto"
DEFAULT_BACKEND = AUTO
#: the order ``auto`` tries the backends in
AUTO_ORDER = ("jpmml", "pypmml")


def resolve_name(name: str | None) -> str:
    """The backend name to use: the argument, else ``PMMLKIT_BACKEND``, else ``auto``."""
    chosen = (name or os.environ.get("PMMLKIT_BACKEND") or DEFAULT_BACKEND).strip().lower()
    if chosen not in BACKENDS and chosen != AUTO:
        raise BackendError(f"unknown backend {chosen!r}; choose one of "
                           f"{', '.join([AUTO, *BACKENDS])}")
    return chosen


def get_backend(name: str | None = None) -> Backend:
    """Instantiate a backend by name (``jpmml`` or ``pypmml``)."""
    chosen = resolve_name(name)
    if chosen == AUTO:
        raise BackendError("'auto' is a choice between backends, not one: resolve it with "
                           "pmmlkit.load(..., backend='auto')")
    try:
        module = importlib.import_module(BACKENDS[chosen])
    except ImportError as exc:
        raise BackendError(f"backend {chosen!r} is not installed: {exc}") from exc
    backend: Backend = module.BACKEND_CLASS()
    return backend


def java_info() -> dict[str, Any]:
    """Version facts about pmmlkit's JVM (starting it if needed): what ``doctor`` reports."""
    from pmmlkit.scorer.backends import _jvm

    return _jvm.java_info()


def verified_jar(sha256: str) -> Any:
    """The cached compiled model of this PMML that has reproduced the interpreter (a
    ``Path``), or None."""
    from pmmlkit.scorer.backends import _jars

    return _jars.verified_jar(sha256)


def install_verified_jar(sha256: str, file_name: str, data: bytes) -> bool:
    """Put a compiled model verified elsewhere into this machine's cache (see
    :func:`verified_jar`); False when the cache cannot be written."""
    from pmmlkit.scorer.backends import _jars

    return _jars.install_verified_jar(sha256, file_name, data)


def prefer_quick_start() -> None:
    """Start this process's JVM with the quick-start options (a short job: see
    :data:`pmmlkit.scorer.backends._jvm.QUICK_START_OPTS`), unless it runs already."""
    from pmmlkit.scorer.backends import _jvm

    _jvm.prefer_quick_start()


def exit_process(code: int) -> None:
    """End the process with ``code`` at once once its work is flushed (a JVM's threads would
    otherwise hold the interpreter's exit)."""
    from pmmlkit.scorer.backends import _jvm

    _jvm.exit_process(code)


__all__ = ["AUTO", "AUTO_ORDER", "BACKENDS", "DEFAULT_BACKEND", "Backend", "exit_process",
           "get_backend", "install_verified_jar", "java_info", "prefer_quick_start",
           "resolve_name", "verified_jar"]

"""Scoring backends: ``jpmml`` (JPMML-Evaluator, default) and ``pypmml`` (PMML4S).

Both run in pmmlkit's in-process JVM behind :class:`~pmmlkit.scorer.backends.base.Backend`;
a backend module is imported only when asked for. Nothing else in pmmlkit imports jpype,
py4j, pypmml or jpmml_evaluator.
"""

from __future__ import annotations

import importlib
import os

from pmmlkit.errors import BackendError
from pmmlkit.scorer.backends.base import Backend

BACKENDS = {"jpmml": "pmmlkit.scorer.backends.jpmml", "pypmml": "pmmlkit.scorer.backends.pypmml"}
DEFAULT_BACKEND = "jpmml"


def resolve_name(name: str | None) -> str:
    """The backend name to use: the argument, else ``PMMLKIT_BACKEND``, else ``jpmml``."""
    chosen = (name or os.environ.get("PMMLKIT_BACKEND") or DEFAULT_BACKEND).strip().lower()
    if chosen not in BACKENDS:
        raise BackendError(f"unknown backend {chosen!r}; choose one of {', '.join(BACKENDS)}")
    return chosen


def get_backend(name: str | None = None) -> Backend:
    """Instantiate a backend by name (see :func:`resolve_name`)."""
    chosen = resolve_name(name)
    try:
        module = importlib.import_module(BACKENDS[chosen])
    except ImportError as exc:
        raise BackendError(f"backend {chosen!r} is not installed: {exc}") from exc
    backend: Backend = module.BACKEND_CLASS()
    return backend


__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Backend", "get_backend", "resolve_name"]

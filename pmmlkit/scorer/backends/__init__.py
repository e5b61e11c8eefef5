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


__all__ = ["AUTO", "AUTO_ORDER", "BACKENDS", "DEFAULT_BACKEND", "Backend", "get_backend",
           "java_info", "resolve_name"]

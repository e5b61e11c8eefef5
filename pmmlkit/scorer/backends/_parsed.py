"""Cached parsed documents: a later process reads JPMML's object graph instead of the XML.

The first XML parse in a JVM costs ~1.5 s (JAXB start-up) whatever the document's size; Java
serialization of the parsed document (with pmmlkit's probability outputs declared) reads
back in ~0.2-0.3 s. Entries live in ``<cache_dir>/parsed/<sha256>-jpmml<version>-f<format>.ser``
next to the compiled models (``PMMLKIT_CACHE_DIR``), are written atomically, and are only
ever read by ``pmmlkit.bridge.Serial``, which accepts JPMML's model classes and the JDK's value
classes and nothing else. An unreadable entry is deleted and the XML parsed instead. A
document that cannot be serialized is simply not cached.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pmmlkit.cache import cache_dir, write_atomic
from pmmlkit.scorer.backends._jars import cache_key


def _path(sha256: str) -> Path:
    return cache_dir() / "parsed" / f"{cache_key(sha256)}.ser"


def load(jpype: Any, sha256: str) -> Any | None:
    """An evaluator built from the cached parsed document, or None when there is none."""
    path = _path(sha256)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        pmml = jpype.JClass("pmmlkit.bridge.Serial").read(jpype.JArray(jpype.JByte)(data))
        return jpype.JClass("org.jpmml.evaluator.ModelEvaluatorBuilder")(pmml).build()
    except Exception:  # damaged, or written by an incompatible build: parse the XML instead
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def store(jpype: Any, sha256: str, pmml: Any) -> bool:
    """Cache a parsed document (JPMML's ``PMML`` object); False when it cannot be."""
    path = _path(sha256)
    try:
        data = bytes(jpype.JClass("pmmlkit.bridge.Serial").write(pmml))
    except Exception:  # a document holding an object Java cannot serialize
        return False
    return write_atomic(path, data)

"""What a killed job left behind, found and removed: ``pmmlkit gc``.

A job that fails, is interrupted (Ctrl-C) or terminated (SIGTERM) cleans up after itself.
SIGKILL (an out-of-memory kill, a node lost) gives it no chance, and leaves:

- temporary files: outputs and rejects are written as ``.NAME.pmmlkit-tmp-<hex>`` next to
  their final name (:func:`pmmlkit.storage.temporary_sibling`) and would have been moved
  into place at the end;
- Redis runs: a ``pmmlkit score --to redis://…`` or ``embeddings put`` writes into its own
  namespace (``pmmlkit:res:{MODEL}:<run>:*``, ``pmmlkit:emb:{SET}:<run>:*``) and publishes
  it by moving the set's pointer at the end. A run that is not the pointer's, has no
  ``_meta`` record (written just before the pointer moves) and started longer ago than
  ``older_than`` is a dead job's. Runs replaced by a newer one expire by themselves.

Nothing younger than ``older_than`` seconds (default one hour) is touched: a job still
running looks the same.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pmmlkit._boundary import storage

#: seconds a leftover must be old before it is removed
DEFAULT_OLDER_THAN = 3600.0

_TEMP = re.compile(r"^\..+\.pmmlkit-tmp-[0-9a-f]{32}$")
_RUN = re.compile(r"^pmmlkit:(res|emb):\{([^}]+)\}:(\d{8}T\d{6}-[0-9a-f]{8}):")


@dataclass
class Collected:
    """What :func:`collect` found (and removed, unless ``dry_run``)."""

    target: str
    dry_run: bool
    files: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # kind, name, run, keys

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "dry_run": self.dry_run, "files": self.files,
                "runs": self.runs}


def collect(target: str, *, older_than: float = DEFAULT_OLDER_THAN,
            dry_run: bool = False) -> Collected:
    """Remove what killed jobs left in ``target``: a folder (local path or fsspec URL; every
    temporary file under it) or a Redis URL (every dead run)."""
    if target.startswith(("redis://", "rediss://", "unix://")):
        return _collect_redis(target, older_than, dry_run)
    return _collect_files(target, older_than, dry_run)


def _collect_files(url: str, older_than: float, dry_run: bool) -> Collected:
    from pmmlkit.storage import url_to_fs

    out = Collected(url, dry_run)
    fs, root = url_to_fs(url)
    now = time.time()
    with storage(url, "list the folder for temporary files"):
        found = fs.find(root, detail=True)
    for path, info in sorted(found.items()):
        if not _TEMP.match(path.rsplit("/", 1)[-1]):
            continue
        modified = _mtime(info)
        if modified is not None and now - modified < older_than:
            continue
        if not dry_run:
            with storage(url, f"remove {path}"):
                fs.rm(path)
        out.files.append(path)
    return out


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def _collect_redis(url: str, older_than: float, dry_run: bool) -> Collected:
    from pmmlkit.online import (
        as_text,
        connect,
        delete_namespace,
        embeddings_namespace,
        embeddings_pointer,
        redis_errors,
        results_namespace,
        results_pointer,
    )

    out = Collected(url, dry_run)
    client = connect(url)
    runs: dict[tuple[str, str, str], int] = {}
    with redis_errors(url, "look for dead runs"):
        for key in client.scan_iter(match="pmmlkit:*", count=1000):
            match = _RUN.match(as_text(key) or "")
            if match:
                kind, name, run = match.groups()
                runs[(kind, name, run)] = runs.get((kind, name, run), 0) + 1
        now = time.time()
        for (kind, name, run), keys in sorted(runs.items()):
            pointer = results_pointer(name) if kind == "res" else embeddings_pointer(name)
            namespace = (results_namespace(name, run) if kind == "res"
                         else embeddings_namespace(name, run))
            if as_text(client.get(pointer)) == run or client.exists(f"{namespace}:_meta"):
                continue  # live, or published and replaced (its keys expire)
            started = calendar.timegm(time.strptime(run[:15], "%Y%m%dT%H%M%S"))
            if now - started < older_than:
                continue
            if not dry_run:
                delete_namespace(client, namespace)
            out.runs.append({"kind": "results" if kind == "res" else "embeddings",
                             "name": name, "run": run, "keys": keys})
    return out

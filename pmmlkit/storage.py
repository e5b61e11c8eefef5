"""Files on any fsspec URL: reading, and writing atomically (temp name, then move into place)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import IO, Any

from pmmlkit.errors import PmmlkitError


def url_to_fs(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for a local path or URL."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def temporary_sibling(path: str) -> str:
    """A hidden name next to ``path`` for writing before the final move."""
    head, _, tail = path.rpartition("/")
    name = f".{tail}.pmmlkit-tmp-{uuid.uuid4().hex[:12]}"
    return f"{head}/{name}" if head else name


@contextlib.contextmanager
def atomic_write(url: str) -> Iterator[IO[bytes]]:
    """Write to a temporary sibling; move it to ``url`` only when the block succeeds.

    A reader never sees a partial file under the final name: on a local disk the move is an
    atomic rename; on object stores the temporary object is complete before it is copied.
    """
    fs, path = url_to_fs(url)
    parent = path.rpartition("/")[0]
    if parent and not fs.exists(parent):
        fs.makedirs(parent, exist_ok=True)
    temp = temporary_sibling(path)
    try:
        with fs.open(temp, "wb") as fh:
            yield fh
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(temp)
        raise
    try:
        if _is_local(fs):
            os.replace(temp, path)
        else:
            fs.mv(temp, path)
    except Exception as exc:
        with contextlib.suppress(Exception):
            fs.rm(temp)
        raise PmmlkitError(f"{url}: could not move the finished file into place: {exc}") from exc


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")

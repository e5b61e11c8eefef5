"""Files on any fsspec URL: reading, writing atomically, and creating exclusively.

Two guarantees, and where they hold:

- :func:`atomic_write` (outputs of ``pmmlkit score``, rejects files): a reader never sees a
  partial file under the final name. The data goes to a unique temporary sibling that is moved
  into place only when the block succeeds: an atomic rename on a local disk; on an object store
  the temporary object is complete before it is copied. Any fsspec filesystem.
- :func:`create_exclusive` (the model repository): a file is created only if it does not
  exist, atomically, so two writers never both succeed. That needs support from the storage,
  so the repository accepts only :data:`REPOSITORY_PROTOCOLS`: local disks (``O_EXCL``-style
  hard link), S3 (``If-None-Match: *``) and ``memory://`` (in-process, under a lock). Other
  filesystems are refused at ``Repository(...)`` rather than given a check-then-write race.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Iterator
from typing import IO, Any, cast

from pmmlkit._boundary import storage
from pmmlkit.errors import ConfigurationError, StorageError

#: filesystems where :func:`create_exclusive` is atomic, hence where a repository may live
REPOSITORY_PROTOCOLS = ("file", "local", "s3", "s3a", "memory")
_memory_lock = threading.Lock()


def local_path(url: str) -> str | None:
    """The path of a local file named by ``url`` (a plain path or ``file://``), else None.
    Local files are read and written without fsspec, whose import alone costs a short job
    70 ms."""
    if url.startswith("file://"):
        return url[len("file://"):]
    if "://" in url or "::" in url:
        return None
    return url


def open_input(url: str) -> IO[bytes]:
    """Open a file for reading, decompressing ``.gz``: a local path directly, any other URL
    through fsspec. The caller maps storage errors (:func:`pmmlkit._boundary.storage`)."""
    path = local_path(url)
    if path is None:
        import fsspec

        try:
            opened = fsspec.open(url, "rb", compression="infer")
        except (ValueError, ImportError) as exc:  # unknown protocol, filesystem not installed
            raise ConfigurationError(f"{url}: cannot open this URL: {exc}") from exc
        stream: IO[bytes] = opened.open()
        return stream
    if path.endswith(".gz"):
        import gzip

        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def same_location(a: str, b: str) -> bool:
    """Whether two paths or URLs name the same file, however spelled (``./in.csv``,
    ``in.csv``, ``file:///abs/in.csv``, a symbolic link)."""
    left, right = local_path(a), local_path(b)
    if left is not None and right is not None:
        try:
            return os.path.samefile(left, right)
        except OSError:  # one does not exist yet
            return os.path.realpath(left) == os.path.realpath(right)
    if (left is None) != (right is None):
        return False
    fs_a, path_a = url_to_fs(a)
    fs_b, path_b = url_to_fs(b)
    return protocol(fs_a) == protocol(fs_b) and path_a.rstrip("/") == path_b.rstrip("/")


def exists(url: str) -> bool:
    """Whether a file or folder is at ``url``."""
    path = local_path(url)
    if path is not None:
        return os.path.lexists(path)
    fs, inner = url_to_fs(url)
    with storage(url, "look for the file"):
        return bool(fs.exists(inner))


def check_outputs(input: str, outputs: list[str | None], *, overwrite: bool) -> None:
    """Refuse outputs that would replace the input (or each other), and, without
    ``overwrite``, outputs that exist already: a job never destroys a file it was not told
    it may."""
    named = [o for o in outputs if o is not None and o != "-"]
    for k, out in enumerate(named):
        if input != "-" and same_location(input, out):
            raise ConfigurationError(f"{out}: this is the input file; writing the results "
                                     "there would destroy it. Give another output path")
        if any(same_location(out, other) for other in named[:k]):
            raise ConfigurationError(f"{out}: given twice as an output (results and rejects "
                                     "need files of their own)")
        if not overwrite and exists(out):
            raise ConfigurationError(f"{out}: the file exists; pass --overwrite "
                                     "(overwrite=True) to replace it")


def url_to_fs(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for a local path or URL."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise ConfigurationError(f"{url}: cannot open this URL: {exc}") from exc
    return fs, path


def protocol(fs: Any) -> str:
    """The main protocol name of an fsspec filesystem (``file``, ``s3``, ``memory`` …)."""
    name = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return str(name)


def is_local(fs: Any) -> bool:
    return protocol(fs) in ("file", "local")


def check_repository_protocol(url: str) -> None:
    """Refuse, before connecting, storage on which versions cannot be claimed atomically."""
    from fsspec.core import split_protocol

    scheme = (split_protocol(url)[0] or "file").lower()
    if scheme not in REPOSITORY_PROTOCOLS:
        raise ConfigurationError(
            f"{url}: a model repository needs storage that can create a file only if it does "
            f"not exist, atomically; {scheme}:// cannot. Supported: local paths, s3:// (and "
            "s3a://), memory:// (one process)")


def temporary_sibling(path: str) -> str:
    """A unique hidden name next to ``path`` for writing before the final move."""
    head, _, tail = path.rpartition("/")
    name = f".{tail}.pmmlkit-tmp-{uuid.uuid4().hex}"
    return f"{head}/{name}" if head else name


@contextlib.contextmanager
def atomic_write(url: str) -> Iterator[IO[bytes]]:
    """Write to a temporary sibling; move it to ``url`` only when the block succeeds.

    A reader never sees a partial file under the final name. Errors of the storage itself
    become :class:`StorageError` naming ``url``.
    """
    local = local_path(url)
    if local is not None:
        with _atomic_local(url, local) as fh:
            yield fh
        return
    fs, path = url_to_fs(url)
    parent = path.rpartition("/")[0]
    temp = temporary_sibling(path)
    with storage(url, "create the output file"):
        if parent and not fs.exists(parent):
            fs.makedirs(parent, exist_ok=True)
        handle = fs.open(temp, "wb")
    try:
        with handle as fh:
            yield fh
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(temp)
        raise
    try:
        with storage(url, "move the finished file into place"):
            if is_local(fs):
                os.replace(temp, path)
            else:
                fs.mv(temp, path)
    except StorageError:
        with contextlib.suppress(Exception):
            fs.rm(temp)
        raise


@contextlib.contextmanager
def _atomic_local(url: str, path: str) -> Iterator[IO[bytes]]:
    parent = os.path.dirname(path)
    temp = temporary_sibling(path)
    with storage(url, "create the output file"):
        if parent and not os.path.isdir(parent):
            if os.path.exists(parent):  # makedirs would say "exists"; the problem is the type
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), parent)
            os.makedirs(parent, exist_ok=True)
        handle = open(temp, "wb")  # noqa: SIM115 - closed by the block below
    try:
        with handle as fh:
            yield fh
        with storage(url, "move the finished file into place"):
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def create_exclusive(fs: Any, path: str, data: bytes) -> None:
    """Create ``path`` holding ``data``, complete or not at all; FileExistsError if it exists.

    Safe between threads and processes on the filesystems of :data:`REPOSITORY_PROTOCOLS`.
    """
    kind = protocol(fs)
    parent = path.rpartition("/")[0]
    if kind in ("file", "local"):
        os.makedirs(parent, exist_ok=True)
        temp = temporary_sibling(path)
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)  # atomic, and fails if the target exists
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return
    if kind in ("s3", "s3a"):
        try:
            fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            raise
        except OSError as exc:
            if _precondition_failed(exc):
                raise FileExistsError(path) from exc
            raise
        return
    if kind == "memory":
        with _memory_lock:  # the memory filesystem lives in this process: a lock is atomic
            if fs.exists(path):
                raise FileExistsError(path)
            fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)
        return
    raise ConfigurationError(f"{kind}://{path}: exclusive creation is not supported here")


def _precondition_failed(exc: BaseException) -> bool:
    """An S3 conditional write refused because the key exists: HTTP 412 / PreconditionFailed
    (s3fs maps it to FileExistsError only when the server names the condition)."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412

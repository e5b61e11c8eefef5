"""Where foreign exceptions become pmmlkit errors: one context manager per boundary.

pmmlkit crosses three boundaries whose exceptions a user must never see raw:

- :func:`java` — calls into the JVM (JPype's ``JException`` and friends);
- :func:`storage` — files and object stores (``OSError``, fsspec, botocore, pyarrow I/O);
- :func:`converter` — sklearn2pmml, scikit-learn's ``predict``, Spark ``transform``.

Each translates what crosses it into the :mod:`pmmlkit.errors` class that fits, naming what
pmmlkit was doing, and chains the original (``raise … from exc``). A :class:`PmmlkitError`
raised inside passes through unchanged. Like httpx's ``map_httpcore_exceptions``, the rule is:
translate where the exception enters, once.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pmmlkit.errors import (
    ConfigurationError,
    ConversionError,
    PmmlkitError,
    ScoringError,
    StorageError,
)


def is_java_exception(exc: BaseException) -> bool:
    """True for an exception thrown by Java code through JPype."""
    jpype = sys.modules.get("jpype")
    return jpype is not None and isinstance(exc, jpype.JException)


def java_message(exc: Any) -> str:
    """``ClassName: message`` of a Java exception (its innermost cause's, when it has one);
    also takes a Py4J ``JavaObject`` throwable (Spark's ``java_exception``)."""
    if isinstance(exc, BaseException) and not is_java_exception(exc):
        return f"{type(exc).__name__}: {exc}"
    throwable = exc
    with contextlib.suppress(Exception):
        while throwable.getCause() is not None and throwable.getCause() is not throwable:
            throwable = throwable.getCause()
    name = str(throwable.getClass().getSimpleName())
    message = throwable.getMessage()
    return f"{name}: {message}" if message is not None else name


Advice = str | Callable[[str], str]


def _advice(advice: Advice, reason: str) -> str:
    return advice(reason) if callable(advice) else advice


@contextlib.contextmanager
def java(what: str, error: type[PmmlkitError] = ScoringError, *, advice: Advice = "",
         jpype_errors: bool = False) -> Iterator[None]:
    """Calls into the JVM: a Java exception becomes ``error`` naming ``what`` failed, followed
    by ``advice`` (text, or a function of the reason). With ``jpype_errors``, JPype's own
    failures (no JVM library, a JVM that cannot start, a class missing from the classpath:
    Python exceptions, not Java ones) are translated too."""
    try:
        yield
    except PmmlkitError:
        raise
    except Exception as exc:
        if is_java_exception(exc):
            reason = java_message(exc)
        elif jpype_errors:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
        else:
            raise
        raise error(f"{what}: {reason}{_advice(advice, reason)}") from exc


def _storage_exception_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OSError]
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        types.append(pyarrow.ArrowException)
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        types.append(botocore.BotoCoreError)
        types.append(botocore.ClientError)
    return tuple(types)


@contextlib.contextmanager
def storage(url: str, action: str, *, missing: type[PmmlkitError] = StorageError,
            corrupt: type[PmmlkitError] | None = None) -> Iterator[None]:
    """Reading or writing ``url``: I/O and object-store errors become :class:`StorageError`
    (``missing`` for a file that does not exist; ``corrupt`` for content pyarrow cannot
    parse, e.g. ``InvalidInputError`` for an input data file)."""
    try:
        yield
    except PmmlkitError:
        raise
    except FileNotFoundError as exc:
        raise missing(f"{url}: no such file or directory (while trying to {action})") from exc
    except IsADirectoryError as exc:
        raise missing(f"{url}: is a directory, not a file (while trying to {action})") from exc
    except NotADirectoryError as exc:
        raise StorageError(f"{url}: a parent of this path is a file, not a folder (while trying "
                           f"to {action})") from exc
    except PermissionError as exc:
        raise StorageError(f"{url}: permission denied (while trying to {action})") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise (corrupt or StorageError)(
            f"{url}: cannot {action}: the compressed data is corrupt or truncated "
            f"({_first_line(exc)})") from exc
    except UnicodeDecodeError as exc:
        raise (corrupt or StorageError)(
            f"{url}: not valid UTF-8 text at byte {exc.start} (while trying to {action})"
        ) from exc
    except Exception as exc:
        if not isinstance(exc, _storage_exception_types()):
            raise
        pyarrow = sys.modules.get("pyarrow")
        parse_error = pyarrow is not None and isinstance(exc, pyarrow.ArrowInvalid)
        reason = _first_line(exc)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            reason = "no space left on the device"
        if parse_error and corrupt is not None:
            raise corrupt(f"{url}: cannot {action}: {reason}") from exc
        raise StorageError(f"{url}: cannot {action}: {reason}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def converter(what: str, *, advice: Advice = "") -> Iterator[None]:
    """Third-party conversion code (sklearn2pmml, scikit-learn, Spark and its Py4J calls):
    anything it raises becomes a :class:`ConversionError` naming the step, then ``advice``
    (text, or a function of the reason)."""
    try:
        yield
    except PmmlkitError:
        raise
    except Exception as exc:
        if is_java_exception(exc) or hasattr(exc, "java_exception"):
            reason = java_message(getattr(exc, "java_exception", exc))
        else:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
        raise ConversionError(f"{what} failed: {reason}{_advice(advice, reason)}") from exc


def environment_int(name: str, value: str, *, minimum: int = 1) -> int:
    """An integer environment setting, or a :class:`ConfigurationError` naming it."""
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise ConfigurationError(f"{name}={value!r} is not a whole number") from exc
    if number < minimum:
        raise ConfigurationError(f"{name}={value!r} must be at least {minimum}")
    return number


__all__ = ["converter", "environment_int", "is_java_exception", "java", "java_message",
           "storage"]

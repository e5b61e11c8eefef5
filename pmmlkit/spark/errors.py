"""Spark's errors in pmmlkit's words (the one place they are translated): a pmmlkit
error raised on an executor travels serialized and comes back whole; a few of Spark's own
failures get one clear line each."""


from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import (
    ConfigurationError,
    PmmlkitError,
    from_wire,
    to_wire,
)

if TYPE_CHECKING:

    pass

def on_executor(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """A function Spark runs on executors, whose pmmlkit errors reach the driver whole: the
    error travels serialized (:func:`pmmlkit.errors.to_wire`) inside Spark's own exception,
    and :func:`translate` rebuilds it, class, field, value and reason."""
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from function(*args, **kwargs)
        except PmmlkitError as exc:
            raise RuntimeError(f"{type(exc).__name__}: {exc} {to_wire(exc)}") from exc

    return run


@contextlib.contextmanager
def _spark_errors(where: str) -> Iterator[None]:
    """Spark's errors as pmmlkit's: an error raised by pmmlkit on an executor comes back as
    the same class and message; a missing input or an executor without pmmlkit get one clear
    line each."""
    try:
        yield
    except PmmlkitError:
        raise
    except Exception as exc:
        translated = translate(exc, where)
        if translated is exc:
            raise
        raise translated from exc


def translate(exc: BaseException, where: str) -> BaseException:
    """The pmmlkit error a Spark failure stands for, or the failure itself."""
    from pmmlkit.errors import StorageError

    text = str(exc)
    raised = from_wire(text)
    if raised is not None:
        return raised
    if "No module named 'pmmlkit'" in text:
        return ConfigurationError(
            "the Spark executors' Python cannot import pmmlkit: install pmmlkit where the "
            "executors run and point spark.pyspark.python (PYSPARK_PYTHON) at that "
            "interpreter")
    if "PATH_ALREADY_EXISTS" in text or "already exists" in text:
        return ConfigurationError(f"{where}: the output folder already exists; Spark does not "
                                  "overwrite it: remove it or give another path")
    if "PATH_NOT_FOUND" in text or "Path does not exist" in text:
        return StorageError(f"{where}: no such file or folder (as Spark sees it)")
    return exc

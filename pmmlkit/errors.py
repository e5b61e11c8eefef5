"""The pmmlkit exception tree.

Every error carries a process exit code (used by the CLI) and an HTTP status (used by the
server), and serialises itself to JSON. Foreign exceptions (JPype, Java, fsspec, converters)
are translated where they enter pmmlkit, with the original chained as ``__cause__``::

    PmmlkitError                      exit 1, HTTP 500
    ├── ConfigurationError            exit 3, HTTP 500   bad option or environment value
    ├── JavaError                     exit 4, HTTP 500   no Java, too old, JVM cannot start
    ├── BackendError                  exit 4, HTTP 500   a backend is unknown or cannot load
    ├── ModelLoadError                exit 5, HTTP 422   file missing, empty, malformed, unsafe, unsupported
    │   └── UnsafeDocumentError       exit 5, HTTP 422   DOCTYPE / external entity refused (XXE)
    ├── ModelNotFoundError            exit 5, HTTP 404   no such model or version
    │   └── DataNotFoundError         exit 5, HTTP 404   no results or no embedding set in Redis
    ├── InvalidInputError             exit 6, HTTP 400   a record cannot be scored (field, value, reason)
    ├── ScoringError                  exit 7, HTTP 500   the evaluator failed on a valid record
    ├── VerificationError             exit 8, HTTP 422   the PMML's ModelVerification records disagree
    ├── ConversionError               exit 9, HTTP 422   a model cannot be converted to PMML
    │   └── ParityError               exit 9, HTTP 422   the PMML does not reproduce the native model
    ├── TooManyRejectsError           exit 11, HTTP 422  a batch job rejected more rows than allowed
    └── StorageError                  exit 12, HTTP 503  a file or object store cannot be read or written

The translation happens in :mod:`pmmlkit._boundary`: one context manager per boundary (the JVM,
storage, the converters), used wherever pmmlkit crosses it.
"""

from __future__ import annotations

from typing import Any


class PmmlkitError(Exception):
    """Root of every error pmmlkit raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the error's class name and its message."""
        return {"error": type(self).__name__, "message": str(self)}


class ConfigurationError(PmmlkitError):
    """An option or environment variable has a value pmmlkit cannot use."""

    exit_code = 3


class JavaError(PmmlkitError):
    """Java is missing, too old, or the JVM cannot start with pmmlkit's classpath."""

    exit_code = 4


class BackendError(PmmlkitError):
    """A scoring backend is unknown, not installed, or failed to build an evaluator."""

    exit_code = 4


class ModelLoadError(PmmlkitError):
    """A PMML document cannot be read: missing, empty, malformed, not PMML, or unsupported."""

    exit_code = 5
    http_status = 422


class UnsafeDocumentError(ModelLoadError):
    """The PMML declares a DOCTYPE or an entity; pmmlkit never resolves them (XXE)."""


class ModelNotFoundError(PmmlkitError):
    """No model, or no such version of it, in the repository."""

    exit_code = 5
    http_status = 404


class DataNotFoundError(ModelNotFoundError):
    """The online store has no pre-computed results for a model, or no embedding set of
    that name: the same class, status and exit code in the library, the results endpoint
    and a request whose lookups need the set."""


class InvalidInputError(PmmlkitError):
    """A record cannot be scored; names the field, the value and the reason."""

    exit_code = 6
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, value: Any = None,
                 reason: str | None = None,
                 problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.reason = reason
        #: every bad field of the record (field, value, reason); the first is ``field``
        self.problems = problems if problems is not None else (
            [{"field": field, "value": value, "reason": reason}] if field is not None else [])

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(field=self.field, value=_jsonable(self.value), reason=self.reason,
                   problems=[{**p, "value": _jsonable(p.get("value"))} for p in self.problems])
        return out


class ScoringError(PmmlkitError):
    """The evaluator failed on a record that passed validation."""

    exit_code = 7


class VerificationError(PmmlkitError):
    """The model's own verification records are not reproduced by the evaluator."""

    exit_code = 8
    http_status = 422


class ConversionError(PmmlkitError):
    """A scikit-learn or Spark model cannot be converted to PMML (unsupported step, version)."""

    exit_code = 9
    http_status = 422


class ParityError(ConversionError):
    """The exported PMML does not reproduce the native model's predictions; nothing published."""

    def __init__(self, message: str, *, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


class TooManyRejectsError(PmmlkitError):
    """A batch job rejected more rows than ``max_rejects``; it stopped and published nothing."""

    exit_code = 11
    http_status = 422

    def __init__(self, message: str, *, summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class StorageError(PmmlkitError):
    """A file or object store cannot be read or written (permission, network, corrupt file);
    names the URL and what pmmlkit was doing."""

    exit_code = 12
    http_status = 503


#: what :func:`to_wire` wraps an error's JSON in (base64: safe inside any other message)
_WIRE = ("pmmlkit-error:", ":end")


def to_wire(error: PmmlkitError) -> str:
    """An error as one line of text that survives another system's error message (Spark
    wraps an executor's exception in its own): the class and every attribute, not only the
    message. :func:`from_wire` gives the same error back."""
    import base64
    import json

    payload = error.to_dict()
    for name in ("report", "summary"):
        if hasattr(error, name):
            payload[name] = getattr(error, name)
    data = base64.b64encode(json.dumps(payload, default=repr).encode()).decode()
    return f"{_WIRE[0]}{data}{_WIRE[1]}"


def from_wire(text: str) -> PmmlkitError | None:
    """The first error :func:`to_wire` wrote into ``text`` (None: there is none)."""
    import base64
    import binascii
    import json

    start = text.find(_WIRE[0])
    end = text.find(_WIRE[1], start + len(_WIRE[0])) if start >= 0 else -1
    if end < 0:
        return None
    try:
        payload = json.loads(base64.b64decode(text[start + len(_WIRE[0]):end]))
    except (ValueError, binascii.Error):
        return None
    kind = globals().get(str(payload.get("error")))
    if not (isinstance(kind, type) and issubclass(kind, PmmlkitError)):
        return None
    message = str(payload.get("message", ""))
    if issubclass(kind, InvalidInputError):
        return kind(message, field=payload.get("field"), value=payload.get("value"),
                    reason=payload.get("reason"), problems=payload.get("problems"))
    if issubclass(kind, ParityError):
        return kind(message, report=payload.get("report"))
    if issubclass(kind, TooManyRejectsError):
        return kind(message, summary=payload.get("summary"))
    return kind(message)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


#: the longest value a message shows (a rejects file keeps the whole value)
SHOWN_CHARACTERS = 120


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters with the full length said:
    a 1 MB cell must not become a 1 MB line on stderr or in an ``error`` column."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[:limit]}… ({size:,} characters)"

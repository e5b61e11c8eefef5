"""What travels from the driver to the executors: the job's settings, and the batch
size and column names both sides use."""


from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pmmlkit.scorer.arrow import DETAIL_COLUMNS

if TYPE_CHECKING:

    pass

#: Rows per Arrow batch handed to a Python worker (``spark.sql.execution.arrow.
#: maxRecordsPerBatch``): bounds a worker's memory, large enough to amortize a JVM call.
BATCH_ROWS = 10_000
#: columns only ``score_files`` asks for, to write the rejects file
_DETAIL = DETAIL_COLUMNS
_FILE_COLUMN = "_pmmlkit_file"


@dataclass(frozen=True)
class _Job:
    """Everything an executor needs, pickled with the task: no driver state, no repository."""

    name: str
    sha256: str
    payload: Any  # a Broadcast of the PMML bytes, or the bytes (Spark Connect)
    backend: str | None
    transpile: bool | None
    verify: bool
    keep: tuple[str, ...]
    names: tuple[str, ...]
    java_opts: str | None = None
    na_values: tuple[str, ...] = ()
    #: the input is a text file: its cells are read by the file rules (NA markers, booleans)
    file_rules: bool = False
    decimal: str = "."
    detail: bool = False
    compiled: tuple[str, Any] | None = None  # (jar file name, Broadcast or bytes)

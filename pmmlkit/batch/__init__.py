"""Streaming batch scoring of CSV and Parquet files: results, rejects, constant memory.

:mod:`~pmmlkit.batch.formats` tells file types apart, :mod:`~pmmlkit.batch.sources` reads
chunks, :mod:`~pmmlkit.batch.sinks` writes results and rejects atomically, and
:mod:`~pmmlkit.batch.job` runs the job (:func:`score_file`).
"""

from pmmlkit.batch.job import (
    DEFAULT_CHUNK_SIZE,
    EXIT_ROWS_REJECTED,
    ScoreSummary,
    default_output,
    score_file,
)
from pmmlkit.batch.sources import DEFAULT_NA_VALUES

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_NA_VALUES", "EXIT_ROWS_REJECTED", "ScoreSummary",
           "default_output",
           "score_file"]

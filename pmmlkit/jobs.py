"""``pmmlkit score`` as one library call: :func:`score` chooses between local scoring
(:func:`pmmlkit.batch.score_file`) and Spark (:func:`pmmlkit.spark.score_files`), checks which
options go together, and applies the start-up rules of a short job.

Rules:

- ``spark=True`` scores on Spark (``master``, default ``local[*]``); the output defaults to
  the input's name with ``.scored`` (a folder of part files); ``all_rows`` and a Redis output
  (``key``, ``ttl``, ``name``) are local only (part files have no order, the Redis writer
  runs in this process);
- a local input under :data:`SMALL_INPUT_BYTES` (a short job) starts the JVM with the
  quick-start options, unless it runs already;
- in a process that only runs this command (the CLI), pandas is never imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import ConfigurationError

if TYPE_CHECKING:
    from pmmlkit.batch import ScoreSummary

#: a local input below this many bytes (~180k rows of the benchmark's 10 columns) is a short
#: job, scored with the JVM's quick-start options (docs/performance.md, "Start-up")
SMALL_INPUT_BYTES = 32 << 20


def score(model: Any, input: str, output: str | None = None, *, spark: bool = False,
          master: str | None = None, keep: Sequence[str] = (), rejects: str | None = None,
          chunk_size: int | None = None, backend: str | None = None,
          max_rejects: int | None = None, na_values: Sequence[str] | None = None,
          key: str | None = None, ttl: int | None = None, name: str | None = None,
          allow_missing_columns: bool = False, overwrite: bool = False,
          delimiter: str | None = None, decimal: str = ".", all_rows: bool = False
          ) -> ScoreSummary:
    """Score ``input`` into ``output`` and ``rejects`` with ``model``, locally or on Spark:
    the keywords are ``pmmlkit score``'s options (see :func:`pmmlkit.batch.score_file` and
    :func:`pmmlkit.spark.score_files` for each)."""
    if spark and all_rows:
        raise ConfigurationError("--all-rows is not supported with --spark (part files have no "
                                 "order): keep an id column with --keep")
    if spark and (key or ttl or name):
        raise ConfigurationError("--key, --ttl and --name (a Redis output) are not supported "
                                 "with --spark: score to Redis without --spark")
    if not spark and master is not None:
        raise ConfigurationError("--master applies to --spark only")
    if spark:
        from pmmlkit.batch import default_output
        from pmmlkit.spark import score_files

        return score_files(model, input, output or default_output(input), keep=keep,
                           rejects=rejects, backend=backend, max_rejects=max_rejects,
                           master=master, na_values=na_values,
                           allow_missing_columns=allow_missing_columns, overwrite=overwrite,
                           delimiter=delimiter, decimal=decimal)
    from pmmlkit import _runtime
    from pmmlkit.batch import DEFAULT_CHUNK_SIZE, score_file

    if _runtime.command_line:  # this process only scores this file: no pandas needed
        _runtime.keep_pandas_out()
    if is_short_job(input):
        from pmmlkit.scorer.backends import prefer_quick_start

        prefer_quick_start()
    return score_file(model, input, output, keep=keep, rejects=rejects,
                      chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                      backend=backend, max_rejects=max_rejects, na_values=na_values, key=key,
                      ttl=ttl, name=name, allow_missing_columns=allow_missing_columns,
                      overwrite=overwrite, delimiter=delimiter, decimal=decimal,
                      all_rows=all_rows)


def is_short_job(input: str) -> bool:
    """A local input file under :data:`SMALL_INPUT_BYTES` (a gzip file counts 8× its size)."""
    if input == "-" or "://" in input:
        return False
    try:
        size = os.path.getsize(input)
    except OSError:
        return False  # scoring names the problem
    return size * (8 if input.endswith(".gz") else 1) < SMALL_INPUT_BYTES


__all__ = ["SMALL_INPUT_BYTES", "is_short_job", "score"]

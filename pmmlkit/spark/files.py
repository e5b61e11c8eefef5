"""``pmmlkit score --spark``: a Spark session of pmmlkit's, files read and written by
Spark, the counts and the rejects."""


from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmmlkit import _sparkstart
from pmmlkit.errors import (
    ConfigurationError,
)
from pmmlkit.spark.errors import _spark_errors
from pmmlkit.spark.job import _DETAIL, _FILE_COLUMN, BATCH_ROWS
from pmmlkit.spark.plan import _plan

if TYPE_CHECKING:

    from pmmlkit.batch.job import ScoreSummary

# -- files: pmmlkit score --spark ------------------------------------------------------------
def session(master: str | None = None, *, app_name: str = "pmmlkit-score",
            conf: dict[str, str] | None = None) -> Any:
    """The active Spark session, or a new one on ``master`` (default ``local[*]``) whose
    Python workers run this interpreter (so they import the same pmmlkit)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and master != running:
            raise ConfigurationError(f"a Spark session on {running} is already running in this "
                                     f"process; it cannot move to --master {master}")
        return active
    return _sparkstart.start(master or "local[*]", app_name, {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH_ROWS), **(conf or {})})


def _read(spark: Any, url: str, delimiter: str | None = None) -> Any:
    from pmmlkit.batch.formats import file_format

    fmt = file_format(url)
    if fmt.kind == "parquet":
        return spark.read.parquet(url)
    # every column as text (no inferSchema pass): the scorer reads numbers and names each
    # value it cannot read, as local scoring does
    reader = spark.read.option("header", "true").option("inferSchema", "false")
    sep = delimiter or fmt.delimiter
    if sep:  # (a .txt file's delimiter is sniffed locally; Spark assumes commas)
        reader = reader.option("sep", sep)
    return reader.option("mode", "PERMISSIVE").csv(url)


def _write(frame: Any, url: str, overwrite: bool = False) -> None:
    from pmmlkit.batch.sinks import output_format

    writer = frame.write.mode("overwrite" if overwrite else "errorifexists")
    fmt = output_format(url)
    if fmt.kind == "parquet":
        writer.parquet(url)
    else:
        writer.option("header", "true").option("sep", fmt.delimiter or ",").option(
            "compression", "gzip" if fmt.gzip else "none").csv(url)


@dataclass
class _Progress:
    """Spark's job progress (tasks done of all tasks of running stages) on stderr."""

    spark: Any
    show: bool
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> _Progress:
        if self.show:
            self._thread = threading.Thread(target=self._run, name="pmmlkit-spark-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        tracker = self.spark.sparkContext.statusTracker()
        with Progress(TextColumn("spark {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} tasks"), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("scoring", total=None)
            while not self._stop.wait(0.5):
                done = total = 0
                for stage in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(stage)
                    if info is not None:
                        done += info.numCompletedTasks
                        total += info.numTasks
                if total:
                    bar.update(task, completed=done, total=total)


def score_files(model: str, input: str, output: str, *, keep: Sequence[str] = (),
                rejects: str | None = None, backend: str | None = None,
                max_rejects: int | None = None, master: str | None = None,
                na_values: Sequence[str] | None = None, progress: bool | None = None,
                spark: Any = None, allow_missing_columns: bool = False,
                overwrite: bool = False, delimiter: str | None = None,
                decimal: str = ".") -> ScoreSummary:
    """``pmmlkit score --spark``: read ``input`` (CSV or Parquet, any path Spark reads) with
    Spark, score it on the executors, write the scored rows to ``output`` and the rejected
    ones (file, field, value, reason, kept columns) to ``rejects``.

    Spark writes a folder of part files and commits it at the end of the job (``_SUCCESS``);
    with ``max_rejects`` exceeded nothing is written (exit 11). Counts are exact:
    ``rows_read == rows_scored + rows_rejected``.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from pmmlkit.batch.formats import file_format
    from pmmlkit.batch.job import ScoreSummary, want_progress
    from pmmlkit.batch.sinks import output_format
    from pmmlkit.batch.sources import DEFAULT_NA_VALUES
    from pmmlkit.errors import TooManyRejectsError
    from pmmlkit.scorer.backends import resolve_name
    from pmmlkit.scorer.model import ERROR_COLUMN

    for url in (output, rejects):
        if url is not None:
            if url == "-":
                raise ConfigurationError("--spark writes folders of part files: give -o and "
                                         "--rejects paths, not '-'")
            output_format(url)
    from pmmlkit.storage import same_location

    for url in (output, rejects):
        if url is not None and same_location(input, url):
            raise ConfigurationError(f"{url}: this is the input; writing the results there "
                                     "would destroy it. Give another output path")
    spark = spark or session(master)
    start = time.perf_counter()
    summary = ScoreSummary(model, resolve_name(backend), input, output, rejects)
    with _spark_errors(f"{input} -> {output}"):
        frame = _read(spark, input, delimiter)
        if rejects is not None:
            frame = frame.withColumn(_FILE_COLUMN, F.input_file_name())
        text = file_format(input).kind != "parquet"
        markers = (DEFAULT_NA_VALUES if na_values is None else na_values) if text else ()
        scored = _plan(frame, model, keep=[*keep, *([_FILE_COLUMN] if rejects else [])],
                       backend=backend, transpile=None, verify=True, java_opts=None,
                       na_values=markers, detail=True, file_rules=text,
                       allow_missing_columns=allow_missing_columns, decimal=decimal)
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with _Progress(spark, want_progress(progress)):
                counts = scored.groupBy(F.col(ERROR_COLUMN).isNull().alias("ok")).count().collect()
                good = sum(r["count"] for r in counts if r["ok"])
                bad = sum(r["count"] for r in counts if not r["ok"])
                summary.rows_read, summary.rows_scored, summary.rows_rejected = good + bad, good, bad
                if max_rejects is not None and bad > max_rejects:
                    summary.finish(start)
                    raise TooManyRejectsError(
                        f"{input}: {bad} rows rejected, more than --max-rejects {max_rejects}; "
                        "published no output", summary=summary.to_dict())
                hidden = [*_DETAIL, ERROR_COLUMN, _FILE_COLUMN]
                _write(scored.where(F.col(ERROR_COLUMN).isNull()).drop(*hidden), output,
                       overwrite)
                failed = scored.where(F.col(ERROR_COLUMN).isNotNull())
                summary.first_rejects = [
                    {"row": None, "field": r[_DETAIL[0]], "value": r[_DETAIL[1]],
                     "reason": r[_DETAIL[2]]} for r in failed.limit(10).collect()]
                if rejects is not None:
                    _write(failed.select(F.col(_FILE_COLUMN).alias("file"),
                                         F.col(_DETAIL[0]).alias("field"),
                                         F.col(_DETAIL[1]).alias("value"),
                                         F.col(_DETAIL[2]).alias("reason"), *keep), rejects,
                           overwrite)
        finally:
            scored.unpersist()
    summary.completed = True
    summary.finish(start)
    return summary

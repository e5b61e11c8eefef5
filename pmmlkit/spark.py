"""Distributed scoring on Spark: the same model, the same output contract, on every executor.

:func:`score` turns a Spark DataFrame into one with the kept columns, the output contract's
columns (the names and types of :meth:`pmmlkit.Model.score_batch`) and the ``error`` column:
rows in = rows out, a bad row is never dropped. :func:`score_files` is ``pmmlkit score
--spark``: read files with Spark, score, write the scored rows and the rejects.

How it runs (measured in ``docs/performance.md``, design notes in ``docs/spark.md``): the PMML
travels with the job as bytes (a broadcast variable, checked by sha256 on arrival), so
executors need no access to the repository. Each Python worker scores Arrow batches through
``mapInArrow`` with pmmlkit's in-process JPMML scorer, exactly the code path of local scoring,
and keeps the model it built in this module's cache (an importable module: a cloudpickled
closure would be rebuilt per task), so a worker builds a model once and reuses it across
tasks and jobs. A compiled (transpiled) model the driver has in its cache travels too, and a
worker finding one in its own cache loads it instead of compiling again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pmmlkit import _sparkstart
from pmmlkit.errors import (
    ConfigurationError,
    InvalidInputError,
    PmmlkitError,
    from_wire,
    to_wire,
)
from pmmlkit.scorer.contract import spark_type

if TYPE_CHECKING:
    import pyarrow as pa

    from pmmlkit.batch.job import ScoreSummary
    from pmmlkit.scorer.model import Model

#: Rows per Arrow batch handed to a Python worker (``spark.sql.execution.arrow.
#: maxRecordsPerBatch``): bounds a worker's memory, large enough to amortize a JVM call.
BATCH_ROWS = 10_000
#: columns only ``score_files`` asks for, to write the rejects file
_DETAIL = ("_pmmlkit_field", "_pmmlkit_value", "_pmmlkit_reason")
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


# -- executor side ---------------------------------------------------------------------------
_models: dict[tuple[Any, ...], Model] = {}
_loads: dict[str, int] = {}
_models_lock = threading.Lock()


def worker_stats() -> dict[str, Any]:
    """This Python process's model cache: how many models it holds and how often each PMML
    (by sha256) was built. For tests and diagnostics on executors."""
    with _models_lock:
        return {"pid": os.getpid(), "models": len(_models), "loads": dict(_loads)}


def _value(payload: Any) -> Any:
    return payload.value if hasattr(payload, "value") else payload


def _model(job: _Job) -> Model:
    """The worker's model for this job: built on first use, then reused by every task."""
    key = (job.sha256, job.backend, job.transpile, job.verify)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        from pmmlkit.errors import ModelLoadError
        from pmmlkit.scorer.model import load

        data = bytes(_value(job.payload))
        actual = hashlib.sha256(data).hexdigest()
        if actual != job.sha256:
            raise ModelLoadError(f"{job.name}: the PMML that reached this executor has sha256 "
                                 f"{actual}, not the driver's {job.sha256}; it was damaged on "
                                 "the way. Run the job again.")
        if job.java_opts is not None:
            os.environ["PMMLKIT_JAVA_OPTS"] = job.java_opts  # before this worker's JVM starts
        if job.compiled is not None:
            _install_compiled(job.sha256, job.compiled[0], job.compiled[1])
        model = load(data, backend=job.backend, verify=job.verify, transpile=job.transpile,
                     name=job.name)
        _models[key] = model
        _loads[job.sha256] = _loads.get(job.sha256, 0) + 1
        return model


def _install_compiled(sha256: str, file_name: str, payload: Any) -> None:
    """Put the driver's verified compiled jar into this machine's cache, unless it has one."""
    from pmmlkit.scorer.backends import install_verified_jar

    install_verified_jar(sha256, file_name, bytes(_value(payload)))


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


@on_executor
def _partition(batches: Iterator[pa.RecordBatch], job: _Job) -> Iterator[pa.RecordBatch]:
    """mapInArrow's function: score each Arrow batch of a partition, one out per one in."""
    model = _model(job)
    parallelism = _task_cpus()
    for batch in batches:
        yield score_arrow(model, batch, job.keep, names=job.names, na_values=job.na_values,
                          file_rules=job.file_rules, detail=job.detail,
                          parallelism=parallelism, decimal=job.decimal)


def _task_cpus() -> int:
    """The cores Spark gave this task (``spark.task.cpus``, default 1): Spark runs one task
    per core, so a task's evaluator must not spread over the whole machine (measured: with
    the evaluator's default parallelism, local[2] scored no faster than local[1])."""
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        return max(1, int(context.cpus())) if context is not None else 1
    except Exception:
        return 1


def score_arrow(model: Model, batch: pa.RecordBatch, keep: Sequence[str], *,
                names: Sequence[str] | None = None, na_values: Sequence[str] = (),
                file_rules: bool = False, detail: bool = False,
                parallelism: int | None = None, decimal: str = ".") -> pa.RecordBatch:
    """Score one Arrow batch: the kept columns (as they are), the output contract's columns
    and ``error``; with ``detail``, the failing field, value and reason of each bad row.
    ``na_values`` or ``file_rules`` read text cells by the file rules
    (:func:`pmmlkit.scorer.arrow.apply_file_rules`)."""
    import numpy as np
    import pyarrow as pa

    from pmmlkit.batch.sinks import cell_text
    from pmmlkit.scorer.arrow import apply_file_rules, arrow_array, arrow_inputs

    table = pa.Table.from_batches([batch])
    if na_values or file_rules:
        table = apply_file_rules(table, model.schema, na_values, decimal=decimal)
    n = batch.num_rows
    out, errors = model.score_columns(arrow_inputs(model.schema, table), n,
                                      parallelism=parallelism)
    arrays: list[Any] = [batch.column(name) for name in keep]
    arrays += [arrow_array(column, values)
               for column, values in zip(model.schema.columns, out, strict=True)]
    messages = np.full(n, None, dtype=object)
    for err in errors:
        messages[err.row] = err.message
    arrays.append(pa.array(messages, pa.string()))
    if detail:
        for pick in (lambda e: e.field, lambda e: cell_text(e.value), lambda e: e.reason):
            values = np.full(n, None, dtype=object)
            for err in errors:
                values[err.row] = pick(err)
            arrays.append(pa.array(values, pa.string()))
    if names is None:
        from pmmlkit.scorer.model import ERROR_COLUMN

        names = [*keep, *model.schema.column_names, ERROR_COLUMN, *(_DETAIL if detail else ())]
    return pa.RecordBatch.from_arrays(arrays, names=list(names))


# -- driver side -----------------------------------------------------------------------------
def _source(model: Model | str, backend: str | None) -> tuple[str, bytes, Any]:
    """Name, PMML bytes and schema of what the driver was given, without starting a JVM."""
    from pmmlkit.schema import read_schema
    from pmmlkit.scorer.model import Model, read_model

    if isinstance(model, Model):
        if backend is not None and backend != model.backend:
            raise ConfigurationError(f"{model.source} is loaded with backend {model.backend!r};"
                                     f" backend={backend!r} cannot apply to it (pass its "
                                     "reference instead)")
        return model.source, model.pmml, model.schema
    data, _manifest, name = read_model(str(model))
    return name, data, read_schema(data, source=name)


def _share(spark: Any, data: bytes) -> Any:
    """A broadcast variable where the session has a SparkContext, else the bytes themselves
    (Spark Connect has no broadcast; the bytes travel with the plan)."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect: "not supported in Spark Connect"
        return data
    return context.broadcast(data)


def _compiled_payload(spark: Any, sha256: str) -> tuple[str, Any] | None:
    """The driver's verified compiled jar of this PMML, if it has one, to ship to workers."""
    try:
        from pmmlkit.scorer.backends import verified_jar

        jar = verified_jar(sha256)
    except Exception:
        return None
    if jar is None:
        return None
    return jar.name, _share(spark, jar.read_bytes())


def score(df: Any, model: Model | str, *, keep: Sequence[str] | None = None,
          backend: str | None = None, transpile: bool | None = None,
          verify: bool = True, java_opts: str | None = None,
          na_values: Sequence[str] = (), allow_missing_columns: bool = False) -> Any:
    """Score a Spark DataFrame on the executors; returns a Spark DataFrame (lazy).

    Columns: ``keep`` (default: every column of ``df`` not named like an output column, e.g.
    a label column named like the target), then the output contract's columns
    (the names and types of :meth:`Model.score_batch`: double, long, boolean or string),
    then ``error`` (null where the row was scored). ``model`` is any reference :func:`pmmlkit.
    load` takes, or a loaded :class:`Model`. ``java_opts`` sets the JVM options of each
    Python worker's evaluator (default ``PMMLKIT_JAVA_OPTS`` as the workers see it, else
    ``-Xmx1g``...). ``na_values``: text cells read as missing in model input columns. Every
    model input must be a column of ``df`` (:mod:`pmmlkit.scorer.matching`);
    ``allow_missing_columns`` scores absent ones as missing on every row.
    """
    return _plan(df, model, keep=keep, backend=backend, transpile=transpile, verify=verify,
                 java_opts=java_opts, na_values=na_values,
                 allow_missing_columns=allow_missing_columns)


def _plan(df: Any, model: Model | str, *, keep: Sequence[str] | None, backend: str | None,
          transpile: bool | None, verify: bool, java_opts: str | None,
          na_values: Sequence[str], detail: bool = False, file_rules: bool = False,
          allow_missing_columns: bool = False, decimal: str = ".") -> Any:
    from functools import partial

    from pyspark.sql import types as T

    from pmmlkit.batch.job import check_columns
    from pmmlkit.scorer.backends import resolve_name
    from pmmlkit.scorer.model import ERROR_COLUMN

    name, data, schema = _source(model, backend)
    columns = list(df.columns)
    outputs = [*schema.column_names, ERROR_COLUMN, *(_DETAIL if detail else ())]
    kept = [c for c in columns if c not in outputs] if keep is None else list(keep)
    check_columns(schema, columns, kept, f"{name} on the DataFrame",
                  allow_missing_columns=allow_missing_columns)
    clash = sorted(set(kept) & set(outputs))
    if clash:
        raise InvalidInputError(f"the kept columns {clash} have the names of output columns of "
                                f"{name}; keep=[...] without them (or rename them first)",
                                field=clash[0], reason="duplicate column")
    by_name = {f.name: f for f in df.schema.fields}
    fields = [by_name[k] for k in kept]
    fields += [T.StructField(c.name, spark_type(c.data_type), True) for c in schema.columns]
    fields += [T.StructField(n, T.StringType(), True) for n in outputs[len(schema.columns):]]
    spark = df.sparkSession
    sha256 = hashlib.sha256(data).hexdigest()
    job = _Job(name=name, sha256=sha256, payload=_share(spark, data),
               backend=None if backend is None else resolve_name(backend),
               transpile=transpile, verify=verify, keep=tuple(kept),
               names=tuple(kept + outputs), java_opts=java_opts,
               na_values=tuple(na_values), file_rules=file_rules, decimal=decimal,
               detail=detail,
               compiled=_compiled_payload(spark, sha256))
    wanted = list(dict.fromkeys([*kept, *(i for i in schema.input_names if i in columns)]))
    return df.select(*wanted).mapInArrow(partial(_partition, job=job), T.StructType(fields))


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


__all__ = ["BATCH_ROWS", "on_executor", "score", "score_arrow", "score_files", "session",
           "translate", "worker_stats"]

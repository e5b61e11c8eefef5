"""The batch job: read chunks, score them, write results and rejects, count every row.

Input is read in chunks with pyarrow (:mod:`pmmlkit.batch.sources`), scored with
:func:`pmmlkit.scorer.arrow.score_table` (the columnar call under
:meth:`pmmlkit.Model.score_arrow`), and written to a temporary name that is moved into place
only when the whole job succeeds (:mod:`pmmlkit.batch.sinks`). Every input row is accounted
for: ``rows_read == rows_scored + rows_rejected``.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pmmlkit.batch.formats import file_format
from pmmlkit.batch.sinks import RejectSink, TableWriter, cell_text, output_format, sink
from pmmlkit.batch.sources import DEFAULT_NA_VALUES, Chunk, open_source, prefetch
from pmmlkit.errors import (
    SHOWN_CHARACTERS,
    ConfigurationError,
    InvalidInputError,
    TooManyRejectsError,
)
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer import matching
from pmmlkit.scorer.arrow import arrow_inputs, score_table
from pmmlkit.scorer.model import ERROR_COLUMN, Model
from pmmlkit.scorer.validation import RowError
from pmmlkit.storage import check_outputs

DEFAULT_CHUNK_SIZE = 50_000


#: Exit code of ``pmmlkit score`` when the job completed but rejected some rows.
EXIT_ROWS_REJECTED = 10


@dataclass
class ScoreSummary:
    """What a scoring job did. ``rows_read == rows_scored + rows_rejected`` always."""

    model: str
    backend: str
    input: str
    output: str
    rejects: str | None
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    #: rows stored under their key (a ``redis://`` output), else None
    rows_written: int | None = None
    completed: bool = False
    first_rejects: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def finish(self, start: float) -> None:
        """Set the duration and the speed of a job that began at ``perf_counter()`` ``start``."""
        self.seconds = time.perf_counter() - start
        self.rows_per_second = self.rows_read / self.seconds if self.seconds else 0.0


def score_file(model: Model | str, input: str, output: str | None = None, *,
               keep: Sequence[str] = (), rejects: str | None = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, backend: str | None = None,
               max_rejects: int | None = None, progress: bool | None = None,
               na_values: Sequence[str] | None = None, key: str | None = None,
               ttl: int | None = None, name: str | None = None,
               allow_missing_columns: bool = False, overwrite: bool = False,
               delimiter: str | None = None, decimal: str = ".",
               all_rows: bool = False) -> ScoreSummary:
    """Score a CSV or Parquet file (local path or fsspec URL; ``-`` = stdin/stdout as CSV).

    Writes the kept columns, then the output contract's columns, for every scored row in
    input order; rejected rows go to ``rejects`` (CSV or Parquet by extension) with their
    record number, field, value and reason. ``max_rejects`` (default: no limit) stops the job
    with :class:`TooManyRejectsError` once exceeded, publishing no output. The output and the
    rejects file appear under their final names only when the job completes.
    ``na_values`` are the CSV cells read as missing in model input columns (default
    :data:`DEFAULT_NA_VALUES`, the markers of pandas and pyarrow: ``NA``, ``N/A``, ``NULL``,
    ``NaN``...; ``[]`` keeps only the empty cell).

    A ``redis://HOST:PORT/DB`` output stores each scored row under the value of column
    ``key`` (a hash of the output contract's columns, the kept columns, model name and
    version; ``ttl`` seconds to live), in a new run that readers see only once the job has
    completed (see :mod:`pmmlkit.online`). ``name`` names the model there when ``model`` is a
    bare PMML file rather than a repository reference. A row without a key is a reject.

    Every model input must be a column of the input (:mod:`pmmlkit.scorer.matching`);
    ``allow_missing_columns`` scores absent ones as missing on every row. An output or
    rejects file that is the input is refused; one that exists is replaced only with
    ``overwrite``. ``delimiter`` overrides the one the extension implies (``";"`` for
    European CSV files), ``decimal=","`` reads decimal commas in numeric inputs.

    ``all_rows`` lines the output up with the input: every record, in order, with an
    ``error`` column (None where scored; the outputs are empty where it is not), so no id
    column is needed to match results to records. Rejects still go to ``rejects``.
    """
    from pmmlkit.online import is_redis_url, redacted
    from pmmlkit.scorer.loading import load

    if chunk_size < 1:
        raise ConfigurationError("chunk_size must be at least 1")
    if decimal not in (".", ","):
        raise ConfigurationError(f"decimal {decimal!r}: use '.' or ','")
    if delimiter is not None and (len(delimiter) != 1 or delimiter == decimal
                                  or delimiter in "\"\r\n"):
        raise ConfigurationError(f"delimiter {delimiter!r}: give one character other than "
                                 "the decimal separator, a quote or a line end")
    file_format(input)  # an unknown file type fails before the model loads
    output = output or default_output(input)
    to_redis = is_redis_url(output)
    if to_redis and not key:
        raise ConfigurationError(f"{output}: writing results to Redis needs --key COLUMN, the "
                                 "input column whose value each result is stored under")
    if key and not to_redis:
        raise ConfigurationError("--key applies to a redis:// output only")
    if all_rows and to_redis:
        raise ConfigurationError("--all-rows applies to a file output: a Redis output "
                                 "stores scored rows by key")
    for url in (output, rejects):
        if url is not None and url != "-" and not (to_redis and url == output):
            output_format(url)
    check_outputs(input, [None if to_redis else output, rejects], overwrite=overwrite)
    loaded = model if isinstance(model, Model) else load(model, backend=backend)
    if to_redis and key:
        store = _store_name(loaded, name)
        keep = [key, *[k for k in keep if k != key]]
    wanted = list(dict.fromkeys([*keep, *loaded.schema.input_names]))
    source = open_source(input, wanted, schema=loaded.schema,
                         na_values=DEFAULT_NA_VALUES if na_values is None else na_values,
                         delimiter=delimiter, decimal=decimal)
    try:
        try:
            check_columns(loaded.schema, list(source.columns), keep, source.url,
                          allow_missing_columns=allow_missing_columns)
        except InvalidInputError as exc:
            hint = getattr(source, "hint", None)
            if hint is None:
                raise
            raise InvalidInputError(f"{exc}. Note: {hint}", field=exc.field,
                                    reason=exc.reason, problems=exc.problems) from exc
        summary = ScoreSummary(loaded.source, loaded.backend, input,
                               redacted(output) if to_redis else output, rejects)
        if to_redis:
            from pmmlkit.online import ResultWriter

            manifest = loaded.manifest or {}
            summary.rows_written = 0
            writer: Any = ResultWriter(
                output, store, key=str(key), version=manifest.get("version"),
                sha256=loaded.sha256, ttl=ttl,
                columns=[(k, "string") for k in keep if k != key] + [
                    (c.name, c.data_type) for c in loaded.schema.columns])
        else:
            writer = None
        _run(loaded, source, summary, keep=keep, chunk_size=chunk_size,
             max_rejects=max_rejects, show=want_progress(progress), store=writer, key=key,
             all_rows=all_rows)
    finally:
        source.close()
    return summary


def _store_name(model: Model, name: str | None) -> str:
    """The name results are stored under: ``name``, else the repository model's name."""
    if name:
        return name
    if model.manifest and model.manifest.get("name"):
        return str(model.manifest["name"])
    raise ConfigurationError(f"{model.source} is a PMML file, not a repository model: give "
                             "the name to store its results under (--name NAME)")


def default_output(input: str) -> str:
    if input == "-":
        return "-"
    fmt = file_format(input)
    if fmt.kind == "parquet":
        return f"{input.rsplit('.', 1)[0]}.scored.parquet"
    base = input[:-3] if fmt.gzip else input
    stem, _, suffix = base.rpartition(".")
    return f"{stem}.scored.{suffix}" + (".gz" if fmt.gzip else "")


def check_columns(schema: ModelSchema, columns: list[str], keep: Sequence[str],
                  where: str, *, allow_missing_columns: bool = False) -> None:
    """Fail before scoring when a model input (:mod:`pmmlkit.scorer.matching`) or a kept
    column is absent."""
    missing_keep = [c for c in keep if c not in set(columns)]
    if missing_keep:
        raise InvalidInputError(f"{where}: the kept columns {missing_keep} are not in the "
                                f"header (columns: {columns})", field=missing_keep[0],
                                reason="missing column")
    matching.check_columns(schema.input_names, columns, where=where, what="columns",
                           allow_missing_columns=allow_missing_columns)


def want_progress(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


@contextlib.contextmanager
def _output(summary: ScoreSummary, store: Any) -> Any:
    """Where scored rows go: a file written atomically, or a Redis run flipped live at the
    end (and deleted if the job fails). Yields ``write(table)`` and ``close(schema)``."""
    if store is None:
        with sink(summary.output) as stream:
            writer = TableWriter(stream, output_format(summary.output))
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
        return
    try:
        yield store
    except BaseException:
        store.abort()
        raise
    store.commit()


class _NoProgress(contextlib.nullcontext[None]):
    """No progress display (not a terminal): rich is not even imported (~40 ms)."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("scoring {task.description}"),
                    TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _run(model: Model, source: Any, summary: ScoreSummary, *, keep: Sequence[str],
         chunk_size: int, max_rejects: int | None, show: bool, store: Any = None,
         key: str | None = None, all_rows: bool = False) -> None:
    start = time.perf_counter()
    out_schema: pa.Schema | None = None
    progress = _progress() if show else _NoProgress()
    chunks = prefetch(source.chunks(chunk_size), lambda chunk: arrow_inputs(model.schema, chunk.table))
    with progress, contextlib.closing(chunks), _output(summary, store) as writer, \
            RejectSink(summary.rejects) as rej:
        task = progress.add_task(summary.input.rsplit("/", 1)[-1], total=None)
        for chunk, inputs in chunks:
            scored_table, located, scored = _score_chunk(model, chunk, inputs, keep, key,
                                                         all_rows)
            errors = [e for e, _ in located]
            out_schema = scored_table.schema
            writer.write(scored_table)
            if store is not None:
                summary.rows_written = store.rows_written
            summary.rows_read += chunk.table.num_rows + len(chunk.malformed)
            summary.rows_scored += scored
            summary.rows_rejected += len(errors)
            rej.write(located, chunk, keep)
            room = 10 - len(summary.first_rejects)
            if room > 0:
                summary.first_rejects.extend(itertools.islice(
                    (_describe(each) for e in errors for each in e.each()), room))
            progress.update(task, completed=summary.rows_read)
            if max_rejects is not None and summary.rows_rejected > max_rejects:
                summary.finish(start)
                raise TooManyRejectsError(
                    f"{summary.input}: {summary.rows_rejected} rows rejected, more than "
                    f"--max-rejects {max_rejects}; stopped after {summary.rows_read} rows and "
                    "published no output", summary=summary.to_dict())
        writer.close(out_schema or _empty_schema(model, keep, all_rows))
    summary.completed = True
    summary.finish(start)


def _describe(error: RowError) -> dict[str, Any]:
    value = cell_text(error.value)
    if value is not None and len(value) > SHOWN_CHARACTERS:  # as text, like the short ones
        value = f"{value[:SHOWN_CHARACTERS]}… ({len(value):,} characters)"
    return {"row": error.row, "field": error.field, "value": value, "reason": error.reason}


def _score_chunk(model: Model, chunk: Chunk, inputs: dict[str, Any], keep: Sequence[str],
                 key: str | None = None, all_rows: bool = False
                 ) -> tuple[pa.Table, list[tuple[RowError, int]], int]:
    """The chunk's output table, its rejects (each with its table position, -1 for an
    unparseable line) and how many rows were scored. With ``all_rows`` the table has every
    record, in the input's order, and an ``error`` column."""
    n = chunk.table.num_rows
    out, errors = score_table(model, chunk.table, inputs=inputs)
    if key is not None:
        errors = _keyless(chunk.table.column(key), errors, key)
    numbers = chunk.record_numbers([e.row for e in errors])
    located = [(e.at(n), e.row) for n, e in zip(numbers, errors, strict=True)]
    located += [(e, -1) for e in chunk.malformed]
    located.sort(key=lambda item: item[0].row)
    scored = n - len(errors)
    if all_rows:
        return _every_row(model, chunk, out, errors, keep), located, scored
    good = np.ones(n, dtype=bool)
    if errors:
        good[[e.row for e in errors]] = False
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in keep:
        columns[name] = chunk.table.column(name).filter(pa.array(good)) if errors else \
            chunk.table.column(name)
    mask = pa.array(good) if errors else None
    for column, values in zip(model.schema.columns, out, strict=True):
        columns[column.name] = values.filter(mask) if mask is not None else values
    return pa.table(columns), located, scored


def _every_row(model: Model, chunk: Chunk, out: list[pa.Array], errors: list[RowError],
               keep: Sequence[str]) -> pa.Table:
    """Every record of the chunk in the input's order: kept columns, outputs (null where
    rejected), ``error``; an unparseable line has its place too, with only its error."""
    n = chunk.table.num_rows
    messages = np.full(n, None, dtype=object)
    for e in errors:
        messages[e.row] = e.message
    columns: dict[str, Any] = {name: chunk.table.column(name) for name in keep}
    for column, values in zip(model.schema.columns, out, strict=True):
        columns[column.name] = values
    columns[ERROR_COLUMN] = pa.array(messages, pa.string())
    table = pa.table(columns)
    if not chunk.malformed:
        return table
    lines = pa.table({name: pa.nulls(len(chunk.malformed), table.schema.field(name).type)
                      for name in table.column_names if name != ERROR_COLUMN}
                     | {ERROR_COLUMN: pa.array([e.message for e in chunk.malformed], pa.string())})
    records = [*chunk.record_numbers(list(range(n))), *(e.row for e in chunk.malformed)]
    order = pa.array(np.argsort(np.asarray(records), kind="stable"))
    return pa.concat_tables([table, lines.select(table.column_names)]).take(order)


def _keyless(column: pa.ChunkedArray, errors: list[RowError], key: str) -> list[RowError]:
    """Rows without a key cannot be stored: rejects, beside the rows the model refused."""
    empty = pc.fill_null(pc.equal(pc.cast(column, pa.string()), ""), True)
    rows = np.flatnonzero(empty.to_numpy(zero_copy_only=False)).tolist()
    if not rows:
        return errors
    known = {e.row for e in errors}
    extra = [RowError(r, key, None, f"no value in the key column {key!r}: the result cannot "
                                    "be stored") for r in rows if r not in known]
    return sorted([*errors, *extra], key=lambda e: e.row)


def _empty_schema(model: Model, keep: Sequence[str], all_rows: bool = False) -> pa.Schema:
    fields = [pa.field(k, pa.string()) for k in keep]
    fields += list(model.output_schema)
    if all_rows:
        fields.append(pa.field(ERROR_COLUMN, pa.string()))
    return pa.schema(fields)


__all__ = ["DEFAULT_CHUNK_SIZE", "EXIT_ROWS_REJECTED", "ScoreSummary", "score_file"]

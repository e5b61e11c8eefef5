"""Writing results and rejects: CSV (comma or tab, gzip by extension) or Parquet, atomically.

Both files are written under a hidden temporary name and moved into place only when the job
completes (:func:`pmmlkit.storage.atomic_write`); ``-`` writes CSV to stdout.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pyarrow as pa

from pmmlkit._values import cell_text
from pmmlkit.batch.formats import FileFormat, file_format
from pmmlkit.batch.sources import Chunk
from pmmlkit.scorer.validation import RowError
from pmmlkit.storage import atomic_write

REJECT_COLUMNS = ["row", "field", "value", "reason"]


class TableWriter:
    """Writes tables with one schema (the first table's) to an open binary stream."""

    def __init__(self, stream: IO[bytes], fmt: FileFormat):
        self._stream: Any = stream
        self._compressed: Any = None
        if fmt.gzip:
            self._compressed = pa.CompressedOutputStream(stream, "gzip")
            self._stream = self._compressed
        self._fmt = fmt
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._schema = table.schema
            if self._fmt.kind == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._stream, table.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(
                    self._stream, table.schema,
                    write_options=pacsv.WriteOptions(delimiter=self._fmt.delimiter or ","))
        self._writer.write_table(table.cast(self._schema))

    def close(self, empty_schema: pa.Schema) -> None:
        if self._writer is None:
            self.write(empty_schema.empty_table())
        self._writer.close()
        if self._compressed is not None:
            self._compressed.close()

    def abort(self) -> None:
        """Let go of a file that will be deleted: close the writers now, quietly (a
        ParquetWriter left to its ``__del__`` would write its footer into a closed file and
        print "Exception ignored" at exit)."""
        for part in (self._writer, self._compressed):
            with contextlib.suppress(Exception):
                if part is not None:
                    part.close()
        self._writer = self._compressed = None


def output_format(url: str) -> FileFormat:
    fmt = file_format(url)
    return fmt if fmt.delimiter is not None else FileFormat("csv", ",", fmt.gzip)


@contextlib.contextmanager
def sink(url: str) -> Iterator[IO[bytes]]:
    """The output stream: stdout for ``-``, else an atomic write to ``url``."""
    if url == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_write(url) as fh:
        yield fh


class RejectSink:
    """The rejects file: row, field, value, reason and the kept columns; atomic like outputs."""

    def __init__(self, url: str | None):
        self._url = url
        self._context: Any = None
        self._writer: TableWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> RejectSink:
        if self._url is not None:
            self._context = atomic_write(self._url)
            self._writer = TableWriter(self._context.__enter__(), output_format(self._url))
        return self

    def write(self, located: list[tuple[RowError, int]], chunk: Chunk,
              keep: Sequence[str]) -> None:
        """Write rejected rows, one line per bad field (a row with several has several
        lines); ``located`` pairs each row with its table position (-1: none)."""
        if self._writer is None or not located:
            return
        lines = [(each, p) for e, p in located for each in e.each()]
        errors = [e for e, _ in lines]
        positions = [p for _, p in lines]
        table = pa.table({
            "row": pa.array([e.row for e in errors], pa.int64()),
            "field": pa.array([e.field for e in errors], pa.string()),
            "value": pa.array([cell_text(e.value) for e in errors], pa.string()),
            "reason": pa.array([e.reason for e in errors], pa.string()),
            **{k: _kept_values(chunk.table, k, positions) for k in keep},
        })
        self._schema = self._schema or table.schema
        self._writer.write(table.cast(self._schema))

    def __exit__(self, *exc: Any) -> None:
        if self._context is None or self._writer is None:
            return
        if exc[0] is None:
            self._writer.close(self._schema or pa.schema(
                [pa.field(c, pa.int64() if c == "row" else pa.string())
                 for c in REJECT_COLUMNS]))
        else:
            self._writer.abort()
        self._context.__exit__(*exc)


def _kept_values(table: pa.Table, name: str, positions: list[int]) -> pa.Array:
    column = table.column(name)
    values = [column[p].as_py() if 0 <= p < table.num_rows else None for p in positions]
    return pa.array([None if v is None else str(v) for v in values], pa.string())

"""Reading input files in chunks: CSV (comma, tab, gzip) and Parquet, on any fsspec URL.

Every line of the input is accounted for: a chunk carries the rows that parsed and the
record numbers and reasons of those that did not (an unparseable line, a cell that is not
UTF-8 text). Errors of the file itself (corrupt, unreadable) name the file.
"""

from __future__ import annotations

import bisect
import csv
import io
import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa

from pmmlkit._boundary import storage
from pmmlkit.batch.formats import file_format, sniff_delimiter
from pmmlkit.errors import SHOWN_CHARACTERS, InvalidInputError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.arrow import apply_file_rules
from pmmlkit.scorer.validation import RowError

_NAMES = {";": "semicolon", "\t": "tab", "|": "bar", ",": "comma"}

#: CSV read block. Measured: 16 MiB blocks held ~600 MB of parser memory, 1 MiB ~120 MB, at
#: the same speed.
CSV_BLOCK_BYTES = 1 << 20

#: a CSV line longer than the read block less this margin (960 KiB of the 1 MiB block) is a
#: reject naming its line number: the parser needs every record within one block, and would
#: end the whole file on a longer one
LINE_MARGIN_BYTES = 64 << 10

#: text cells read as missing values in a model input column of a CSV file: the markers
#: pyarrow and pandas treat as missing (R, Excel and databases write them)
DEFAULT_NA_VALUES: tuple[str, ...] = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


@dataclass
class Chunk:
    table: pa.Table
    first_row: int  # 1-based count of parsed rows before the table's first row, plus one
    malformed: list[RowError]  # lines met since the previous chunk that are not in a table
    skipped: tuple[int, ...] = ()  # sorted record numbers of every such line so far

    def record_numbers(self, positions: Sequence[int]) -> list[int]:
        """1-based record numbers (data lines) of the table rows at ``positions``.

        The n-th parsed row is the n-th record number that is not a skipped line, found by a
        fixed point over the sorted skipped numbers.
        """
        wanted = np.asarray(positions, dtype=np.int64) + self.first_row
        if not self.skipped:
            return wanted.tolist()
        skipped = np.asarray(self.skipped, dtype=np.int64)
        numbers = wanted.copy()
        while True:
            moved = wanted + np.searchsorted(skipped, numbers, side="right")
            if np.array_equal(moved, numbers):
                return numbers.tolist()
            numbers = moved


class CsvSource:
    """Streams a CSV: the header is read first so missing columns fail before scoring.

    Model input columns (of ``schema``) are read by the file rules
    (:func:`pmmlkit.scorer.arrow.apply_file_rules`: ``na_values`` are missing, boolean
    spellings take the field's); kept columns stay text exactly as in the input. A cell that
    is not UTF-8 text rejects its row, not the job.
    """

    def __init__(self, url: str, wanted: Sequence[str], *, schema: ModelSchema | None = None,
                 na_values: Sequence[str] = DEFAULT_NA_VALUES,
                 chunk_bytes: int = CSV_BLOCK_BYTES, stream: IO[bytes] | None = None,
                 delimiter: str | None = None, decimal: str = "."):
        self.url = url
        self._na_values = tuple(na_values)
        self._schema = schema
        self._decimal = decimal
        self._stream = self._open(url) if stream is None else stream
        with storage(url, "read the header line", corrupt=InvalidInputError):
            header = self._stream.readline().decode("utf-8-sig")
        if not header.strip():
            self.close()
            raise InvalidInputError(f"{url}: the file is empty (no header line)")
        self.delimiter = delimiter or (file_format(url).delimiter if stream is None else ",") \
            or sniff_delimiter(header)
        self.columns = next(csv.reader([header], delimiter=self.delimiter))
        #: why the header may have been split wrong (one column holding other delimiters)
        self.hint: str | None = None
        if len(self.columns) == 1:
            other = sniff_delimiter(header)
            if other != self.delimiter:
                self.hint = (f"the header is one column {header.strip()[:60]!r}: the file "
                             f"looks {_NAMES.get(other, repr(other))}-separated; pass "
                             f"--delimiter {other!r}")
        self._wanted = [c for c in self.columns if c in set(wanted)]
        self._chunk_bytes = chunk_bytes
        self._malformed: list[RowError] = []
        self._skipped: list[int] = []
        self._guard: _LineGuard | None = None

    @staticmethod
    def _open(url: str) -> IO[bytes]:
        if url == "-":
            return sys.stdin.buffer
        from pmmlkit.storage import open_input

        with storage(url, "open the input", missing=InvalidInputError):
            return open_input(url)

    def _skip(self, error: RowError) -> None:
        bisect.insort(self._skipped, error.row)
        self._malformed.append(error)

    def _on_invalid(self, row: Any) -> str:
        # lines are counted from after the header, so a line number is a record number.
        # An exception here would end the job inside pyarrow: every line gets a reason.
        number = row.number if row.number is not None else -1
        try:
            text = row.text
            found = self._guard.marked(text) if self._guard is not None else None
            if found is not None:
                value, reason = found
            else:
                value, reason = text, (f"unparseable line: {row.actual_columns} fields where "
                                       f"the header has {row.expected_columns}")
        except Exception as exc:  # the line is reported, never lost
            value, reason = None, f"unparseable line ({exc})"
        self._skip(RowError(number, None, value, reason))
        return "skip"

    def chunks(self, rows_per_chunk: int) -> Iterator[Chunk]:
        with storage(self.url, "read the CSV input", corrupt=InvalidInputError):
            yield from self._chunks(rows_per_chunk)

    def _chunks(self, rows_per_chunk: int) -> Iterator[Chunk]:
        import pyarrow.csv as pacsv

        limit = max(self._chunk_bytes - LINE_MARGIN_BYTES, self._chunk_bytes // 2)
        self._guard = _LineGuard(self._stream, limit, self.delimiter, len(self.columns))
        reader = pacsv.open_csv(
            self._guard,
            read_options=pacsv.ReadOptions(column_names=self.columns,
                                           block_size=self._chunk_bytes, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter,
                                             invalid_row_handler=self._on_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=self._wanted,
                column_types={c: pa.binary() for c in self._wanted},
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True))
        parsed = 0
        for batch in rebatch(reader, rows_per_chunk):
            first = parsed + 1
            table = self._text(pa.Table.from_batches([batch]), first)
            malformed, self._malformed = self._malformed, []
            if self._schema is not None:
                table = apply_file_rules(table, self._schema, self._na_values,
                                         decimal=self._decimal)
            yield Chunk(table, first, malformed, tuple(self._skipped))
            parsed += table.num_rows
        if self._malformed:
            yield Chunk(pa.table({c: pa.array([], pa.string()) for c in self._wanted}),
                        parsed + 1, self._malformed, tuple(self._skipped))

    def _text(self, table: pa.Table, first: int) -> pa.Table:
        """The cells as UTF-8 text; a row holding a cell that is not is taken out of the
        table and reported with its record number."""
        bad: dict[int, tuple[str, bytes]] = {}
        for name in table.column_names:
            try:
                table.column(name).cast(pa.string())
            except pa.ArrowInvalid:
                for i, cell in enumerate(table.column(name).to_pylist()):
                    if cell is not None and i not in bad and not _is_utf8(cell):
                        bad[i] = (name, cell)
        if bad:
            positions = sorted(bad)
            numbers = Chunk(table, first, [], tuple(self._skipped)).record_numbers(positions)
            for position, number in zip(positions, numbers, strict=True):
                name, cell = bad[position]
                self._skip(RowError(number, name, cell.decode("utf-8", "backslashreplace"),
                                    f"not UTF-8 text ({_utf8_problem(cell)})"))
            keep = np.ones(table.num_rows, dtype=bool)
            keep[positions] = False
            table = table.filter(pa.array(keep))
        return table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))

    def close(self) -> None:
        if self._stream is not sys.stdin.buffer:
            self._stream.close()


class _LineGuard(io.RawIOBase):
    """The CSV stream as the parser reads it, with every line it could not take replaced by a
    marker line that always has one field too many (so the parser hands it to the invalid
    row handler, at its own line number): a line longer than ``limit`` bytes (the parser
    would end the whole file on it), and a line that is not UTF-8 text and has another
    number of fields than the header (the parser cannot decode it to report it). A line that
    is not UTF-8 but has the header's fields passes: its cell is rejected by column."""

    MARK = "PMMLKITREJECTEDLINE"

    def __init__(self, raw: IO[bytes], limit: int, delimiter: str, columns: int):
        self._raw = raw
        self._limit = limit
        self._delimiter = delimiter
        self._columns = columns
        self._pending = b""
        self._out = bytearray()
        self._skipping: bytearray | None = None  # the start of an over-long line
        self._skipped = 0
        self._eof = False
        self._reasons: list[tuple[str | None, str]] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._eof:
            self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        del self._out[:n]
        return n

    def marked(self, text: str) -> tuple[str | None, str] | None:
        """The (value, reason) of a marker line, None for a line of the input."""
        if not text.startswith(self.MARK):
            return None
        index = text[len(self.MARK):].split(self._delimiter, 1)[0]
        return self._reasons[int(index)]

    def _mark(self, value: str | None, reason: str) -> None:
        self._reasons.append((value, reason))
        self._out += (f"{self.MARK}{len(self._reasons) - 1}"
                      + self._delimiter * self._columns + "\n").encode()

    def _too_long(self, start: bytes, size: int) -> None:
        preview = start[:SHOWN_CHARACTERS].decode("utf-8", "backslashreplace")
        self._mark(preview + "…", f"a line of {size:,} bytes: longer than the longest line "
                                  f"read as a record ({self._limit:,} bytes)")

    def _fill(self) -> None:
        data = self._raw.read(1 << 20)
        if not data:
            self._eof = True
            if self._skipping is not None:
                self._too_long(bytes(self._skipping), self._skipped)
            elif self._pending:
                self._emit(self._pending)
            self._pending = b""
            return
        if self._skipping is not None:  # the rest of an over-long line
            end = data.find(b"\n")
            if end == -1:
                self._skipped += len(data)
                return
            self._too_long(bytes(self._skipping), self._skipped + end)
            self._skipping = None
            data = data[end + 1:]
        buf = self._pending + data
        start, i, n = 0, 0, len(buf)
        while n - i > self._limit:
            newline = buf.rfind(b"\n", i, i + self._limit + 1)
            if newline != -1:
                i = newline + 1
                continue
            self._emit(buf[start:i])  # the line at i is over-long
            end = buf.find(b"\n", i + self._limit)
            if end == -1:
                self._skipping, self._skipped = bytearray(buf[i:i + SHOWN_CHARACTERS]), n - i
                self._pending = b""
                return
            self._too_long(buf[i:end], end - i)
            start = i = end + 1
        last = buf.rfind(b"\n", start)
        cut = start if last == -1 else last + 1
        self._emit(buf[start:cut])
        self._pending = buf[cut:]

    def _emit(self, lines: bytes) -> None:
        """Complete lines to the parser; a line that is not UTF-8 text and has another
        number of fields than the header becomes a marker."""
        while lines:
            try:
                lines.decode("utf-8")
            except UnicodeDecodeError as exc:
                begin = lines.rfind(b"\n", 0, exc.start) + 1
                end = lines.find(b"\n", exc.start)
                end = len(lines) if end == -1 else end + 1
                self._out += lines[:begin]
                line = lines[begin:end]
                text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
                fields = len(next(csv.reader([text], delimiter=self._delimiter), []))
                if fields == self._columns:
                    self._out += line
                else:
                    bare = line.rstrip(b"\r\n")
                    self._mark(bare.decode("utf-8", "backslashreplace")[:SHOWN_CHARACTERS * 4],
                               f"unparseable line: {fields} fields where the header has "
                               f"{self._columns}, and not UTF-8 text ({_utf8_problem(bare)})")
                lines = lines[end:]
                continue
            self._out += lines
            return


def _is_utf8(cell: bytes) -> bool:
    try:
        cell.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_problem(cell: bytes) -> str:
    try:
        cell.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{cell[exc.start]:02x} at position {exc.start}"
    return "valid"


class ParquetSource:
    def __init__(self, url: str, wanted: Sequence[str]):
        import pyarrow.parquet as pq

        from pmmlkit.storage import open_input

        self.url = url
        with storage(url, "open the input", missing=InvalidInputError):
            self._file = open_input(url)
        try:
            with storage(url, "read the Parquet footer (is it a Parquet file?)",
                         corrupt=InvalidInputError):
                self._parquet = pq.ParquetFile(self._file)
        except BaseException:
            self._file.close()
            raise
        self.columns = list(self._parquet.schema_arrow.names)
        self._wanted = [c for c in self.columns if c in set(wanted)]

    def chunks(self, rows_per_chunk: int) -> Iterator[Chunk]:
        first = 1
        with storage(self.url, "read the Parquet input", corrupt=InvalidInputError):
            for batch in self._parquet.iter_batches(batch_size=rows_per_chunk,
                                                    columns=self._wanted):
                yield Chunk(pa.Table.from_batches([batch]), first, [])
                first += batch.num_rows

    def close(self) -> None:
        self._file.close()


def open_source(url: str, wanted: Sequence[str], *, schema: ModelSchema,
                na_values: Sequence[str], delimiter: str | None = None,
                decimal: str = ".") -> CsvSource | ParquetSource:
    if file_format(url).kind == "parquet":
        return ParquetSource(url, wanted)
    return CsvSource(url, wanted, schema=schema, na_values=na_values, delimiter=delimiter,
                     decimal=decimal)


def rebatch(reader: Any, rows: int) -> Iterator[pa.RecordBatch]:
    """Regroup a stream of record batches into batches of exactly ``rows`` rows (last: fewer)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks().to_batches()[0]
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


READER_THREAD = "pmmlkit-reader"


def prefetch(chunks: Iterator[Chunk], convert: Callable[[Chunk], Any]
             ) -> Generator[tuple[Chunk, Any], None, None]:
    """Read and convert the next chunk in a thread while the JVM scores the current one.

    At most two chunks wait. When the consumer stops early (an error, too many rejects,
    Ctrl-C) and closes this generator, the reader stops at its next hand-off and the
    thread ends: no put blocks forever.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    done = object()
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer((chunk, convert(chunk))):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer
            offer(exc)

    thread = threading.Thread(target=produce, name=READER_THREAD, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()

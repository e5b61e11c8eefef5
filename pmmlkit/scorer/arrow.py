"""Arrow columns in and out of :meth:`pmmlkit.Model.score_columns`, without pandas.

In: a table's model input columns in the forms the scorer takes (:func:`arrow_inputs`):
typed numbers as they are, text dictionary-encoded, and numeric text read the way the
evaluator reads it (:func:`numeric_text`). Out: an output column as Arrow, typed by the
output contract (:func:`arrow_array`).

The file rules (:func:`apply_file_rules`) are how pmmlkit reads a text file's cells before
any evaluator sees them: the NA markers are missing values; where a field's declared values
are the spellings of a boolean (``true``/``false`` in one case or another), a cell spelling
a boolean in any case (``True``, ``TRUE``, ``false``...) reads as the declared spelling;
dates are read as pandas writes them (``2020-01-05 10:00:00`` for a ``dateTime`` field is
``2020-01-05T10:00:00``, a date alone its midnight; a midnight timestamp for a ``date`` field
is its date); and in a file with decimal commas (``decimal=","``) a numeric field's comma is
its decimal point (no thousands separators).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pmmlkit.schema import Column, InputField, ModelSchema
from pmmlkit.scorer.contract import ERROR_COLUMN, arrow_type
from pmmlkit.scorer.validation import Encoded, RawColumn, RowError, boolean_spelling, encode

if TYPE_CHECKING:
    from pmmlkit.scorer.model import Model

#: decimal notation: what both Arrow's parser and Java's ``Double.parseDouble`` read, to the
#: same (correctly rounded) double
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT_LIMIT = 2.0**31
#: beyond this a double may round to a float infinity: the evaluator reads such text itself
_FLOAT_RANGE = 3.4e38


def arrow_inputs(schema: ModelSchema, table: pa.Table) -> dict[str, Any]:
    """The model's input columns of ``table`` in the forms :meth:`pmmlkit.Model.
    score_columns` takes; an absent input is left out (the caller decides whether that is
    allowed)."""
    data: dict[str, Any] = {}
    for f in schema.inputs:
        if f.name in table.column_names:
            data[f.name] = _input(f, table.column(f.name))
    return data


def _input(field: InputField, column: pa.ChunkedArray) -> Any:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if field.is_numeric:
            return numeric_text(column.combine_chunks(), field.data_type)
        return _encoded(column)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if field.is_numeric:
            return column.cast(pa.float64()).to_numpy()
        return column.to_numpy(zero_copy_only=False)
    if pa.types.is_temporal(kind):  # as Python dates and times, read by the field's type
        return encode(column.to_pylist())
    return encode(column.to_pylist())  # the encoder names each value it cannot take


def _encoded(column: pa.ChunkedArray) -> Encoded:
    try:
        encoded = column.combine_chunks().dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a type Arrow cannot encode
        return encode(column.to_pylist())
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return Encoded(codes.astype(np.int64), encoded.dictionary.to_pylist())


def numeric_text(column: pa.Array, data_type: str) -> RawColumn:
    """Text of a numeric field (``double``, ``float`` or ``integer``), read as the evaluator
    reads it (JPMML-Evaluator's ``TypeUtil.parse``).

    Decimal notation is read here, in one vectorised step, to the double Java's parser gives
    (both round correctly; a negative zero becomes zero, as the evaluator's reading adds
    0.0). Every other cell goes to the evaluator as text, to be read by its own rules:
    ``NaN``, ``INF`` and other spellings, Java's ``1.5d`` or hex notation, surrounding
    spaces, ``true``/``false``, text that is no number; for an integer field a value that is
    not a whole number within the 32-bit range; for a float field a double lying exactly
    halfway between two floats (where rounding twice could differ from rounding once)."""
    # "" is missing, as everywhere (see pmmlkit.scorer.validation)
    present = pc.fill_null(pc.greater(pc.utf8_length(column), 0), False).to_numpy(
        zero_copy_only=False)
    try:
        parsed = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        plain = pc.fill_null(pc.match_substring_regex(column, _DECIMAL), False)
        parsed = pc.cast(pc.if_else(plain, column, pa.scalar(None, column.type)), pa.float64())
    numbers = pc.fill_null(parsed, np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    numbers = np.where(present, numbers + 0.0, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        text = present & ~np.isfinite(numbers)
        if data_type == "integer":
            text |= present & ((np.mod(numbers, 1.0) != 0) | (np.abs(numbers) >= _INT_LIMIT))
        elif data_type == "float":
            text |= present & ((np.abs(numbers) > _FLOAT_RANGE) | _float_midpoint(numbers))
    if not text.any():
        return RawColumn(numbers)
    numbers[text] = np.nan
    rows = np.flatnonzero(text)
    encoded = pc.take(column, pa.array(rows)).dictionary_encode()
    codes = np.full(len(numbers), -1, dtype=np.int64)
    codes[rows] = encoded.indices.to_numpy(zero_copy_only=False)
    return RawColumn(numbers, codes, encoded.dictionary.to_pylist())


def _float_midpoint(numbers: np.ndarray) -> np.ndarray:
    """Where a double lies exactly halfway between two adjacent floats."""
    single = numbers.astype(np.float32)
    back = single.astype(np.float64)
    toward = np.where(numbers > back, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    neighbour = np.nextafter(single, toward).astype(np.float64)
    middle = (back + neighbour) / 2
    return (numbers != back) & (numbers == middle)


def apply_file_rules(table: pa.Table, schema: ModelSchema, na_values: Sequence[str], *,
                     decimal: str = ".") -> pa.Table:
    """``table``'s model input columns read by the file rules (see the module): the NA
    markers ``na_values`` become missing and boolean spellings take the field's; with
    ``decimal=","`` (European files) a numeric field's decimal comma is a point."""
    markers = pa.array(sorted(set(na_values) - {""}), pa.string())
    for f in schema.inputs:
        if f.name not in table.column_names:
            continue
        at = table.column_names.index(f.name)
        column = table.column(at)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        if len(markers):
            marked = pc.is_in(column, value_set=markers.cast(column.type))
            if pc.any(marked).as_py():
                column = pc.if_else(marked, pa.scalar(None, column.type), column)
        if decimal != "." and f.is_numeric:
            column = pc.replace_substring(column, decimal, ".")
        if f.data_type in ("date", "dateTime"):
            column = _iso_text(column, f.data_type)
        spelling = boolean_spelling(f)
        if spelling is not None:
            lowered = pc.utf8_lower(column)
            for word, declared in spelling.items():
                column = pc.if_else(pc.fill_null(pc.equal(lowered, word), False),
                                    pa.scalar(declared, column.type), column)
        table = table.set_column(at, f.name, column)
    return table


#: a date, or a date and time with a space or "T" between (pandas writes the space)
_DATE = r"^(\d{4}-\d{2}-\d{2})$"
_DATE_TIME = r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$"
_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2})[ T]00:00(?::00(?:\.0+)?)?$"


def _iso_text(column: Any, data_type: str) -> Any:
    """Date text as pandas and spreadsheets write it, as the evaluator reads it: for a
    ``dateTime`` field the space between date and time is a "T" and a date alone is its
    midnight; for a ``date`` field a midnight timestamp is its date."""
    if data_type == "dateTime":
        column = pc.replace_substring_regex(column, _DATE_TIME, r"\1T\2")
        return pc.replace_substring_regex(column, _DATE, r"\1T00:00:00")
    return pc.replace_substring_regex(column, _MIDNIGHT, r"\1")


def arrow_array(column: Column, values: np.ndarray) -> pa.Array:
    """An output column of :meth:`pmmlkit.Model.score_columns` as Arrow, typed by the
    contract (:func:`pmmlkit.scorer.contract.arrow_type`); NaN and None become null."""
    kind = arrow_type(column.data_type)
    if values.dtype.kind == "f" and (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
        missing = np.isnan(values)
        filled = np.where(missing, 0.0, values)
        data = filled != 0 if pa.types.is_boolean(kind) else filled.astype(np.int64)
        return pa.array(data, type=kind, mask=missing)
    return pa.array(values, type=kind, from_pandas=True)


#: the columns a scored batch adds with ``detail``: each bad row's field, value and reason
DETAIL_COLUMNS = ("_pmmlkit_field", "_pmmlkit_value", "_pmmlkit_reason")


def score_table(model: Model, table: pa.Table, *, inputs: dict[str, Any] | None = None,
                parallelism: int | None = None) -> tuple[list[pa.Array], list[RowError]]:
    """The columnar call under :meth:`pmmlkit.Model.score_arrow` and the batch files: the
    contract's columns of ``table`` as Arrow (typed by :attr:`~pmmlkit.Model.output_schema`,
    null where a row failed) and the failed rows, 0-based, in order. ``inputs``: the table's
    :func:`arrow_inputs`, when the caller prepared them (the batch job does, on its reader
    thread)."""
    if inputs is None:
        inputs = arrow_inputs(model.schema, table)
    out, errors = model.score_columns(inputs, table.num_rows, parallelism=parallelism)
    arrays = [arrow_array(column, values)
              for column, values in zip(model.schema.columns, out, strict=True)]
    return arrays, errors


def score_record_batch(model: Model, batch: pa.RecordBatch | pa.Table, keep: Sequence[str], *,
                       names: Sequence[str] | None = None, na_values: Sequence[str] = (),
                       file_rules: bool = False, detail: bool = False,
                       parallelism: int | None = None, decimal: str = ".") -> pa.RecordBatch:
    """:meth:`pmmlkit.Model.score_arrow`: the kept columns (as they are), the contract's
    columns (typed by :attr:`~pmmlkit.Model.output_schema`), ``error``, and with ``detail``
    the failing field, value and reason of each bad row; one row out per row in."""
    from pmmlkit._values import cell_text

    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if na_values or file_rules:
        table = apply_file_rules(table, model.schema, na_values, decimal=decimal)
    n = table.num_rows
    scored, errors = score_table(model, table, parallelism=parallelism)
    arrays: list[Any] = [batch.column(name) for name in keep]
    arrays += scored
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
        names = [*keep, *model.schema.column_names, ERROR_COLUMN,
                 *(DETAIL_COLUMNS if detail else ())]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, names=list(names))

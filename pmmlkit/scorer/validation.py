"""Inputs on their way to the evaluator, and the evaluator's refusals in pmmlkit's words.

The evaluator decides what a value means. pmmlkit reads a value into the raw form an
evaluator takes (a number, a string, a boolean, or missing) and passes it on; reading,
validation, missing- and invalid-value treatment are the evaluator's own
(JPMML-Evaluator's ``InputField.prepare``, see ``bridge/src``), so pmmlkit never refuses a
value the evaluator accepts nor accepts one it refuses. Where the evaluator refuses a value,
the bridge names the field and the kind of refusal, and :func:`reason` words it.

The reading rules, applied before the evaluator sees a value:

- None, NaN (and pandas' NA) and "" are missing.
- For a numeric field (double, float, integer) a Python or NumPy number, a bool or a
  Decimal is a number; a string goes to the evaluator as text, which it parses itself.
- For any other field a string stays a string, a bool a boolean, an integer an integer, a
  float a float, except a whole float, which is an integer (pandas stores an integer column
  with missing values as floats); dates and times go as ISO text.
- A bool for a field whose declared values are the spellings of a boolean (``true`` and
  ``false`` in any case) takes the declared spelling.
- Anything else (a list, a dict, bytes...) cannot reach an evaluator: an error naming the
  field and the value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from pmmlkit.errors import InvalidInputError, shown
from pmmlkit.schema import InputField, is_missing

_SHOW_VALID = 20
#: |x| below this is a whole float passed on as an integer (a Java long holds it)
_LONG_LIMIT = 2.0**63

#: the kinds of refusal the bridge reports (``pmmlkit.bridge.FieldProblem``)
MISSING, INVALID, TYPE, OTHER = 1, 2, 3, 4

_TYPE_WORDS = {
    "double": "a number (double)", "float": "a number (float)", "integer": "an integer",
    "boolean": "a boolean (true or false)", "string": "a string", "date": "a date (YYYY-MM-DD)",
    "time": "a time (HH:MM:SS)", "dateTime": "a date and time (YYYY-MM-DDTHH:MM:SS)",
}


@dataclass(frozen=True)
class RowError:
    """Why one row could not be scored: the first bad field (``field``, ``value``,
    ``reason``; ``field`` None for a row-level reason) and any other bad fields of the same
    row in ``more``."""

    row: int
    field: str | None
    value: Any
    reason: str
    more: tuple[RowError, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(e.single_message for e in self.each())

    @property
    def single_message(self) -> str:
        if self.field is None:
            return self.reason
        return f"field {self.field!r}: {self.reason}"

    def each(self) -> Iterator[RowError]:
        """This error and the others of its row, one per bad field."""
        yield dataclasses.replace(self, more=())
        for other in self.more:
            yield dataclasses.replace(other, row=self.row)

    def at(self, row: int) -> RowError:
        """The same error for another row number (a chunk's row in a file, a job's row in a
        batch)."""
        return dataclasses.replace(self, row=row)


def row_error(row: int, errors: Sequence[RowError]) -> RowError:
    """One :class:`RowError` holding several of the same row."""
    first, *rest = errors
    return RowError(row, first.field, first.value, first.reason, tuple(rest))


def invalid_input(error: RowError, source: str) -> InvalidInputError:
    """The exception :meth:`pmmlkit.Model.score` raises for a refused record."""
    return InvalidInputError(f"{source}: {error.message}", field=error.field, value=error.value,
                             reason=error.reason,
                             problems=[{"field": e.field, "value": e.value, "reason": e.reason}
                                       for e in error.each()])


def row_error_of(exc: InvalidInputError, row: int) -> RowError:
    """The :class:`RowError` of a refused record (the inverse of :func:`invalid_input`)."""
    if not exc.problems:
        return RowError(row, exc.field, exc.value, exc.reason or str(exc))
    return row_error(row, [RowError(row, p["field"], p["value"], p["reason"])
                           for p in exc.problems])


@dataclass(frozen=True)
class RawColumn:
    """A column in the evaluator's raw form (``pmmlkit.bridge.InputColumn``): ``numbers``
    (float64, NaN = missing) and/or ``codes`` into ``values`` (raw values: str, float, int,
    bool; code -1: take the number, or missing). A row's value is its coded value when it has
    one, else its number."""

    numbers: np.ndarray | None
    codes: np.ndarray | None = None
    values: Sequence[Any] | None = None

    def is_missing(self, row: int) -> bool:
        if self.codes is not None and self.codes[row] >= 0:
            return False
        return self.numbers is None or bool(np.isnan(self.numbers[row]))

    def value(self, row: int) -> Any:
        """The raw value of ``row`` (None when missing), for messages."""
        if self.codes is not None and self.codes[row] >= 0:
            assert self.values is not None
            return self.values[int(self.codes[row])]
        if self.numbers is None or np.isnan(self.numbers[row]):
            return None
        return float(self.numbers[row])


@dataclass(frozen=True)
class Encoded:
    """A column as codes into its distinct values (code -1: missing), the form text columns
    come in from Arrow (``dictionary_encode``) and pandas (``factorize``): every distinct
    value is read once, however many rows hold it."""

    codes: np.ndarray
    values: Sequence[Any]

    def __len__(self) -> int:
        return len(self.codes)


class _Refused(Exception):
    """Internal: a value no evaluator can take (its reason)."""


class InputEncoder:
    """Reads one input field's values into the evaluator's raw form (see the module)."""

    def __init__(self, field: InputField):
        self.field = field
        self.name = field.name
        self.numeric = field.is_numeric
        spelling = boolean_spelling(field)
        #: the declared spellings of True and False, when the valid values are exactly those
        self._spelling = None if spelling is None else {True: spelling["true"],
                                                        False: spelling["false"]}

    # -- one value -----------------------------------------------------------------------
    def scalar(self, value: Any) -> tuple[float, Any]:
        """``(number, raw)``: a number (NaN when none) or a raw value (None when none) for the
        evaluator; both empty is a missing value. Raises :class:`InvalidInputError` for a value
        no evaluator can take."""
        kind = type(value)
        if kind is float and self.numeric:
            return value, None  # NaN is missing
        if kind is str:
            return math.nan, (value or None)  # raw text ("" is missing)
        try:
            read = self._read(value)
        except _Refused as exc:
            raise InvalidInputError(f"field {self.name!r}: {exc}", field=self.name, value=value,
                                    reason=str(exc)) from None
        if isinstance(read, float):
            return read, None
        return math.nan, read

    def _read(self, value: Any) -> Any:
        """A value as float (a number), str/bool/int (raw) or None (missing)."""
        if is_missing(value):
            return None
        if isinstance(value, (str, np.str_)):
            return str(value)
        if isinstance(value, (bool, np.bool_)):
            flag = bool(value)
            if self.numeric:
                return 1.0 if flag else 0.0
            return self._spelling[flag] if self._spelling else flag
        if isinstance(value, (int, np.integer)):
            number = int(value)
            if self.numeric:
                return float(number)
            return number if -_LONG_LIMIT < number < _LONG_LIMIT else str(number)
        if isinstance(value, (float, np.floating, Decimal)):
            x = float(value)
            if self.numeric:
                return x
            if x.is_integer() and -_LONG_LIMIT < x < _LONG_LIMIT:
                return int(x)
            return x
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return _iso(value, self.field.data_type)
        raise _Refused(f"expected {_TYPE_WORDS.get(self.field.data_type, 'a value')}, got "
                       f"{type(value).__name__} {shown(value)}")

    # -- a column ------------------------------------------------------------------------
    def prepare(self, column: Any, nrows: int, errors: dict[int, list[RowError]]) -> RawColumn:
        """One column of a chunk in raw form; rows holding a value no evaluator can take are
        added to ``errors``.

        ``column`` is None (absent: every row missing), a NumPy array (numbers, NaN missing;
        or any values as ``object``), an :class:`Encoded` column or a :class:`RawColumn`."""
        if column is None:
            return RawColumn(np.full(nrows, np.nan))
        if isinstance(column, RawColumn):
            return column
        if isinstance(column, np.ndarray) and column.dtype.kind in "biuf":
            if self.numeric:
                return RawColumn(column.astype(np.float64, copy=False))
            column = encode(column)
        elif isinstance(column, np.ndarray):
            if self.numeric and all(type(v) in _PLAIN_NUMBERS for v in column.tolist()):
                return RawColumn(column.astype(np.float64))  # None -> NaN, True -> 1.0
            column = encode(column)
        return self._from_encoded(column, errors)

    def _from_encoded(self, column: Encoded, errors: dict[int, list[RowError]]) -> RawColumn:
        numbers = np.full(len(column.values) + 1, np.nan)  # last slot: code -1 (missing)
        remap = np.full(len(column.values) + 1, -1, dtype=np.int64)
        raw: list[Any] = []
        refused: dict[int, str] = {}
        for u, value in enumerate(column.values):
            try:
                read = self._read(value)
            except _Refused as exc:
                refused[u] = str(exc)
                continue
            if isinstance(read, float):
                numbers[u] = read
            elif read is not None:
                remap[u] = len(raw)
                raw.append(read)
        if refused:
            for i in np.flatnonzero(np.isin(column.codes, list(refused))).tolist():
                code = int(column.codes[i])
                errors.setdefault(i, []).append(RowError(i, self.name, column.values[code],
                                                         refused[code]))
        codes = remap[column.codes]
        has_numbers = not np.isnan(numbers).all()
        return RawColumn(numbers[column.codes] if has_numbers or not raw else None,
                         codes if raw else None, raw if raw else None)

    # -- the evaluator's refusals ----------------------------------------------------------
    def reason(self, kind: int, value: Any, text: str) -> str:
        """A refusal the bridge reported (``kind``, the evaluator's ``text``) in pmmlkit's
        words."""
        if kind == MISSING:
            return "a missing value is not allowed (missingValueTreatment=returnInvalid)"
        if kind == TYPE:
            return (f"expected {_TYPE_WORDS.get(self.field.data_type, 'a value')}, got "
                    f"{type(value).__name__} {shown(value)}")
        if kind == INVALID:
            return f"value {shown(value)} {self.invalid_reason()}"
        return f"the evaluator refused value {shown(value)}: {text}"

    def invalid_reason(self) -> str:
        if self.field.valid_values:
            shown = list(self.field.valid_values[:_SHOW_VALID])
            more = len(self.field.valid_values) - len(shown)
            return ("is not a valid value; valid values: " + ", ".join(shown)
                    + (f" (and {more} more)" if more > 0 else ""))
        if self.field.intervals:
            ranges = ", ".join(f"{iv.closure}[{iv.left}, {iv.right}]"
                               for iv in self.field.intervals)
            return f"is outside the valid range {ranges}"
        return "is not a valid value of this field"


def _iso(value: dt.datetime | dt.date | dt.time, data_type: str) -> str:
    """A date or time as the ISO text the evaluator reads for ``data_type``: a midnight
    timestamp for a ``date`` field is its date, a date for a ``dateTime`` field its
    midnight."""
    if isinstance(value, dt.datetime):
        if data_type == "date" and value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date) and data_type == "dateTime":
        return dt.datetime.combine(value, dt.time(0)).isoformat()
    return value.isoformat()


def boolean_spelling(field: InputField) -> dict[str, str] | None:
    """``{"true": ..., "false": ...}``: the declared spellings, when a field's valid values
    are exactly the two spellings of a boolean (in any case); else None."""
    valid = {v.lower(): v for v in field.valid_values}
    if len(field.valid_values) == 2 and set(valid) == {"true", "false"}:
        return valid
    return None


#: Python values an ``object`` column may hold and still be read as numbers in one step
#: (None becomes NaN, True 1.0), as :meth:`InputEncoder.scalar` reads each
_PLAIN_NUMBERS = frozenset({float, int, bool, type(None)})


def object_column(values: Sequence[Any]) -> np.ndarray:
    """Values (e.g. a JSON request's) as a one-dimensional ``object`` array, even when they
    are lists of equal length."""
    return np.fromiter(values, dtype=object, count=len(values))


def encode(values: Sequence[Any] | np.ndarray) -> Encoded:
    """Encode any values: None and NaN get code -1; values that compare equal share a code
    (as in ``pandas.factorize``), except that a bool never shares one with a number; an
    unhashable value gets its own."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        floats = values.astype(np.float64, copy=False)
        missing = np.isnan(floats)
        uniques, inverse = np.unique(values[~missing], return_inverse=True)
        codes = np.full(len(values), -1, dtype=np.int64)
        codes[~missing] = inverse
        return Encoded(codes, uniques.tolist())
    codes = np.empty(len(values), dtype=np.int64)
    distinct: list[Any] = []
    seen: dict[Any, int] = {}
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value):
            codes[i] = -1
            continue
        try:
            # True == 1 in Python: keyed with the type so neither takes the other's code
            code = seen.setdefault((type(value) is bool, value), len(distinct))
        except TypeError:  # unhashable: a list, a dict...
            code = len(distinct)
        if code == len(distinct):
            distinct.append(value)
        codes[i] = code
    return Encoded(codes, distinct)


def compile_encoders(fields: tuple[InputField, ...]) -> list[InputEncoder]:
    return [InputEncoder(f) for f in fields]

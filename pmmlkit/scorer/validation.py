"""Input validation and conversion, per the model's MiningSchema.

The same rules apply to a single record (:meth:`FieldRule.coerce`) and to a chunk of rows
(:func:`prepare_chunk`, vectorised per column, with messages produced by the scalar rule so
both paths report alike):

- None, NaN and "" are missing. A missing value takes the ``missingValueReplacement``; it is
  an error when the treatment is ``returnInvalid`` or when nothing in the PMML handles a
  missing value of that field (evaluators would otherwise return a silent number).
- Numeric fields accept int, float, bool, Decimal, numpy scalars and numeric strings; other
  values are an error naming the field and the value.
- A value outside the field's valid values or intervals follows ``invalidValueTreatment``:
  ``returnInvalid`` (an error naming the valid values), ``asMissing`` or ``asIs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from pmmlkit._values import pmml_text
from pmmlkit.errors import InvalidInputError
from pmmlkit.schema import InputField, is_missing

_SHOW_VALID = 20


@dataclass(frozen=True)
class RowError:
    """Why one row could not be scored."""

    row: int
    field: str | None
    value: Any
    reason: str

    @property
    def message(self) -> str:
        if self.field is None:
            return self.reason
        return f"field {self.field!r}: {self.reason}"


class _Missing(Exception):
    """Internal: the value is (to be treated as) missing."""


class FieldRule:
    """The compiled validation rule of one input field."""

    def __init__(self, field: InputField):
        self.field = field
        self.name = field.name
        self.numeric = field.is_numeric
        self.integer = field.data_type == "integer"
        self.valid_text = frozenset(field.valid_values)
        self.missing_text = frozenset(field.missing_values)
        self.valid_numbers = (np.array(sorted({float(v) for v in field.valid_values}))
                              if self.numeric and field.valid_values else None)
        self.missing_numbers = (np.array([float(v) for v in field.missing_values])
                                if self.numeric and field.missing_values else None)
        self.treatment = field.invalid_value_treatment
        #: a missing value goes to the evaluator (which may still give no prediction)
        self._passes_missing = field.handles_missing or field.evaluator_handles_missing
        repl = field.missing_value_replacement
        self.replacement: Any = None
        if repl is not None:
            self.replacement = float(repl) if self.numeric else repl
        # fast paths of coerce(): values that need no checks beyond their type
        self._plain_number = (self.numeric and not self.integer and self.valid_numbers is None
                              and self.missing_numbers is None and not field.intervals)
        self._fast_texts: frozenset[str] | None = None
        if not self.numeric and self.valid_text:
            self._fast_texts = self.valid_text - self.missing_text - {""}

    # -- scalar path ---------------------------------------------------------------------
    def coerce(self, value: Any) -> Any:
        """Return the value to pass to the evaluator (None = missing) or raise."""
        kind = type(value)
        if kind is float and self._plain_number and value == value:
            return value
        if kind is str and self._fast_texts is not None and value in self._fast_texts:
            return value
        if kind is int and self._plain_number:
            return float(value)
        try:
            if is_missing(value):
                raise _Missing
            converted = self._convert(value)
            if not self._valid(converted):
                converted = self._on_invalid(value, converted)
            return converted
        except _Missing:
            return self._on_missing(value)

    def _convert(self, value: Any) -> Any:
        if self.numeric:
            x = self._to_number(value)
            if self.missing_numbers is not None and x in self.missing_numbers:
                raise _Missing
            if math.isnan(x):
                raise _Missing
            if self.integer and not float(x).is_integer():
                raise self._error(value, "expected an integer")
            return x
        text = pmml_text(value)
        if text == "" or text in self.missing_text:
            raise _Missing
        return text

    def _to_number(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)):
            return 1.0 if value else 0.0
        if isinstance(value, (int, float, Decimal, np.integer, np.floating)):
            return float(value)
        if isinstance(value, (str, np.str_)):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise self._error(value, f"expected a number ({self.field.data_type}), got "
                                 f"{type(value).__name__} {value!r}")

    def _valid(self, converted: Any) -> bool:
        if self.numeric:
            if self.valid_numbers is not None:
                return bool(np.any(self.valid_numbers == converted))
            if self.field.intervals:
                return any(iv.contains(converted) for iv in self.field.intervals)
            return True
        return not self.valid_text or converted in self.valid_text

    def _on_invalid(self, value: Any, converted: Any) -> Any:
        if self.treatment == "asMissing":
            raise _Missing
        if self.treatment == "returnInvalid":
            raise self._error(value, self.invalid_reason())
        return converted  # asIs (and asValue, left to the evaluator)

    def invalid_reason(self) -> str:
        if self.field.valid_values:
            shown = list(self.field.valid_values[:_SHOW_VALID])
            more = len(self.field.valid_values) - len(shown)
            return ("is not a valid value; valid values: " + ", ".join(shown)
                    + (f" (and {more} more)" if more > 0 else ""))
        ranges = ", ".join(f"{iv.closure}[{iv.left}, {iv.right}]" for iv in self.field.intervals)
        return f"is outside the valid range {ranges}"

    def _on_missing(self, value: Any) -> Any:
        if self.replacement is not None:
            return self.replacement
        if self.field.missing_value_treatment == "returnInvalid":
            raise self._error(value, "a missing value is not allowed (missingValueTreatment="
                                     "returnInvalid)")
        if not self._passes_missing:
            raise self._error(value, self.missing_reason())
        return None

    def missing_reason(self) -> str:
        return ("value is missing and the model cannot handle a missing value here (no "
                "missingValueReplacement and no missing-value handling in the PMML); supply a "
                "value")

    def _error(self, value: Any, reason: str) -> InvalidInputError:
        if not reason.startswith(("expected", "value is", "a missing")):
            reason = f"value {value!r} {reason}"
        return InvalidInputError(f"field {self.name!r}: {reason}", field=self.name,
                                 value=value, reason=reason)

    def describe(self, value: Any) -> RowError:
        """The row error for a value that fails this rule (row set by the caller)."""
        try:
            self.coerce(value)
        except InvalidInputError as exc:
            return RowError(-1, self.name, value, exc.reason or str(exc))
        return RowError(-1, self.name, value, "value rejected")  # pragma: no cover

    # -- vectorised path -----------------------------------------------------------------
    def prepare(self, column: Any, nrows: int, errors: dict[int, RowError]) -> Any:
        """Prepare one column of a chunk; failed rows are added to ``errors``.

        ``column`` is None (absent: every row missing), a NumPy array (numbers, NaN missing;
        or any values as ``object``) or an :class:`Encoded` column. The result is a float64
        array for a numeric field, else ``(codes, dictionary)`` (code -1: missing).
        """
        if column is None:
            column = Encoded(np.full(nrows, -1, dtype=np.int64), [])
        elif isinstance(column, np.ndarray) and (not self.numeric
                                                 or column.dtype.kind not in "biuf"):
            if self.numeric and column.dtype.kind == "O" and all(
                    type(v) in _PLAIN_NUMBERS for v in column.tolist()):
                column = column.astype(np.float64)  # what coerce() makes of each, at once
            else:
                column = encode(column)
        if self.numeric:
            return self._prepare_numeric(column, errors)
        return self._prepare_text(column, errors)

    def _prepare_numeric(self, column: Any, errors: dict[int, RowError]) -> np.ndarray:
        if isinstance(column, Encoded):
            values = self._numbers_from_encoded(column, errors)
        else:
            values = np.array(column, dtype=np.float64, copy=True)
        bad = np.zeros(len(values), dtype=bool)
        missing = np.isnan(values)
        if self.missing_numbers is not None:
            missing |= np.isin(values, self.missing_numbers)
        present = ~missing
        if self.integer:
            frac = present & (np.mod(values, 1.0) != 0) & np.isfinite(values)
            self._flag(frac, column, errors, bad)
        invalid = present & ~bad & ~self._valid_mask(values)
        if invalid.any():
            if self.treatment == "returnInvalid":
                self._flag(invalid, column, errors, bad)
            elif self.treatment == "asMissing":
                missing |= invalid
        self._apply_missing(values, missing & ~bad, column, errors, bad)
        return values

    def _valid_mask(self, values: np.ndarray) -> np.ndarray:
        if self.valid_numbers is not None:
            return np.isin(values, self.valid_numbers)
        if self.field.intervals:
            ok = np.zeros(len(values), dtype=bool)
            for iv in self.field.intervals:
                lo = np.ones(len(values), dtype=bool) if iv.left is None else (
                    values >= iv.left if iv.closure.startswith("closed") else values > iv.left)
                hi = np.ones(len(values), dtype=bool) if iv.right is None else (
                    values <= iv.right if iv.closure.endswith("Closed") else values < iv.right)
                ok |= lo & hi
            return ok
        return np.ones(len(values), dtype=bool)

    def _numbers_from_encoded(self, column: Encoded, errors: dict[int, RowError]
                              ) -> np.ndarray:
        """Each distinct value read once; the rows of a value that is no number are errors."""
        parsed = np.full(len(column.values) + 1, np.nan)  # last slot: code -1 (missing)
        failed = np.zeros(len(column.values) + 1, dtype=bool)
        reasons: dict[int, str] = {}
        for u, value in enumerate(column.values):
            if is_missing(value):
                continue
            try:
                parsed[u] = self._to_number(value)
            except InvalidInputError as exc:
                failed[u] = True
                reasons[u] = exc.reason or str(exc)
        if reasons:
            for i in np.flatnonzero(failed[column.codes]).tolist():
                code = int(column.codes[i])
                errors.setdefault(i, RowError(i, self.name, column.values[code], reasons[code]))
        return parsed[column.codes]

    def _apply_missing(self, values: np.ndarray, missing: np.ndarray, column: Any,
                       errors: dict[int, RowError], bad: np.ndarray) -> None:
        if not missing.any():
            return
        if self.replacement is not None:
            values[missing] = self.replacement
            return
        values[missing] = np.nan
        if self.field.missing_value_treatment == "returnInvalid" or not self._passes_missing:
            self._flag(missing, column, errors, bad)

    def _flag(self, mask: np.ndarray, column: Any, errors: dict[int, RowError],
              bad: np.ndarray) -> None:
        bad |= mask
        for i in np.flatnonzero(mask).tolist():
            if i not in errors:
                err = self.describe(_raw(column, i))
                errors[i] = RowError(i, err.field, err.value, err.reason)

    def _prepare_text(self, column: Encoded, errors: dict[int, RowError]
                      ) -> tuple[np.ndarray, list[str]]:
        dictionary: list[str] = []
        position: dict[str, int] = {}
        remap = np.empty(len(column.values) + 1, dtype=np.int64)  # last slot: code -1
        for u, value in enumerate(column.values):
            try:
                coerced = self.coerce(value)
            except InvalidInputError:
                remap[u] = -2
                continue
            if coerced is None:
                remap[u] = -1
                continue
            if coerced not in position:
                position[coerced] = len(dictionary)
                dictionary.append(coerced)
            remap[u] = position[coerced]
        try:
            na = self.coerce(None)
            if na is None:
                remap[-1] = -1
            else:
                position.setdefault(na, len(dictionary))
                if position[na] == len(dictionary):
                    dictionary.append(na)
                remap[-1] = position[na]
        except InvalidInputError:
            remap[-1] = -2
        mapped = remap[column.codes]
        if (mapped == -2).any():
            for i in np.flatnonzero(mapped == -2).tolist():
                if i not in errors:
                    err = self.describe(_raw(column, i))
                    errors[i] = RowError(i, err.field, err.value, err.reason)
            mapped = np.where(mapped == -2, -1, mapped)
        return mapped.astype(np.int32), dictionary


#: Python values an ``object`` column may hold and still be read as numbers in one step
#: (None becomes NaN, True 1.0), as :meth:`FieldRule.coerce` reads each
_PLAIN_NUMBERS = frozenset({float, int, bool, type(None)})


def object_column(values: Sequence[Any]) -> np.ndarray:
    """Values (e.g. a JSON request's) as a one-dimensional ``object`` array, even when they
    are lists of equal length."""
    return np.fromiter(values, dtype=object, count=len(values))


@dataclass(frozen=True)
class Encoded:
    """A column as codes into its distinct values (code -1: missing), the form text columns
    come in from Arrow (``dictionary_encode``) and pandas (``factorize``): every distinct
    value is checked once, however many rows hold it."""

    codes: np.ndarray
    values: Sequence[Any]

    def __len__(self) -> int:
        return len(self.codes)


def encode(values: Sequence[Any] | np.ndarray) -> Encoded:
    """Encode any values: None and NaN get code -1; values that compare equal share a code
    (as in ``pandas.factorize``); an unhashable value gets its own."""
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
            code = seen.setdefault(value, len(distinct))
        except TypeError:  # unhashable: a list, a dict...
            code = len(distinct)
        if code == len(distinct):
            distinct.append(value)
        codes[i] = code
    return Encoded(codes, distinct)


def _raw(column: Any, row: int) -> Any:
    """The value a row held, for messages."""
    if isinstance(column, Encoded):
        code = int(column.codes[row])
        return None if code < 0 else column.values[code]
    return column[row].item() if isinstance(column[row], np.generic) else column[row]


def compile_rules(fields: tuple[InputField, ...]) -> list[FieldRule]:
    return [FieldRule(f) for f in fields]

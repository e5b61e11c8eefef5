"""The scorer's public objects: :func:`load` and :class:`Model`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pmmlkit.errors import InvalidInputError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.backends.base import ChunkResult, Handle, Problem, RowFailed
from pmmlkit.scorer.contract import ERROR_COLUMN, absent, pandas_values, scalar_converter
from pmmlkit.scorer.matching import check_columns
from pmmlkit.scorer.validation import (
    Encoded,
    RawColumn,
    RowError,
    compile_encoders,
    encode,
    invalid_input,
    row_error,
)
from pmmlkit.scorer.verification import (
    VerificationReport,
    replay,
)

if TYPE_CHECKING:
    import pandas as pd

#: Name of the column :meth:`Model.score_batch` adds: None for a scored row, else the reason.
DEFAULT_CHUNK_SIZE = 50_000


class Model:
    """A PMML model loaded into one backend. Create it with :func:`pmmlkit.load`."""

    def __init__(self, schema: ModelSchema, handle: Handle, *, source: str, backend: str,
                 sha256: str, strict: bool = False, allow_missing_columns: bool = False):
        self.schema = schema
        self.source = source
        self.backend = backend
        self.sha256 = sha256
        #: the defaults of the column rule (:mod:`pmmlkit.scorer.matching`)
        self.strict = strict
        self.allow_missing_columns = allow_missing_columns
        self._handle = handle
        self._encoders = compile_encoders(schema.inputs)
        self._names = schema.column_names
        self._converters = [scalar_converter(c.data_type) for c in schema.columns]
        self._inputs = frozenset(schema.input_names)
        kinds = [c.kind for c in schema.columns]
        #: where the predicted values are (none for association rules, which predict nothing)
        self._targets_at = [j for j, kind in enumerate(kinds) if kind == "target"]
        self._probabilities = [j for j, kind in enumerate(kinds) if kind == "probability"]
        #: the repository manifest when loaded from a repository reference, else None
        self.manifest: dict[str, Any] | None = None
        #: why ``backend="auto"`` did not use the exact evaluator (JPMML), else None
        self.fallback_reason: str | None = None
        #: the PMML document this model was loaded from (what Spark ships to executors)
        self.pmml: bytes = b""

    def __repr__(self) -> str:
        return (f"<pmmlkit.Model {self.source!r} {self.schema.model_element}/"
                f"{self.schema.function_name} backend={self.backend}>")

    @property
    def output_schema(self) -> Any:
        """The output contract as an Arrow schema (``pyarrow.Schema``): every column's type,
        from which the TF, V2, Spark, pandas and Redis types derive
        (:mod:`pmmlkit.scorer.contract`)."""
        from pmmlkit.scorer.contract import output_schema

        return output_schema(self.schema)

    @property
    def evaluator(self) -> str:
        """The evaluator behind this model, with its version and mode (``interpreted``, or
        ``transpiled`` once a compiled model has replaced the interpreter)."""
        return self._handle.description

    @property
    def plan(self) -> str:
        """The columnar plan's state: ``serving: <what it computes>``, ``pending: …`` (until
        it has reproduced the evaluator bit for bit on real rows), ``refused: …`` (it did not)
        or ``none: <reason>`` (e.g. the first element it does not support)."""
        return self._handle.plan

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait for a background compilation to finish (or its budget to run out); True when
        a compiled model is in use or will be tried on the next chunk scored."""
        return self._handle.wait_compiled(timeout)

    # -- one record ----------------------------------------------------------------------
    def score(self, record: Mapping[str, Any], *, strict: bool | None = None,
              allow_missing_columns: bool | None = None) -> dict[str, Any]:
        """Score one record; raise :class:`InvalidInputError` naming field, value and reason.

        Every model input must be a key of the record (its value may be missing: None, NaN);
        see :mod:`pmmlkit.scorer.matching` for ``strict`` and ``allow_missing_columns``."""
        if not isinstance(record, Mapping):
            raise InvalidInputError(f"{self.source}: a record must be a mapping of field "
                                    f"names to values, got {type(record).__name__}")
        strict = self.strict if strict is None else strict
        if strict or not record.keys() >= self._inputs:
            self.check_columns(record.keys(), strict=strict, what="fields of the record",
                               allow_missing_columns=allow_missing_columns)
        numbers: list[float] = []
        objects: list[Any] = []
        refused: list[RowError] = []
        get = record.get
        for encoder in self._encoders:
            value: Any = get(encoder.name)
            kind = value.__class__
            # the two commonest cases of encoder.scalar, inline (a record is microseconds)
            if kind is float and encoder.numeric:
                numbers.append(value)
                objects.append(None)
                continue
            if kind is str:
                numbers.append(_NAN)
                objects.append(value or None)
                continue
            try:
                number, raw = encoder.scalar(value)
            except InvalidInputError as exc:
                refused.append(RowError(0, encoder.name, exc.value, exc.reason or str(exc)))
                number, raw = _NAN, None
            numbers.append(number)
            objects.append(raw)
        try:
            out = self._handle.score_row(numbers, objects)
        except RowFailed as exc:
            failure = self._failure(0, exc.message, exc.problems,
                                    lambda i: record.get(self._encoders[i].name))
            # what no evaluator can take went on as missing: named with what it refused
            found = refused + [e for e in failure.each() if e.field is not None or not refused]
            raise invalid_input(row_error(0, found), self.source) from None
        if refused:
            raise invalid_input(row_error(0, refused), self.source)
        problem = self._missing_result(out)
        if problem is not None:
            missing = [e.name for e, n, o in zip(self._encoders, numbers, objects, strict=True)
                       if o is None and n != n]
            raise invalid_input(_no_result(0, problem, missing), self.source)
        return {name: conv(v) for name, conv, v in zip(self._names, self._converters, out, strict=False)}

    def _failure(self, row: int, message: str, problems: list[Problem],
                 value_of: Any) -> RowError:
        """A row the evaluator failed on, as one :class:`RowError` naming every value it
        refused (``value_of(i)``: the value of schema input i), or the evaluator's reason."""
        if not problems:
            return RowError(row, None, None, f"the evaluator failed: {message}")
        errors = []
        for problem in problems:
            encoder = self._encoders[problem.field]
            value = value_of(problem.field)
            errors.append(RowError(row, encoder.name, value,
                                   encoder.reason(problem.kind, value, problem.text)))
        return row_error(row, errors)

    def _missing_result(self, out: list[Any]) -> str | None:
        """What the evaluator did not give for a scored row, or None when all is there."""
        if any(out[j] is None for j in self._targets_at):
            return _NO_PREDICTION
        for j in self._probabilities:
            if out[j] is None:
                return _no_probability(self.schema.columns[j].category)
        return None

    def check_columns(self, names: Iterable[str], *, strict: bool | None = None,
                      allow_missing_columns: bool | None = None, where: str | None = None,
                      what: str = "columns") -> list[str]:
        """The column rule (:mod:`pmmlkit.scorer.matching`) on ``names``, with this model's
        defaults; returns the absent inputs it allows."""
        return check_columns(
            self.schema.input_names, names, where=where or self.source, what=what,
            strict=self.strict if strict is None else strict,
            allow_missing_columns=(self.allow_missing_columns if allow_missing_columns is None
                                   else allow_missing_columns))

    # -- many records --------------------------------------------------------------------
    def score_batch(self, data: Any, *, keep: Sequence[str] = (),
                    chunk_size: int = DEFAULT_CHUNK_SIZE, strict: bool | None = None,
                    allow_missing_columns: bool | None = None) -> pd.DataFrame:
        """Score a DataFrame, a pyarrow Table, a dict of columns or an iterable of records.

        Returns one row per input row, in order: the ``keep`` columns of ``data`` (as they
        are), the output contract's columns and an ``error`` column (None where the row was
        scored). A bad row never raises; an absent input column does
        (:mod:`pmmlkit.scorer.matching`).
        """
        import pandas as pd

        frame = _as_frame(data)
        self.check_columns([str(c) for c in frame.columns], strict=strict,
                           allow_missing_columns=allow_missing_columns)
        absent = [k for k in keep if k not in frame.columns]
        if absent:
            raise InvalidInputError(f"{self.source}: the kept columns {absent} are not in "
                                    f"the data (columns: {list(frame.columns)[:20]})",
                                    field=absent[0], reason="missing column")
        parts = []
        for start in range(0, max(len(frame), 1), chunk_size):
            out, errors = self._score_frame(frame.iloc[start:start + chunk_size])
            messages = np.full(len(out), None, dtype=object)
            for err in errors:
                messages[err.row] = err.message
            # object, so a scored row's error is None (pandas 3 would infer a string column,
            # whose missing value is NaN)
            out[ERROR_COLUMN] = pd.Series(messages, dtype=object, index=out.index)
            parts.append(out)
        scored = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        if keep:
            kept = frame[list(keep)].reset_index(drop=True)
            clash = [k for k in keep if k in scored.columns]
            if clash:
                raise InvalidInputError(f"{self.source}: the kept columns {clash} have the "
                                        "names of output columns", field=clash[0],
                                        reason="duplicate column")
            scored = pd.concat([kept, scored], axis=1)
        return scored

    def _score_frame(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[RowError]]:
        """Score one chunk of a DataFrame: the output columns, and the rows that failed
        (0-based in the chunk)."""
        present = set(frame.columns)
        columns = {e.name: _from_series(frame[e.name], e.numeric)
                   for e in self._encoders if e.name in present}
        out, errors = self.score_columns(columns, len(frame))
        return self._frame(out), errors

    def score_columns(self, columns: Mapping[str, Any], nrows: int, *,
                      parallelism: int | None = None) -> tuple[list[np.ndarray], list[RowError]]:
        """Score one chunk given as input columns, without pandas (the batch job's, Spark's
        and the server's file path): each a NumPy array (numbers with NaN for missing, or
        ``object`` values) or an :class:`~pmmlkit.scorer.validation.Encoded` column; an
        absent input is missing on every row.

        Returns the output contract's columns as NumPy arrays, float64 (NaN: no value) for
        numeric outputs and ``object`` otherwise, in :attr:`ModelSchema.columns` order (see
        :func:`python_values` and :func:`pmmlkit.scorer.arrow.arrow_array` for typed values),
        with failed rows blanked, and the failed rows (0-based, in order).
        """
        refused: dict[int, list[RowError]] = {}
        inputs = [e.prepare(columns.get(e.name), nrows, refused) for e in self._encoders]
        if nrows == 0:
            return [np.empty(0) for _ in self._names], []
        # a value no evaluator can take went on as missing; its row is an error whatever
        # the evaluator makes of it
        errors = {row: row_error(row, found) for row, found in refused.items()}
        chunk = self._handle.score_columns(inputs, nrows, parallelism)
        self._flag_failures(chunk, inputs, errors)
        self._flag_missing_results(chunk.columns, inputs, errors)
        bad = sorted(errors)
        out = chunk.columns
        if bad:
            out = [values.copy() for values in out]
            for values in out:
                values[bad] = np.nan if values.dtype.kind == "f" else None
        return out, [errors[r] for r in bad]

    def _flag_failures(self, chunk: ChunkResult, inputs: list[RawColumn],
                       errors: dict[int, RowError]) -> None:
        for row, message in zip(chunk.error_rows.tolist(), chunk.error_messages, strict=True):
            if row not in errors:
                errors[row] = self._failure(row, message, chunk.problems.get(row, []),
                                            lambda i, row=row: inputs[i].value(row))

    def _flag_missing_results(self, out: list[np.ndarray], inputs: list[RawColumn],
                              errors: dict[int, RowError]) -> None:
        """A row without its prediction, or without a probability pmmlkit asked for, is an
        error naming what is missing, never a silent gap or a made-up number."""
        checks = [(j, _NO_PREDICTION) for j in self._targets_at] + [
            (j, _no_probability(self.schema.columns[j].category)) for j in self._probabilities]
        for j, reason in checks:
            for row in np.flatnonzero(absent(out[j])).tolist():
                if row not in errors:
                    missing = [e.name for e, col in zip(self._encoders, inputs, strict=True)
                               if col.is_missing(row)]
                    errors[row] = _no_result(row, reason, missing)

    def _frame(self, columns: list[np.ndarray]) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({col.name: pandas_values(col.data_type, values)
                             for col, values in zip(self.schema.columns, columns, strict=False)})

    def score_arrow(self, data: Any, *, keep: Sequence[str] = (), detail: bool = False,
                    parallelism: int | None = None) -> Any:
        """Score an Arrow ``Table`` or ``RecordBatch`` in one columnar call: a record batch of
        the kept columns (as they are), the contract's columns typed by
        :attr:`output_schema`, ``error`` (None where scored) and, with ``detail``, each bad
        row's ``_pmmlkit_field``, ``_pmmlkit_value`` and ``_pmmlkit_reason``. Rows in = rows
        out, in order."""
        from pmmlkit.scorer.arrow import score_record_batch

        return score_record_batch(self, data, keep, detail=detail, parallelism=parallelism)

    # -- verification --------------------------------------------------------------------

    def verify(self) -> VerificationReport:
        """Replay the PMML's ModelVerification records through this model's backend."""
        return replay(self)


_NO_PREDICTION = "the model returned no prediction for this row"


def _no_probability(category: str | None) -> str:
    return f"the evaluator returned no probability for class {category!r}"


def _no_result(row: int, reason: str, missing: list[str]) -> RowError:
    """A row the evaluator gave no result for: naming each of its missing values (the
    evaluator does not say which one it needed), else the row."""
    if missing:
        return row_error(row, [RowError(row, name, None, f"value is missing, and {reason}")
                               for name in missing])
    return RowError(row, None, None, f"{reason} (the evaluator gave none for these values)")


_NAN = float("nan")


def _from_series(series: pd.Series, numeric: bool) -> Any:
    """A pandas column in a form :meth:`InputEncoder.prepare` takes: numbers as float64 (NaN
    missing), anything else factorized."""
    import pandas as pd

    dtype = series.dtype
    if numeric and dtype.kind in "biuf" and not isinstance(dtype, pd.CategoricalDtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=True).startswith("mixed"):
        # pandas' factorize takes True for 1 and False for 0: a bool mixed with numbers
        # would become one
        return encode(series.tolist())
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values: each checked on its own
        return encode(series.tolist())
    return Encoded(np.asarray(codes, dtype=np.int64), list(uniques))


def _as_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if hasattr(data, "to_pandas") and hasattr(data, "schema"):  # pyarrow Table/RecordBatch
        return data.to_pandas()
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        rows = list(data)
        if not all(isinstance(r, Mapping) for r in rows):
            raise InvalidInputError("score_batch takes a DataFrame, a pyarrow Table, a dict of "
                                    "columns or an iterable of records (mappings)")
        return pd.DataFrame(rows)
    raise InvalidInputError(f"score_batch cannot score a {type(data).__name__}")

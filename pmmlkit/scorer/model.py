"""The scorer's public objects: :func:`load` and :class:`Model`."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pmmlkit import cache
from pmmlkit._boundary import storage
from pmmlkit._values import plain, pmml_text
from pmmlkit.errors import InvalidInputError, ModelLoadError, VerificationError
from pmmlkit.schema import Column, ModelSchema, cached_schema
from pmmlkit.scorer.backends import AUTO, AUTO_ORDER, get_backend, resolve_name
from pmmlkit.scorer.backends.base import Handle
from pmmlkit.scorer.validation import Encoded, RowError, compile_rules, encode

if TYPE_CHECKING:
    import pandas as pd

#: Name of the column :meth:`Model.score_batch` adds: None for a scored row, else the reason.
ERROR_COLUMN = "error"
DEFAULT_CHUNK_SIZE = 50_000


@dataclass
class VerificationFailure:
    record: int
    field: str
    expected: Any
    actual: Any
    difference: float | None


@dataclass
class VerificationReport:
    """The outcome of replaying the PMML's ModelVerification records."""

    records: int
    fields: list[str]
    failures: list[VerificationFailure] = field(default_factory=list)
    max_abs_difference: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        return out

    def summary(self, limit: int = 5) -> str:
        if self.records == 0:
            return "no verification records in the PMML"
        if self.passed:
            return f"{self.records} verification records reproduced ({', '.join(self.fields)})"
        lines = [f"{len(self.failures)} of {self.records * len(self.fields)} checked values "
                 "differ from the PMML's verification records:"]
        for f in self.failures[:limit]:
            diff = "" if f.difference is None else f" (difference {f.difference:.3g})"
            lines.append(f"  record {f.record}, field {f.field!r}: expected {f.expected!r}, "
                         f"got {f.actual!r}{diff}")
        return "\n".join(lines)


class Model:
    """A PMML model loaded into one backend. Create it with :func:`pmmlkit.load`."""

    def __init__(self, schema: ModelSchema, handle: Handle, *, source: str, backend: str,
                 sha256: str, strict: bool = False):
        self.schema = schema
        self.source = source
        self.backend = backend
        self.sha256 = sha256
        self.strict = strict
        self._handle = handle
        self._rules = compile_rules(schema.inputs)
        self._names = schema.column_names
        self._converters = [_scalar_converter(c) for c in schema.columns]
        self._inputs = frozenset(schema.input_names)
        kinds = [c.kind for c in schema.columns]
        #: where the predicted value is (None for association rules, which predict nothing)
        self._target_at = 0 if kinds and kinds[0] == "target" else None
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
    def evaluator(self) -> str:
        """The evaluator behind this model, with its version and mode (``interpreted``, or
        ``transpiled`` once a compiled model has replaced the interpreter)."""
        return self._handle.description

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait for a background compilation to finish (or its budget to run out); True when
        a compiled model is in use or will be tried on the next chunk scored."""
        return self._handle.wait_compiled(timeout)

    # -- one record ----------------------------------------------------------------------
    def score(self, record: Mapping[str, Any], *, strict: bool | None = None) -> dict[str, Any]:
        """Score one record; raise :class:`InvalidInputError` naming field, value and reason."""
        if not isinstance(record, Mapping):
            raise InvalidInputError(f"{self.source}: a record must be a mapping of field "
                                    f"names to values, got {type(record).__name__}")
        if self.strict if strict is None else strict:
            self._check_unknown(record.keys())
        try:
            values = [rule.coerce(record.get(rule.name)) for rule in self._rules]
        except InvalidInputError as exc:
            raise InvalidInputError(f"{self.source}: {exc}", field=exc.field, value=exc.value,
                                    reason=exc.reason) from exc
        out = self._handle.score_row(values)
        problem = self._missing_result(out)
        if problem is not None:
            missing = [rule.name for rule, v in zip(self._rules, values, strict=True) if v is None]
            reason = _no_result(problem, missing)
            raise InvalidInputError(f"{self.source}: {reason}", reason=reason)
        return {name: conv(v) for name, conv, v in zip(self._names, self._converters, out, strict=False)}

    def _missing_result(self, out: list[Any]) -> str | None:
        """What the evaluator did not give for a scored row, or None when all is there."""
        if self._target_at is not None and out[self._target_at] is None:
            return _NO_PREDICTION
        for j in self._probabilities:
            if out[j] is None:
                return _no_probability(self.schema.columns[j].category)
        return None

    def _check_unknown(self, keys: Iterable[str]) -> None:
        unknown = sorted(set(keys) - self._inputs)
        if unknown:
            raise InvalidInputError(
                f"{self.source}: unknown fields {unknown} (strict mode); the model's inputs "
                f"are {self.schema.input_names}", field=unknown[0], reason="unknown field")

    # -- many records --------------------------------------------------------------------
    def score_batch(self, data: Any, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                    strict: bool | None = None) -> pd.DataFrame:
        """Score a DataFrame, a pyarrow Table, a dict of columns or an iterable of records.

        Returns one row per input row, in order: the output contract's columns and an
        ``error`` column (None where the row was scored). A bad row never raises.
        """
        frame = _as_frame(data)
        if self.strict if strict is None else strict:
            self._check_unknown(frame.columns)
        parts = []
        for start in range(0, max(len(frame), 1), chunk_size):
            out, errors = self.score_chunk(frame.iloc[start:start + chunk_size])
            messages = np.full(len(out), None, dtype=object)
            for err in errors:
                messages[err.row] = err.message
            out[ERROR_COLUMN] = messages
            parts.append(out)
        if len(parts) == 1:
            return parts[0]
        import pandas as pd

        return pd.concat(parts, ignore_index=True)

    def score_chunk(self, frame: pd.DataFrame, *, parallelism: int | None = None
                    ) -> tuple[pd.DataFrame, list[RowError]]:
        """Score one chunk: the output columns, and the rows that failed (0-based in chunk)."""
        present = set(frame.columns)
        columns = {rule.name: _from_series(frame[rule.name], rule.numeric)
                   for rule in self._rules if rule.name in present}
        out, errors = self.score_columns(columns, len(frame), parallelism=parallelism)
        return self._frame(out), errors

    def score_columns(self, columns: Mapping[str, Any], nrows: int, *,
                      parallelism: int | None = None) -> tuple[list[np.ndarray], list[RowError]]:
        """Score one chunk given as input columns, without pandas (the batch job's, Spark's
        and the server's file path): each a NumPy array (numbers with NaN for missing, or
        ``object`` values) or an :class:`~pmmlkit.scorer.validation.Encoded` column; an
        absent input is missing on every row.

        Returns the output contract's columns as NumPy arrays, float64 (NaN: no value) for
        numeric outputs and ``object`` otherwise, in :attr:`ModelSchema.columns` order (see
        :func:`python_values` and :func:`pmmlkit.batch.job.arrow_array` for typed values),
        with failed rows blanked, and the failed rows (0-based, in order).
        """
        errors: dict[int, RowError] = {}
        inputs = [rule.prepare(columns.get(rule.name), nrows, errors) for rule in self._rules]
        if nrows == 0:
            return [np.empty(0) for _ in self._names], []
        chunk = self._handle.score_columns(inputs, nrows, parallelism)
        for row, message in zip(chunk.error_rows.tolist(), chunk.error_messages, strict=False):
            errors.setdefault(row, RowError(row, None, None, f"the evaluator failed: {message}"))
        self._flag_missing_results(chunk.columns, inputs, errors)
        bad = sorted(errors)
        out = chunk.columns
        if bad:
            out = [values.copy() for values in out]
            for values in out:
                values[bad] = np.nan if values.dtype.kind == "f" else None
        return out, [errors[r] for r in bad]

    def _flag_missing_results(self, out: list[np.ndarray], inputs: list[Any],
                              errors: dict[int, RowError]) -> None:
        """A row without its prediction, or without a probability pmmlkit asked for, is an
        error naming what is missing, never a silent gap or a made-up number."""
        checks = ([] if self._target_at is None else [(self._target_at, _NO_PREDICTION)]) + [
            (j, _no_probability(self.schema.columns[j].category)) for j in self._probabilities]
        for j, reason in checks:
            for row in np.flatnonzero(_absent(out[j])).tolist():
                if row not in errors:
                    missing = [rule.name for rule, col in zip(self._rules, inputs, strict=True)
                               if _is_missing_cell(col, row)]
                    errors[row] = RowError(row, None, None, _no_result(reason, missing))

    def _frame(self, columns: list[np.ndarray]) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({col.name: _typed(col, values)
                             for col, values in zip(self.schema.columns, columns, strict=False)})

    # -- verification --------------------------------------------------------------------
    def verify(self) -> VerificationReport:
        """Replay the PMML's ModelVerification records through this model's backend."""
        records = self.schema.verification
        if records is None or not records.rows:
            return VerificationReport(0, [])
        by_field = {c.key if c.kind == "target" else c.name: c for c in self.schema.columns}
        checked = [f for f in records.fields if f in by_field]
        columns = {name: encode([r.get(name) for r in records.rows])
                   for name in self.schema.input_names}
        out, errors = self.score_columns(columns, len(records.rows), parallelism=1)
        at = {c.name: j for j, c in enumerate(self.schema.columns)}
        report = VerificationReport(len(records.rows), checked)
        failed_rows = {e.row: e.message for e in errors}
        for name in checked:
            column = by_field[name]
            spec = records.fields[name]
            worst = 0.0
            for i, row in enumerate(records.rows):
                expected = row.get(name)
                actual = python_values(column, out[at[column.name]][i:i + 1])[0]
                if i in failed_rows:
                    report.failures.append(VerificationFailure(i, name, expected,
                                                               failed_rows[i], None))
                    continue
                ok, diff = _matches(column, expected, actual, spec)
                worst = max(worst, diff or 0.0)
                if not ok:
                    report.failures.append(VerificationFailure(i, name, expected,
                                                               plain(actual), diff))
            if column.numeric:
                report.max_abs_difference[name] = worst
        return report


_NO_PREDICTION = "the model returned no prediction for this row"


def _no_probability(category: str | None) -> str:
    return f"the evaluator returned no probability for class {category!r}"


def _no_result(reason: str, missing: list[str]) -> str:
    if missing:
        return (f"{reason}: missing value in {', '.join(repr(m) for m in missing)}, which the "
                "model does not score without; supply a value")
    return f"{reason} (an input the model does not handle)"


def _is_missing_cell(column: Any, row: int) -> bool:
    if isinstance(column, tuple):
        return bool(column[0][row] < 0)
    return bool(np.isnan(column[row]))


def _matches(column: Column, expected: str | None, actual: Any,
             spec: dict[str, Any]) -> tuple[bool, float | None]:
    if expected is None or expected == "":
        return actual is None, None
    if (column.numeric and column.kind != "target") or column.data_type in ("double", "float"):
        try:
            e, a = float(expected), float(actual)
        except (TypeError, ValueError):
            return False, None
        diff = abs(a - e)
        tolerance = max(spec["precision"] * abs(e), spec["zero_threshold"])
        return diff <= tolerance, diff
    return pmml_text(expected) == ("" if actual is None else pmml_text(actual)), None


def _absent(values: np.ndarray) -> np.ndarray:
    """Where an output column has no value."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.array([v is None for v in values.tolist()], dtype=bool)


def python_values(column: Column, values: np.ndarray) -> list[Any]:
    """An output column of :meth:`Model.score_columns` as Python values of the contract's
    type (None: no value), as :meth:`Model.score` gives them."""
    convert = _scalar_converter(column)
    missing = _absent(values)
    return [None if gone else convert(v)
            for v, gone in zip(values.tolist(), missing.tolist(), strict=True)]


def _from_series(series: pd.Series, numeric: bool) -> Any:
    """A pandas column in a form :meth:`FieldRule.prepare` takes: numbers as float64 (NaN
    missing), anything else factorized."""
    import pandas as pd

    dtype = series.dtype
    if numeric and dtype.kind in "biuf" and not isinstance(dtype, pd.CategoricalDtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values: each checked on its own
        return encode(series.tolist())
    return Encoded(np.asarray(codes, dtype=np.int64), list(uniques))


def _typed(column: Column, values: np.ndarray) -> Any:
    import pandas as pd

    if column.data_type in ("double", "float"):
        return values.astype(np.float64)
    if column.data_type == "integer" and values.dtype.kind == "f":
        missing = np.isnan(values)
        return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
    if column.data_type == "boolean" and values.dtype.kind == "f":
        return pd.arrays.BooleanArray(values != 0, np.isnan(values))
    return values.astype(object)


def _scalar_converter(column: Column) -> Any:
    if column.data_type in ("double", "float"):
        return lambda v: None if v is None else float(v)
    if column.data_type == "integer":
        return lambda v: None if v is None else int(float(v))
    if column.data_type == "boolean":
        return _boolean
    return lambda v: None if v is None else pmml_text(v)


def _boolean(value: Any) -> bool | None:
    """A boolean output as Python's bool: the bridge hands a numeric column's booleans over as
    1.0 / 0.0, a text column's as "true" / "false"."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("true", "1")


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


def _read(name: str) -> tuple[bytes, dict[str, Any] | None, str]:
    """PMML bytes, manifest and display name: a repository reference or a plain file."""
    from pmmlkit.repository import Repository, resolve

    if not name.lower().endswith((".pmml", ".xml")):
        version = resolve(name)
        if version is not None:
            data = Repository(version.root).read_pmml(version)
            return data, version.manifest, version.ref
    return read_source(name), None, name


def _warn_on_recorded_difference(manifest: dict[str, Any], backend: str, name: str) -> None:
    report = manifest.get("parity", {}).get("backends", {}).get(backend)
    if report is not None and not report.get("passed", True):
        worst = report.get("max_abs_difference", {})
        warnings.warn(f"{name}: at export, backend {backend!r} differed from the native model "
                      f"beyond the tolerance {manifest['parity'].get('tolerance')} "
                      f"(max |difference| per output: {worst}); prefer the default backend",
                      stacklevel=3)


def read_source(uri: str) -> bytes:
    """Read a PMML file from a local path or any fsspec URL."""
    from pmmlkit.storage import open_input

    with storage(uri, "read the PMML file", missing=ModelLoadError):
        try:
            handle = open_input(uri)
        except (ValueError, ImportError) as exc:  # unknown protocol, filesystem not installed
            raise ModelLoadError(f"{uri}: cannot open this URL: {exc}") from exc
        with handle as fh:
            data: bytes = fh.read()
    return data


def _load_handle(data: bytes, schema: ModelSchema, name: str, backend: str,
                 options: dict[str, Any]) -> tuple[str, Handle, str | None]:
    """Build the evaluator: the named backend, or for ``auto`` the first that accepts the
    document. Returns the backend's name, the handle, and why an earlier one refused."""
    if backend != AUTO:
        return backend, get_backend(backend).load(data, schema, source=name, options=options), None
    refusals: list[ModelLoadError] = []
    for candidate in AUTO_ORDER:
        try:
            handle = get_backend(candidate).load(data, schema, source=name, options=options)
        except ModelLoadError as exc:
            refusals.append(exc)
            continue
        reason = None
        if refusals:
            reason = "; ".join(str(r) for r in refusals)
            warnings.warn(f"{reason}. Scoring with {candidate} instead "
                          f"({handle.description}).", stacklevel=4)
        return candidate, handle, reason
    raise ModelLoadError("no evaluator can load the model:\n" + "\n".join(
        f"  {b}: {r}" for b, r in zip(AUTO_ORDER, refusals, strict=True))) from refusals[-1]


def load(source: str | bytes | Any, *, backend: str | None = None,
         verify: bool | Literal["warn"] = True, strict: bool = False,
         transpile: bool | None = None, name: str | None = None) -> Model:
    """Load a PMML model from a path, an fsspec URL, or bytes.

    ``backend`` is ``"auto"`` (default, or ``PMMLKIT_BACKEND``): JPMML-Evaluator, the exact
    evaluator, and PMML4S for a document JPMML refuses, with a warning saying why
    (``model.fallback_reason``); ``"jpmml"`` or ``"pypmml"`` use that one only. With
    ``verify`` (default) the PMML's ModelVerification records are replayed and a mismatch
    raises :class:`VerificationError` (``"warn"`` warns instead). ``strict`` makes unknown
    input fields an error. ``transpile`` (jpmml only) compiles the model to bytecode; the
    default does so when the JVM is a JDK. ``name`` is how messages name a model given as
    bytes (default ``<bytes>``).
    """
    manifest: dict[str, Any] | None = None
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<bytes>"
    else:
        name = str(source)
        data, manifest, name = _read(name)
    sha256 = hashlib.sha256(data).hexdigest()
    schema = cached_schema(data, sha256, source=name)
    if schema.model_element == "AssociationModel":
        raise ModelLoadError(
            f"{name}: an AssociationModel scores a basket (a collection of items per record); "
            "pmmlkit's inputs are one value per field, so association rules are not supported "
            "yet. Score them with JPMML-Evaluator or PMML4S directly.")
    chosen, handle, fallback = _load_handle(data, schema, name, resolve_name(backend),
                                            {"transpile": transpile})
    model = Model(schema, handle, source=name, backend=chosen, sha256=sha256, strict=strict)
    model.manifest = manifest
    model.fallback_reason = fallback
    model.pmml = data
    if manifest is not None:
        _warn_on_recorded_difference(manifest, chosen, name)
    if verify and not cache.is_verified(model.sha256, model.evaluator):
        report = model.verify()
        if report.passed:
            cache.mark_verified(model.sha256, model.evaluator)
        else:
            message = f"{name} (backend {chosen}): {report.summary()}"
            if verify == "warn":
                warnings.warn(message, stacklevel=2)
            else:
                raise VerificationError(message + "\nPass verify=False to load it anyway.")
    return model

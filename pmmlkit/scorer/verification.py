"""A document's own verification records (``ModelVerification``), replayed.

Records are compared at the precision they declare (``VerificationField@precision``,
relative, and ``@zeroThreshold``); :data:`RECORD_PRECISION` says what an output of each data
type can meet: pmmlkit's exporter writes records at it, and a load whose records ask for
more says so (:func:`unmeetable_records`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pmmlkit._values import plain, pmml_text
from pmmlkit.schema import Column, ModelSchema
from pmmlkit.scorer.contract import python_values
from pmmlkit.scorer.validation import encode

if TYPE_CHECKING:
    from pmmlkit.scorer.model import Model

#: the (relative precision, zero threshold) verification records are written and checked at,
#: by what the document computes with. Doubles: sklearn2pmml's own default. A 32-bit float
#: has a 24-bit mantissa (6e-8 relative) and is written as its shortest decimal, and a model
#: that sums floats in another order than its native library (XGBoost) drifts further: 1e-5.
RECORD_PRECISION = {"double": (1e-13, 1e-13), "float": (1e-5, 1e-5)}


def record_precision(data_type: str) -> tuple[float, float]:
    """The verification precision and zero threshold an output of ``data_type`` can meet."""
    return RECORD_PRECISION["float" if data_type == "float" else "double"]


def unmeetable_records(schema: ModelSchema) -> list[str]:
    """The verified numeric outputs whose records ask for more precision than the document
    computes with: any output of a document with a 32-bit float field on its way (a float
    output, or a tree's float split inputs feeding a linear model) checked at 1e-13, as
    sklearn2pmml writes records by default."""
    records = schema.verification
    if records is None or not schema.computes_in_float:
        return []
    numeric = {c.key if c.kind == "target" else c.name for c in schema.columns
               if c.data_type in ("double", "float")}
    return [name for name, spec in records.fields.items() if name in numeric
            and spec["precision"] < record_precision("float")[0]]


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


def replay(model: Model) -> VerificationReport:
    """Score the records through ``model`` and compare each checked output."""

    records = model.schema.verification
    if records is None or not records.rows:
        return VerificationReport(0, [])
    by_field = {c.key if c.kind == "target" else c.name: c for c in model.schema.columns}
    checked = [f for f in records.fields if f in by_field]
    columns = {name: encode([r.get(name) for r in records.rows])
               for name in model.schema.input_names}
    out, errors = model.score_columns(columns, len(records.rows), parallelism=1)
    at = {c.name: j for j, c in enumerate(model.schema.columns)}
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
    if column.data_type == "integer" and actual is not None:
        # a label typed as the target is: "1.0" (a chain's float predict) is the integer 1
        try:
            return float(expected) == float(actual), None
        except (TypeError, ValueError):
            return False, None
    return pmml_text(expected) == ("" if actual is None else pmml_text(actual)), None

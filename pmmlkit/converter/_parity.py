"""The parity gate: the PMML, scored by pmmlkit, must reproduce the native model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._values import plain
from pmmlkit.errors import ParityError, PmmlkitError

DEFAULT_TOLERANCE = 1e-6
_WORST_ROWS = 5
#: seconds a backend other than the default may take to score the parity sample
SECONDARY_BUDGET = 60.0

#: the parity tolerance of a float output: at least its record precision
#: (:data:`pmmlkit.scorer.verification.RECORD_PRECISION`)
FLOAT_TOLERANCE = 1e-5


def tolerance_for(data_type: str, tolerance: float) -> float:
    """The parity tolerance of an output column of ``data_type``."""
    return max(tolerance, FLOAT_TOLERANCE) if data_type == "float" else tolerance


@dataclass
class NativeOutputs:
    """The native model's predictions on the sample, keyed by output-contract column."""

    values: dict[str, np.ndarray]
    #: columns compared as labels (exact match), the rest as numbers (max |difference|)
    labels: frozenset[str]


def compare(pmml: bytes, features: pd.DataFrame, native: NativeOutputs, *,
            backends: tuple[str, ...], tolerance: float, source: str,
            budget: float = SECONDARY_BUDGET,
            probes: tuple[list[tuple[str, str, pd.DataFrame]], list[dict[str, Any] | str]]
            | None = None) -> dict[str, Any]:
    """Score ``features`` through each backend; report differences per output column.

    The default backend (the first) is checked on every row and must also reproduce the
    document's own verification records, as every later load will check: a version that
    would not load is never published. Another backend gets ``budget`` seconds; one slower
    than that is reported "not checked" (PMML4S normalizes text term by term: a text
    pipeline's thousand rows took it over 15 minutes).

    ``probes`` (rows and the native model's outcome on each, see :func:`probe_rows`) are
    scored through the default backend too: one where both give a number but not the same
    refuses the export; the others are reported (``report["probes"]``)."""
    from pmmlkit.scorer.loading import load

    if not native.values:
        raise ParityError(f"{source}: the native model gave no output to compare with the "
                          "PMML's; nothing was published")
    report: dict[str, Any] = {"rows": len(features), "tolerance": tolerance, "backends": {}}
    for backend in backends:
        try:
            # interpreted: a one-off sample is not worth compiling the model for
            model = load(pmml, backend=backend, verify=False, transpile=False)
            scored = (model.score_batch(features) if backend == backends[0]
                      else _score_within(model, features, budget))
        except PmmlkitError as exc:
            report["backends"][backend] = {"passed": False, "error": str(exc)}
            continue
        if scored is None:
            report["backends"][backend] = {
                "passed": None, "checked": False,
                "reason": f"not checked (budget): {backend} scored the sample slower than its "
                          f"budget of {budget:g} s"}
            continue
        limits = {c.name: tolerance_for(c.data_type, tolerance) for c in model.schema.columns}
        report["tolerance_per_output"] = {k: v for k, v in limits.items() if k in native.values}
        report["backends"][backend] = result = _compare_one(scored, native, limits)
        if backend == backends[0] and probes is not None:
            numeric = {c.name: limits[c.name] for c in model.schema.columns
                       if c.data_type in ("double", "float")}
            report["probes"] = compare_probes(model, probes[0], probes[1], numeric)
            differ = [p for p in report["probes"] if p["outcome"] == "differ"]
            if differ:
                result["passed"] = False
                result["error"] = "on rows the sample lacks, the PMML gives other numbers: " \
                    + "; ".join(f"{p['column']} {p['case']}: native {p['native']}, PMML "
                                f"{p['pmml']}" for p in differ[:5])
        if backend == backends[0]:
            verification = model.verify()
            result["verification"] = {"records": verification.records,
                                      "passed": verification.passed}
            if not verification.passed:
                result["passed"] = False
                result["error"] = ("the PMML does not reproduce its own verification records, "
                                   "so no load of it would pass: " + verification.summary())
    default = report["backends"].get(backends[0], {})
    report["default_backend"] = backends[0]
    report["passed"] = bool(default.get("passed"))
    if not report["passed"]:
        raise ParityError(_failure_message(source, backends[0], default, tolerance),
                          report=report)
    return report


def _score_within(model: Any, features: pd.DataFrame, budget: float) -> pd.DataFrame | None:
    """``model.score_batch(features)`` in growing chunks, or None once ``budget`` seconds
    have passed (a chunk started is finished: the first is 8 rows)."""
    started = time.perf_counter()
    parts: list[pd.DataFrame] = []
    start, size = 0, 8
    while start < len(features) or not parts:
        parts.append(model.score_batch(features.iloc[start:start + size]))
        start += size
        size *= 2
        if start < len(features) and time.perf_counter() - started > budget:
            return None
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _compare_one(scored: pd.DataFrame, native: NativeOutputs, limits: dict[str, float]
                 ) -> dict[str, Any]:
    errors = scored["error"].notna()
    diffs: dict[str, float] = {}
    mismatches: dict[str, int] = {}
    worst_rows: list[dict[str, Any]] = []
    for column, expected in native.values.items():
        if column not in scored.columns:
            return {"passed": False, "error": f"the PMML has no output column {column!r}"}
        got = scored[column]
        if column in native.labels:
            bad = np.array([str(a) != str(b) for a, b in zip(got, expected, strict=True)]) | errors
            mismatches[column] = int(bad.sum())
            worst = np.flatnonzero(bad)[:_WORST_ROWS]
            worst_rows += [{"row": int(i), "column": column, "native": plain(expected[i]),
                            "pmml": plain(got.iloc[i])} for i in worst]
        else:
            tolerance = limits[column]
            delta = np.abs(got.to_numpy(dtype=float, na_value=np.nan) - expected.astype(float))
            delta = np.where(np.isnan(delta), np.inf, delta)
            diffs[column] = float(delta.max()) if len(delta) else 0.0
            for i in np.argsort(-delta)[:_WORST_ROWS]:
                if delta[i] > tolerance:
                    worst_rows.append({"row": int(i), "column": column,
                                       "native": plain(expected[i]),
                                       "pmml": plain(got.iloc[i]),
                                       "difference": float(delta[i])})
    passed = all(d <= limits[c] for c, d in diffs.items()) and not any(mismatches.values()) \
        and not errors.any()
    return {"passed": passed, "max_abs_difference": diffs, "label_mismatches": mismatches,
            "rows_with_errors": int(errors.sum()), "worst_rows": worst_rows[:_WORST_ROWS * 2]}


def _failure_message(source: str, backend: str, result: dict[str, Any], tolerance: float) -> str:
    lines = [f"{source}: the PMML does not reproduce the native model through backend "
             f"{backend} (tolerance {tolerance:g}); nothing was published."]
    if "error" in result:
        lines.append(f"  {result['error']}")
    if "max_abs_difference" in result:
        lines += [f"  max |difference| per output: {result['max_abs_difference']}",
                  f"  label mismatches: {result['label_mismatches']}, rows the PMML could not "
                  f"score: {result['rows_with_errors']}"]
        for row in result["worst_rows"]:
            lines.append(f"  row {row['row']}, {row['column']}: native {row['native']!r}, "
                         f"PMML {row['pmml']!r}")
    return "\n".join(lines)


# -- probes: what a sample lacks -----------------------------------------------------------------
#: a category no training sample holds
UNSEEN = "__pmmlkit_unseen__"


def probe_rows(X: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """Rows the parity sample may lack, each the sample's first row with one change: every
    column missing, every categorical column an unseen category, every numeric column beyond
    the sample's range on either side. As (column, case, one-row frame)."""
    base = X.iloc[[0]].reset_index(drop=True)
    out: list[tuple[str, str, pd.DataFrame]] = []
    for name in X.columns:
        column = X[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        changed = base.astype({name: object}) if not numeric else base.copy()
        changed.loc[0, name] = np.nan if numeric else None
        out.append((str(name), "missing", changed))
        if numeric:
            low, high = float(column.min()), float(column.max())
            span = (high - low) or 1.0
            for case, value in (("below the range", low - span), ("above the range", high + span)):
                row = base.copy()
                row.loc[0, name] = value
                out.append((str(name), case, row))
        elif not pd.api.types.is_bool_dtype(column):
            row = base.astype({name: object})
            row.loc[0, name] = UNSEEN
            out.append((str(name), "an unseen category", row))
    return out


def compare_probes(model: Any, probes: list[tuple[str, str, pd.DataFrame]],
                   native: list[dict[str, Any] | str], limits: dict[str, float]
                   ) -> list[dict[str, Any]]:
    """Each probe's outcome through ``model`` next to the native model's (a dict of outputs,
    or the reason it refused): ``agree``, ``differ`` (both scored, beyond the tolerance: the
    PMML would give another number in production), ``pmml refuses`` or ``pmml scores`` (what
    the native model refuses)."""
    frame = pd.concat([row for _, _, row in probes], ignore_index=True)
    scored = model.score_batch(frame, allow_missing_columns=True)
    out = []
    for i, ((column, case, _), expected) in enumerate(zip(probes, native, strict=True)):
        error = scored["error"].iloc[i]
        if isinstance(expected, str):
            outcome = "agree" if error is not None else "pmml scores"
        elif error is not None:
            outcome = "pmml refuses"
        else:
            outcome = "agree"
            for name, want in expected.items():
                if name not in scored.columns:
                    continue
                got = scored[name].iloc[i]
                if name in limits:
                    if not abs(float(got) - float(want)) <= limits[name]:
                        outcome = "differ"
                elif str(got) != str(want) and _number(got) != _number(want):
                    outcome = "differ"
        out.append({"column": column, "case": case, "outcome": outcome,
                    "native": expected if isinstance(expected, str) else
                    {k: plain(v) for k, v in expected.items()},
                    "pmml": error if error is not None else
                    {k: plain(scored[k].iloc[i]) for k in (expected if isinstance(expected, dict)
                                                          else {}) if k in scored.columns}})
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None

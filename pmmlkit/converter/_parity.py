"""The parity gate: the PMML, scored by pmmlkit, must reproduce the native model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pmmlkit._values import plain
from pmmlkit.errors import ParityError, PmmlkitError

DEFAULT_TOLERANCE = 1e-6
_WORST_ROWS = 5


@dataclass
class NativeOutputs:
    """The native model's predictions on the sample, keyed by output-contract column."""

    values: dict[str, np.ndarray]
    #: columns compared as labels (exact match), the rest as numbers (max |difference|)
    labels: frozenset[str]


def compare(pmml: bytes, features: pd.DataFrame, native: NativeOutputs, *,
            backends: tuple[str, ...], tolerance: float, source: str) -> dict[str, Any]:
    """Score ``features`` through each backend; report differences per output column."""
    from pmmlkit.scorer.model import load

    report: dict[str, Any] = {"rows": len(features), "tolerance": tolerance, "backends": {}}
    for backend in backends:
        try:
            # interpreted: a one-off sample is not worth compiling the model for
            scored = load(pmml, backend=backend, verify=False,
                          transpile=False).score_batch(features)
        except PmmlkitError as exc:
            report["backends"][backend] = {"passed": False, "error": str(exc)}
            continue
        report["backends"][backend] = _compare_one(scored, native, tolerance)
    default = report["backends"].get(backends[0], {})
    report["default_backend"] = backends[0]
    report["passed"] = bool(default.get("passed"))
    if not report["passed"]:
        raise ParityError(_failure_message(source, backends[0], default, tolerance),
                          report=report)
    return report


def _compare_one(scored: pd.DataFrame, native: NativeOutputs, tolerance: float
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
            delta = np.abs(got.to_numpy(dtype=float, na_value=np.nan) - expected.astype(float))
            delta = np.where(np.isnan(delta), np.inf, delta)
            diffs[column] = float(delta.max()) if len(delta) else 0.0
            for i in np.argsort(-delta)[:_WORST_ROWS]:
                if delta[i] > tolerance:
                    worst_rows.append({"row": int(i), "column": column,
                                       "native": plain(expected[i]),
                                       "pmml": plain(got.iloc[i]),
                                       "difference": float(delta[i])})
    passed = all(d <= tolerance for d in diffs.values()) and not any(mismatches.values()) \
        and not errors.any()
    return {"passed": passed, "max_abs_difference": diffs, "label_mismatches": mismatches,
            "rows_with_errors": int(errors.sum()), "worst_rows": worst_rows[:_WORST_ROWS * 2]}


def _failure_message(source: str, backend: str, result: dict[str, Any], tolerance: float) -> str:
    if "error" in result:
        return f"{source}: parity check failed on backend {backend}: {result['error']}"
    lines = [f"{source}: the PMML does not reproduce the native model through backend "
             f"{backend} (tolerance {tolerance:g}); nothing was published.",
             f"  max |difference| per output: {result['max_abs_difference']}",
             f"  label mismatches: {result['label_mismatches']}, rows the PMML could not "
             f"score: {result['rows_with_errors']}"]
    for row in result["worst_rows"]:
        lines.append(f"  row {row['row']}, {row['column']}: native {row['native']!r}, "
                     f"PMML {row['pmml']!r}")
    return "\n".join(lines)

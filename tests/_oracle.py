"""Oracles shared by the hand-written (spec zoo) and the exporters' documents: pmmlkit's output
contract, column by column, as the raw evaluators give it for the same records (``_raw``).

A document here is anything with ``name``, ``xml`` and ``records`` (:class:`tests.Any`).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import pytest

import pmmlkit
from tests import _raw


def load(doc: Any, backend: str) -> pmmlkit.Model:
    """Interpreted: the compiled evaluator has its own tests (it must match this one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pmmlkit.load(doc.data, backend=backend, verify=False, transpile=False)


def same(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and math.isclose(float(actual), float(expected), rel_tol=1e-12,
                                                   abs_tol=1e-15)
    if isinstance(expected, int) and not isinstance(expected, bool):
        return int(actual) == expected
    return str(actual) == str(expected)


def with_probability_outputs(doc: Any, model: pmmlkit.Model) -> str:
    """The document with probability OutputFields declared in its XML by the test itself, so
    raw JPMML computes the probabilities its own way (typed by its own XML parser)."""
    categories = [c.category for c in model.schema.columns if c.kind == "probability"]
    count = 0

    def declare(match: re.Match[str]) -> str:
        nonlocal count
        fields = "".join(
            f'<OutputField name="oracle_p{k}_{count}" optype="continuous" dataType="double" '
            f'feature="probability" value="{cat}"/>' for k, cat in enumerate(categories))
        count += 1
        if match.group(1):  # the model's own Output: add to it (a second one is invalid)
            return match.group(0) + fields
        return match.group(0) + f"<Output>{fields}</Output>"

    # a selectFirst ensemble passes on its chosen segment's distribution: declare it there too
    every = "select_first" in doc.name
    return re.sub(r"</MiningSchema>(\s*<Output(?:\s[^>]*)?>)?", declare, doc.xml,
                  count=0 if every else 1)


def rows(model: pmmlkit.Model, doc: Any) -> list[dict[str, Any]]:
    frame = model.score_batch(doc.records)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def check(model: pmmlkit.Model, doc: Any, expected: list[dict[str, Any] | None]) -> None:
    """Batch and single-record paths both equal the oracle; an oracle failure is an error."""
    batch = rows(model, doc)
    for i, (record, want, got) in enumerate(zip(doc.records, expected, batch, strict=True)):
        if want is None:
            assert got["error"], (doc.name, i, got)
            # refused (InvalidInputError) or failed in the evaluator (ScoringError), never a result
            with pytest.raises((pmmlkit.InvalidInputError, pmmlkit.ScoringError)):
                model.score(record)
            continue
        assert got["error"] is None, (doc.name, i, got["error"])
        single = model.score(record)
        for name, value in want.items():
            assert same(value, got[name]), (doc.name, i, name, value, got[name])
            assert same(value, single[name]), (doc.name, i, name, value, single[name])
    declared = getattr(expected, "declared", None)
    if declared is not None:  # every field the raw evaluator answers is a column, and no more
        keys = {c.key for c in model.schema.columns if c.kind != "probability"}
        assert keys == declared, (doc.name, keys, declared)


class Expected(list):  # type: ignore[type-arg]
    """The oracle's rows, and the result fields raw JPMML answers (``declared``)."""

    declared: set[str | None] | None = None


def expected_jpmml(doc: Any, model: pmmlkit.Model, *, by_pmml4s: bool = False
                   ) -> list[dict[str, Any] | None]:
    """pmmlkit's columns as raw JPMML gives them (None for a record without a result)."""
    xml = doc.xml.replace("https://www.dmg.org", "http://www.dmg.org")
    raw = _raw.jpmml(xml, doc.records)
    probabilities = [c for c in model.schema.columns if c.kind == "probability"]
    raw_p = _raw.jpmml(with_probability_outputs(doc, model), doc.records) if probabilities else None
    out = Expected()
    fallback = expected_pmml4s(doc, model) if by_pmml4s else None
    for i, result in enumerate(raw):
        if not isinstance(result, Exception):  # a chain's segments answer where they run
            out.declared = (out.declared or set()) | set(result)
        row: dict[str, Any] = {}
        target = model.schema.columns[0]
        if isinstance(result, Exception) or (target.kind == "target"
                                             and result.get(target.key) is None):
            out.append(None)
            continue
        for column in model.schema.columns:
            if column.kind == "probability" and fallback is not None:
                row[column.name] = fallback[i][column.name]  # type: ignore[index]
            elif column.kind == "probability":
                assert raw_p is not None
                found = raw_p[i]
                assert not isinstance(found, Exception), (doc.name, i, found)
                row[column.name] = found[f"oracle_p{probabilities.index(column)}_0"]
            else:
                row[column.name] = result.get(column.key)
        out.append(row)
    return out


def _pmml4s_key(column: Any, names: list[str], data_type: str | None, model: Any) -> str:
    if column.kind == "target":
        declared = [o.name for o in model.schema.outputs if o.feature == "predictedValue"]
        for name in (f"predicted_{column.key}", column.key or "", "predicted_cluster", "cluster",
                     *declared):
            if name in names:
                return name
        return next(n for n in names if n not in ("probability",) and not n.startswith("probability_"))
    if column.kind == "probability":
        if data_type in ("integer", "double"):
            return next(n for n in names if n.startswith("probability_")
                        and float(n.split("_", 1)[1]) == float(column.category))
        return f"probability_{column.category}"
    return column.name


def expected_pmml4s(doc: Any, model: pmmlkit.Model) -> list[dict[str, Any] | None]:
    raw = _raw.pmml4s(doc.xml, doc.records)
    data_type = model.schema.targets[0].data_type if model.schema.targets else None
    out: list[dict[str, Any] | None] = []
    for result in raw:
        if isinstance(result, Exception):
            out.append(None)
            continue
        names = list(result)
        row = {c.name: result.get(_pmml4s_key(c, names, data_type, model))
               for c in model.schema.columns}
        # no prediction, or a probability pmmlkit asked for and did not get: an error
        asked = [c.name for c in model.schema.columns if c.kind in ("target", "probability")]
        out.append(None if any(row[name] is None for name in asked) else row)
    return out



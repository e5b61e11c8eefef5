"""Every PMML 4.4 model family, hand-written from the spec, scored through pmmlkit and compared
column by column with the raw evaluator's own result for the same record.

The oracle is never pmmlkit: it is JPMML-Evaluator's ``Evaluator.evaluate`` map and PMML4S's
``Model.predict`` map, called directly (``tests/_raw.py``), plus numbers worked out by hand.
Classifiers come with integer, double and string class labels.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import pytest

import pmmlkit
from tests import _raw, spec_zoo

DOCS = spec_zoo.catalogue()
BY_NAME = {d.name: d for d in DOCS}
#: documents JPMML-Evaluator refuses (at load, or on every record); ``auto`` takes PMML4S
JPMML_REFUSES = {"anomaly_detection", "tree_weightedConfidence_string",
                 "tree_aggregateNodes_string", "regression_integer_target"}
#: documents PMML4S refuses
PMML4S_REFUSES = {"association"}
#: raw JPMML reads 0.0 for probability outputs declared in the XML of an ensemble that takes
#: its distribution from a segment with numeric labels (it keys them by the label's text);
#: pmmlkit declares them typed and gets the real values. The oracle there is PMML4S.
JPMML_XML_PROBABILITY_QUIRK = {"mining_chain_integer", "mining_chain_double",
                               "mining_select_first_integer", "mining_select_first_double"}
#: pmmlkit refuses: neither evaluator scores a one-value-per-field record of a basket model
UNSUPPORTED = {"association"}


def _load(doc: spec_zoo.Doc, backend: str) -> pmmlkit.Model:
    """Interpreted: the compiled evaluator has its own tests (it must match this one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pmmlkit.load(doc.data, backend=backend, verify=False, transpile=False)


def _same(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and math.isclose(float(actual), float(expected), rel_tol=1e-12,
                                                   abs_tol=1e-15)
    if isinstance(expected, int) and not isinstance(expected, bool):
        return int(actual) == expected
    return str(actual) == str(expected)


def _with_probability_outputs(doc: spec_zoo.Doc, model: pmmlkit.Model) -> str:
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
        return match.group(0) + f"<Output>{fields}</Output>"

    # a selectFirst ensemble passes on its chosen segment's distribution: declare it there too
    every = "select_first" in doc.name
    return re.sub(r"</MiningSchema>", declare, doc.xml, count=0 if every else 1)


def _rows(model: pmmlkit.Model, doc: spec_zoo.Doc) -> list[dict[str, Any]]:
    frame = model.score_batch(doc.records)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _check(model: pmmlkit.Model, doc: spec_zoo.Doc, expected: list[dict[str, Any] | None]) -> None:
    """Batch and single-record paths both equal the oracle; an oracle failure is an error."""
    batch = _rows(model, doc)
    for i, (record, want, got) in enumerate(zip(doc.records, expected, batch, strict=True)):
        if want is None:
            assert got["error"], (doc.name, i, got)
            with pytest.raises(pmmlkit.InvalidInputError):
                model.score(record)
            continue
        assert got["error"] is None, (doc.name, i, got["error"])
        single = model.score(record)
        for name, value in want.items():
            assert _same(value, got[name]), (doc.name, i, name, value, got[name])
            assert _same(value, single[name]), (doc.name, i, name, value, single[name])
        assert set(want) == set(model.schema.column_names), (doc.name, set(want))


def _expected_jpmml(doc: spec_zoo.Doc, model: pmmlkit.Model) -> list[dict[str, Any] | None]:
    """pmmlkit's columns as raw JPMML gives them (None for a record without a result)."""
    xml = doc.xml.replace("https://www.dmg.org", "http://www.dmg.org")
    raw = _raw.jpmml(xml, doc.records)
    probabilities = [c for c in model.schema.columns if c.kind == "probability"]
    raw_p = _raw.jpmml(_with_probability_outputs(doc, model), doc.records) if probabilities else None
    out: list[dict[str, Any] | None] = []
    by_pmml4s = doc.name in JPMML_XML_PROBABILITY_QUIRK
    fallback = _expected_pmml4s(doc, model) if by_pmml4s else None
    for i, result in enumerate(raw):
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


def _expected_pmml4s(doc: spec_zoo.Doc, model: pmmlkit.Model) -> list[dict[str, Any] | None]:
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


SCORED_BY_JPMML = [d for d in DOCS if d.name not in JPMML_REFUSES | UNSUPPORTED]
SCORED_BY_PMML4S = [d for d in DOCS if d.name not in PMML4S_REFUSES | UNSUPPORTED]


@pytest.mark.parametrize("doc", SCORED_BY_JPMML, ids=lambda d: d.name)
def test_jpmml_backend_equals_raw_jpmml(doc):
    model = _load(doc, "jpmml")
    _check(model, doc, _expected_jpmml(doc, model))


@pytest.mark.parametrize("doc", SCORED_BY_PMML4S, ids=lambda d: d.name)
def test_pypmml_backend_equals_raw_pmml4s(doc):
    model = _load(doc, "pypmml")
    _check(model, doc, _expected_pmml4s(doc, model))


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name not in UNSUPPORTED], ids=lambda d: d.name)
def test_auto_uses_the_exact_evaluator_and_falls_back_with_a_reason(doc):
    if doc.name in JPMML_REFUSES:
        with pytest.warns(UserWarning, match="JPMML-Evaluator cannot"):
            model = pmmlkit.load(doc.data, verify=False, transpile=False)
        assert model.backend == "pypmml" and "JPMML-Evaluator" in model.fallback_reason
        _check(model, doc, _expected_pmml4s(doc, model))
        with pytest.raises(pmmlkit.ModelLoadError):
            pmmlkit.load(doc.data, backend="jpmml", verify=False)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = pmmlkit.load(doc.data, verify=False, transpile=False)
        assert model.backend == "jpmml" and model.fallback_reason is None


def test_classifiers_cover_every_label_type_and_give_real_probabilities():
    """The defect this family guards against: numeric labels gave 0.0 for every class."""
    classifiers = [d for d in DOCS if d.labels]
    assert {d.labels for d in classifiers} == {"integer", "double", "string"}
    for doc in classifiers:
        model = _load(doc, "auto")
        probabilities = [c.name for c in model.schema.columns if c.kind == "probability"]
        if not probabilities:
            continue
        out = model.score_batch(doc.records)
        scored = out[out["error"].isna()]
        assert len(scored) >= 3, doc.name
        sums = scored[probabilities].sum(axis=1)
        assert ((sums - 1.0).abs() < 1e-9).all(), (doc.name, sums.tolist())
        assert (scored[probabilities].max(axis=1) > 0.0).all(), doc.name


@pytest.mark.parametrize("labels", list(spec_zoo.LABELS))
def test_softmax_probabilities_worked_out_by_hand(labels):
    a, b, c = spec_zoo.LABELS[labels]
    record = {"x1": 0.3, "x2": 1.2, "c": "blue"}
    z = [0.5 + 1.0 * 0.3 - 0.8, 0.1 - 1.0 * 0.3 + 0.6 * 1.2, 0.0]
    total = sum(math.exp(v) for v in z)
    expected = [math.exp(v) / total for v in z]
    for backend in ("jpmml", "pypmml"):
        out = _load(spec_zoo.regression_softmax(labels), backend).score(record)
        got = [out[f"probability({k})"] for k in (a, b, c)]
        assert got == pytest.approx(expected, abs=1e-12), backend
        assert str(out["y"]) in (b, "2.5"), out


def test_no_probability_columns_where_the_model_computes_none():
    for name in ("tree_plain_none_integer", "knn_string", "ruleset_firstHit_double"):
        model = _load(BY_NAME[name], "auto")
        assert [c.kind for c in model.schema.columns] == ["target"], name


def test_https_namespace_is_scored_by_jpmml_with_the_same_numbers():
    model = _load(BY_NAME["https_namespace"], "auto")
    assert model.backend == "jpmml"
    plain = _load(BY_NAME["regression_linear"], "jpmml")
    records = spec_zoo.RECORDS
    assert model.score_batch(records)["y"].tolist() == plain.score_batch(records)["y"].tolist()


def test_integer_regression_target_is_diagnosed_with_the_fix():
    with pytest.raises(pmmlkit.ModelLoadError, match=r"'y'.*castInteger=\"round\""):
        pmmlkit.load(BY_NAME["regression_integer_target"].data, backend="jpmml")


def test_association_rules_are_refused_clearly():
    with pytest.raises(pmmlkit.ModelLoadError, match="basket"):
        pmmlkit.load(BY_NAME["association"].data)


def test_nearly_every_document_loads_and_scores():
    scored = 0
    for doc in DOCS:
        try:
            model = _load(doc, "auto")
        except pmmlkit.ModelLoadError:
            continue
        out = model.score_batch(doc.records)
        scored += int(out["error"].isna().any())
    assert scored / len(DOCS) >= 0.95, (scored, len(DOCS))


@pytest.mark.parametrize("labels", ["integer", "double"])
def test_probabilities_the_document_declares_are_real_for_numeric_labels(labels):
    """Raw JPMML reads its own declared outputs as 0.0 here (see JPMML_XML_PROBABILITY_QUIRK);
    pmmlkit keys them by the typed label and gets PMML4S's numbers."""
    doc = spec_zoo.mining_chain(labels)
    model = _load(doc, "jpmml")
    declared = _with_probability_outputs(doc, model)
    raw = _raw.jpmml(declared, doc.records)
    assert all(r["oracle_p0_0"] == 0.0 for r in raw)  # the evaluator's quirk, unchanged
    ours = pmmlkit.load(declared.encode(), backend="jpmml", verify=False, transpile=False)
    expected = _expected_pmml4s(doc, _load(doc, "pypmml"))
    out = ours.score_batch(doc.records)
    for i, want in enumerate(expected):
        assert want is not None
        for k, cat in enumerate(spec_zoo.LABELS[labels]):
            assert out[f"oracle_p{k}_0"][i] == pytest.approx(want[f"probability({cat})"], abs=1e-12)

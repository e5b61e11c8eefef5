"""Every PMML 4.4 model family, hand-written from the spec, scored through pmmlkit and compared
column by column with the raw evaluator's own result for the same record.

The oracle is never pmmlkit: it is JPMML-Evaluator's ``Evaluator.evaluate`` map and PMML4S's
``Model.predict`` map, called directly (``tests/_raw.py``), plus numbers worked out by hand.
Classifiers come with integer, double and string class labels.
"""

from __future__ import annotations

import math
import warnings

import pytest

import pmmlkit
from tests import _oracle, _raw, spec_zoo

DOCS = spec_zoo.catalogue()
BY_NAME = {d.name: d for d in DOCS}
#: documents JPMML-Evaluator refuses (at load, or on every record); ``auto`` takes PMML4S
JPMML_REFUSES = {"anomaly_detection", "tree_weightedConfidence_string",
                 "tree_aggregateNodes_string", "regression_integer_target",
                 "sas_parameter_as_text", "undefined_probability_outputs"}
#: documents PMML4S refuses
PMML4S_REFUSES = {"association"}
#: raw JPMML reads 0.0 for probability outputs declared in the XML of an ensemble that takes
#: its distribution from a segment with numeric labels (it keys them by the label's text);
#: pmmlkit declares them typed and gets the real values. The oracle there is PMML4S.
JPMML_XML_PROBABILITY_QUIRK = {"mining_chain_integer", "mining_chain_double",
                               "mining_select_first_integer", "mining_select_first_double"}
#: pmmlkit refuses: neither evaluator scores a one-value-per-field record of a basket model
UNSUPPORTED = {"association"}


SCORED_BY_JPMML = [d for d in DOCS if d.name not in JPMML_REFUSES | UNSUPPORTED]
SCORED_BY_PMML4S = [d for d in DOCS if d.name not in PMML4S_REFUSES | UNSUPPORTED]


@pytest.mark.parametrize("doc", SCORED_BY_JPMML, ids=lambda d: d.name)
def test_jpmml_backend_equals_raw_jpmml(doc):
    model = _oracle.load(doc, "jpmml")
    _oracle.check(model, doc, _oracle.expected_jpmml(doc, model, by_pmml4s=doc.name in JPMML_XML_PROBABILITY_QUIRK))


@pytest.mark.parametrize("doc", SCORED_BY_PMML4S, ids=lambda d: d.name)
def test_pypmml_backend_equals_raw_pmml4s(doc):
    model = _oracle.load(doc, "pypmml")
    _oracle.check(model, doc, _oracle.expected_pmml4s(doc, model))


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name not in UNSUPPORTED], ids=lambda d: d.name)
def test_auto_uses_the_exact_evaluator_and_falls_back_with_a_reason(doc):
    if doc.name in JPMML_REFUSES:
        with pytest.warns(UserWarning, match="JPMML-Evaluator cannot"):
            model = pmmlkit.load(doc.data, verify=False, transpile=False)
        assert model.backend == "pypmml" and "JPMML-Evaluator" in model.fallback_reason
        _oracle.check(model, doc, _oracle.expected_pmml4s(doc, model))
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
        model = _oracle.load(doc, "auto")
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
        out = _oracle.load(spec_zoo.regression_softmax(labels), backend).score(record)
        got = [out[f"probability({k})"] for k in (a, b, c)]
        assert got == pytest.approx(expected, abs=1e-12), backend
        assert str(out["y"]) in (b, "2.5"), out


def test_no_probability_columns_where_the_model_computes_none():
    for name in ("tree_plain_none_integer", "knn_string", "ruleset_firstHit_double"):
        model = _oracle.load(BY_NAME[name], "auto")
        assert [c.kind for c in model.schema.columns] == ["target"], name


def test_https_namespace_is_scored_by_jpmml_with_the_same_numbers():
    model = _oracle.load(BY_NAME["https_namespace"], "auto")
    assert model.backend == "jpmml"
    plain = _oracle.load(BY_NAME["regression_linear"], "jpmml")
    records = spec_zoo.RECORDS
    assert model.score_batch(records)["y"].tolist() == plain.score_batch(records)["y"].tolist()


def test_integer_regression_target_is_diagnosed_with_the_fix():
    with pytest.raises(pmmlkit.ModelLoadError, match=r"'y'.*castInteger=\"round\""):
        pmmlkit.load(BY_NAME["regression_integer_target"].data, backend="jpmml")


def test_association_rules_are_refused_clearly():
    with pytest.raises(pmmlkit.ModelLoadError, match="basket"):
        pmmlkit.load(BY_NAME["association"].data)


def test_nearly_every_document_loads_and_scores_what_the_evaluator_scores():
    """A document counts when pmmlkit loads it and scores exactly the records its raw
    evaluator scores (and refuses exactly those it refuses)."""
    scored = 0
    for doc in DOCS:
        try:
            model = _oracle.load(doc, "auto")
        except pmmlkit.ModelLoadError:
            continue
        out = model.score_batch(doc.records)
        # the oracle: the raw evaluator pmmlkit chose ("auto" takes PMML4S where JPMML fails);
        # a record without a prediction (returnNullPrediction) is an error row in pmmlkit
        expected = (_oracle.expected_pmml4s(doc, model) if model.evaluator.startswith("PMML4S")
                    else _oracle.expected_jpmml(doc, model))
        answered = [e is not None for e in expected]
        agrees = [a == (e is None or e != e)
                  for a, e in zip(answered, out["error"].tolist(), strict=True)]
        scored += int(all(agrees) and any(answered))
    assert scored / len(DOCS) >= 0.95, (scored, len(DOCS))


@pytest.mark.parametrize("labels", ["integer", "double"])
def test_probabilities_the_document_declares_are_real_for_numeric_labels(labels):
    """Raw JPMML reads its own declared outputs as 0.0 here (see JPMML_XML_PROBABILITY_QUIRK);
    pmmlkit keys them by the typed label and gets PMML4S's numbers."""
    doc = spec_zoo.mining_chain(labels)
    model = _oracle.load(doc, "jpmml")
    declared = _oracle.with_probability_outputs(doc, model)
    raw = _raw.jpmml(declared, doc.records)
    assert all(r["oracle_p0_0"] == 0.0 for r in raw)  # the evaluator's quirk, unchanged
    ours = pmmlkit.load(declared.encode(), backend="jpmml", verify=False, transpile=False)
    expected = _oracle.expected_pmml4s(doc, _oracle.load(doc, "pypmml"))
    out = ours.score_batch(doc.records)
    for i, want in enumerate(expected):
        assert want is not None
        for k, cat in enumerate(spec_zoo.LABELS[labels]):
            assert out[f"oracle_p{k}_0"][i] == pytest.approx(want[f"probability({cat})"], abs=1e-12)

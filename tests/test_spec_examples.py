"""The PMML 4.4 specification's own example documents (and three exporter documents that ship
with them), loaded and scored through pmmlkit's default and compared, column by column, with
the raw evaluator that scored them (``tests/_raw.py``). Provenance: ``tests/data/SPEC_EXAMPLES.md``.

The examples carry no data: records are built from each document, cycling through the
values its DataDictionary and predicates name (integers for integer fields, inside declared
intervals), plus one record with a missing first input.
"""

from __future__ import annotations

import re
import tarfile
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest

import pmmlkit
from tests import _oracle
from tests.conftest import DATA

#: refused by pmmlkit on purpose: association rules score baskets, not one value per field
BY_DESIGN = {"association/dmg_association_exclusive_recommendation.xml",
             "association/dmg_association_recommendation.xml",
             "association/dmg_association_rule_association.xml"}
#: neither evaluator can load these (JPMML: UnsupportedOperationException on the segments'
#: DecisionTree; PMML4S: "an implementation is missing"): pmmlkit says so at load
NO_EVALUATOR = {"mining/dmg_model_selection_mining.xml", "mining/dmg_model_sequencing_mining.xml"}

#: records for documents whose branches the generated values do not reach
RECORDS: dict[str, list[dict[str, Any]]] = {
    "mining/dmg_model_chain_mining.xml": [
        {"petal_length": 1.4, "petal_width": 0.2, "temperature": 20.0, "cloudiness": 3.0},
        {"petal_length": 4.5, "petal_width": 1.5, "temperature": 30.0, "cloudiness": 1.0},
        {"petal_length": 6.0, "petal_width": 2.2, "temperature": 10.0, "cloudiness": 8.0}],
}
RECORDS["mining/dmg_mining_efficient_model_chain.xml"] = RECORDS["mining/dmg_model_chain_mining.xml"]
RECORDS["mining/dmg_model_composition_mining.xml"] = RECORDS["mining/dmg_model_chain_mining.xml"]
RECORDS["general/dmg_general_cox_strata.xml"] = [  # a time (childs) and a stratum (region)
    {"childs": 2.0, "happy": 1.0, "educ": 1.0, "region": 1.0},
    {"childs": 5.0, "happy": 2.0, "educ": 2.0, "region": 2.0},
    {"childs": 10.0, "happy": 3.0, "educ": 1.0, "region": 3.0}]
RECORDS["general/dmg_general_multinomial_contrast_matrix.xml"] = [
    {"gender": "f", "educ": 12.0, "jobcat": 1.0, "salbegin": 20000.0},
    {"gender": "m", "educ": 16.0, "jobcat": 2.0, "salbegin": 35000.0},
    {"gender": "f", "educ": 8.0, "jobcat": 3.0, "salbegin": 15000.0}]
RECORDS["tree/sas_3.1_iris_tree.xml"] = [
    {"petal_width": 0.2, "petal_length": 1.4, "sepal_length": 5.1},
    {"petal_width": 1.3, "petal_length": 4.0, "sepal_length": 5.8},
    {"petal_width": 2.0, "petal_length": 5.5, "sepal_length": 6.5}]


@dataclass
class SpecDoc:
    name: str
    xml: str
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return self.xml.encode()


@cache
def corpus() -> dict[str, str]:
    with tarfile.open(DATA / "spec-examples.tar.xz") as archive:
        return {m.name: archive.extractfile(m).read().decode("utf-8-sig")  # type: ignore[union-attr]
                for m in archive.getmembers() if m.isfile()}


def _named_values(xml: str, name: str) -> list[str]:
    """Every ``value`` on an element that names the field (predicates, predictors, norms)."""
    found: set[str] = set()
    pattern = r'<[^>]*\b(?:field|name|predictorName)="' + re.escape(name) + r'"[^>]*>'
    for tag in re.findall(pattern, xml):
        found.update(v.strip() for v in re.findall(r'\bvalue="([^"]*)"', tag))
    return sorted(found)


def _candidates(model: pmmlkit.Model, xml: str, f: Any) -> list[Any]:
    if not f.is_numeric:
        return list(f.valid_values) or _named_values(xml, f.name) or ["a", "b"]
    found = {float(v) for v in [*f.valid_values, *_named_values(xml, f.name)]
             if re.fullmatch(r"-?[0-9.]+(?:[eE][-+]?[0-9]+)?", v)}
    values = sorted(found)[:6] or [0.5, 1.5, 3.0, 10.0, -2.0, 45.0]
    values += [v + 0.25 for v in values[:2]]  # either side of a threshold
    if f.data_type == "integer":
        values = sorted({float(round(v)) for v in values})
    if f.intervals:
        inside = [v for v in values if any(i.contains(v) for i in f.intervals)]
        left = f.intervals[0].left
        values = inside or [left + 0.001 if left is not None else 0.0]
    return values


def _records(model: pmmlkit.Model, doc: SpecDoc) -> list[dict[str, Any]]:
    if doc.name in RECORDS:
        return RECORDS[doc.name]
    columns = [(f.name, _candidates(model, doc.xml, f)) for f in model.schema.inputs]
    out = [{name: values[(i * (k + 1)) % len(values)] for k, (name, values) in enumerate(columns)}
           for i in range(12)]
    if columns:
        out.append({**out[0], columns[0][0]: None})
    return out


def _load(name: str) -> tuple[pmmlkit.Model, SpecDoc]:
    doc = SpecDoc(name, corpus()[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback's warning: tested in test_spec_zoo
        model = pmmlkit.load(doc.data, verify=False, transpile=False, name=name)
    doc.records = _records(model, doc)
    return model, doc


NAMES = sorted(corpus())


@pytest.mark.parametrize("name", [n for n in NAMES if n not in BY_DESIGN | NO_EVALUATOR])
def test_spec_example_scores_like_its_evaluator(name):
    model, doc = _load(name)
    if model.backend == "jpmml":
        expected = _oracle.expected_jpmml(doc, model)
    else:
        expected = _oracle.expected_pmml4s(doc, model)
    _oracle.check(model, doc, expected)
    assert any(row is not None for row in expected), f"{name}: the evaluator scored no record"


def test_the_spec_examples_pmmlkit_cannot_score_are_refused_at_load_with_the_reason():
    for name in sorted(BY_DESIGN | NO_EVALUATOR):
        with pytest.raises(pmmlkit.ModelLoadError) as caught:
            _load(name)
        reason = str(caught.value)
        assert ("basket" in reason) if name in BY_DESIGN else (
            "JPMML-Evaluator cannot load" in reason and "PMML4S cannot load" in reason), reason


def test_ninety_five_percent_of_the_scoreable_spec_examples_score():
    """Of the examples pmmlkit accepts by design (all but association rules), the share that
    loads and scores records; the rest are the documents neither evaluator loads."""
    accepted = [n for n in NAMES if n not in BY_DESIGN]
    scored = []
    for name in accepted:
        try:
            model, doc = _load(name)
        except pmmlkit.ModelLoadError:
            continue
        if model.score_batch(doc.records)["error"].isna().any():
            scored.append(name)
    assert len(NAMES) == 48
    assert sorted(set(accepted) - set(scored)) == sorted(NO_EVALUATOR)
    assert len(scored) / len(accepted) >= 0.95, (len(scored), len(accepted))

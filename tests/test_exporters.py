"""PMML written by real exporters (KNIME, R, SAS Enterprise Miner, RapidMiner), loaded and
scored through pmmlkit's default (``auto``) and compared, column by column, with the raw
evaluator that scored it (JPMML's ``Evaluator.evaluate`` or PMML4S's ``predict``, called
directly: ``tests/_raw.py``). The documents and their data: ``tests/data/EXPORTERS.md``.
"""

from __future__ import annotations

import csv
import io
import tarfile
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest

import pmmlkit
from tests import _oracle
from tests.conftest import DATA

#: records scored per document: every k-th row of its dataset, first and last included
SAMPLE = 40
#: refused on purpose: an AssociationModel scores baskets, not one value per field
REFUSED = {"rattle/AssociationRulesShopping"}


@dataclass
class ExporterDoc:
    name: str
    xml: str
    table: list[dict[str, str]]
    expected: list[dict[str, str]] | None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return self.xml.encode()


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@cache
def corpus() -> dict[str, ExporterDoc]:
    with tarfile.open(DATA / "exporters.tar.xz") as archive:
        files = {m.name: archive.extractfile(m).read().decode("utf-8-sig")  # type: ignore[union-attr]
                 for m in archive.getmembers() if m.isfile()}
    datasets = ("Audit", "Iris", "Auto", "Lung", "Shopping", "Versicolor")
    docs = {}
    for path, xml in sorted(files.items()):
        if not path.endswith(".pmml"):
            continue
        tool, _, file_name = path.split("/")
        name = file_name[:-len(".pmml")]
        dataset = next(d for d in datasets if name.endswith(d))
        expected = files.get(f"{tool}/csv/{name}.csv")
        docs[f"{tool}/{name}"] = ExporterDoc(
            f"{tool}/{name}", xml, _read_csv(files[f"{tool}/csv/{dataset}.csv"]),
            _read_csv(expected) if expected else None)
    return docs


def _typed(model: pmmlkit.Model, row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the model's inputs: numbers for numeric fields, None for an empty or NA
    cell. The same record goes to pmmlkit and to the raw evaluator."""
    record: dict[str, Any] = {}
    for f in model.schema.inputs:
        text = row.get(f.name)
        if text is None or text.strip() in ("", "NA"):
            record[f.name] = None
        else:
            record[f.name] = float(text) if f.is_numeric else text
    return record


def _load(doc: ExporterDoc) -> pmmlkit.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback warning: asserted below
        model = pmmlkit.load(doc.data, verify=False, transpile=False, name=doc.name)
    step = max(1, len(doc.table) // SAMPLE)
    rows = doc.table[::step] + doc.table[-1:]
    doc.records = [_typed(model, row) for row in rows]
    return model


DOCS = sorted(corpus())


@pytest.mark.parametrize("name", [d for d in DOCS if d not in REFUSED])
def test_exporter_document_scores_like_its_evaluator(name):
    doc = corpus()[name]
    model = _load(doc)
    if model.backend == "jpmml":
        expected = _oracle.expected_jpmml(doc, model)
    else:
        expected = _oracle.expected_pmml4s(doc, model)
    assert any(row is not None for row in expected), f"{name}: the evaluator scored no record"
    _oracle.check(model, doc, expected)


def test_ninety_five_percent_of_exporter_documents_load_and_score():
    scored, failed = [], []
    for name in DOCS:
        doc = corpus()[name]
        try:
            model = _load(doc)
            out = model.score_batch(doc.records)
        except pmmlkit.ModelLoadError as exc:
            failed.append(f"{name}: {exc}")
            continue
        (scored if out["error"].isna().all() else failed).append(name)
    assert len(DOCS) == 62
    assert len(scored) / len(DOCS) >= 0.95, failed
    assert [f.split(":")[0] for f in failed] == sorted(REFUSED), failed


def test_sas_documents_fall_back_to_pmml4s_with_the_reason_and_match_sas():
    """SAS EM writes <Constant>FMTWIDTH</Constant> for a parameter: JPMML fails on every
    record, so auto scores with PMML4S, saying why, and gets SAS's own probabilities."""
    doc = corpus()["sas/LogisticRegressionAudit"]
    with pytest.warns(UserWarning, match="FMTWIDTH"):
        model = pmmlkit.load(doc.data, verify=False, transpile=False)
    assert model.backend == "pypmml" and "SAS Enterprise Miner" in model.fallback_reason
    out = model.score_batch([_typed(model, row) for row in doc.table])
    assert doc.expected is not None and len(doc.expected) == len(out)
    sas = [float(row["EM_EVENTPROBABILITY"]) for row in doc.expected]
    # SAS computed these from its unrounded coefficients; the PMML holds ~10 digits of each
    assert out["P_Adjusted1"].tolist() == pytest.approx(sas, abs=1e-7)
    with pytest.raises(pmmlkit.ModelLoadError, match="FieldRef"):
        pmmlkit.load(doc.data, backend="jpmml", verify=False)


#: the exporter's own predictions disagree with the document: R's LIBSVM export of this binary
#: model predicts the other class on 287 of 1,899 rows in both JPMML and PMML4S
EXPORTER_DISAGREES = {"rattle/LibSVMAudit"}


def test_exporters_own_predictions_are_reproduced_where_they_name_the_prediction():
    """A second oracle: the exporting tool's own prediction for every row of its dataset,
    wherever its output file names that column as the document's predictedValue output
    (labels equal; numbers to 1e-6 relative: an exporter rounds what it writes, R's nnet
    export by up to 2.3e-7)."""
    checked = []
    for name in DOCS:
        doc = corpus()[name]
        if name in REFUSED | EXPORTER_DISAGREES or doc.expected is None:
            continue
        model = _load(doc)
        declared = [o.name for o in model.schema.outputs if o.feature == "predictedValue"]
        column = next((c for c in declared if c in doc.expected[0]), None)
        if column is None:
            continue
        out = model.score_batch([_typed(model, row) for row in doc.table])
        assert out["error"].isna().all(), name
        want = [row[column] for row in doc.expected]
        if next(c for c in model.schema.columns if c.name == column).numeric:
            assert out[column].tolist() == pytest.approx([float(w) for w in want], rel=1e-6), name
        else:
            assert out[column].astype(str).tolist() == want, name
        checked.append(name)
    assert len(checked) >= 30, checked


def test_a_cox_regression_scored_by_pmml4s_is_flagged_and_jpmml_matches_r():
    """The evaluators disagree on Cox regressions; R's own predictions side with JPMML."""
    doc = corpus()["rattle/CoxRegressionLung"]
    assert doc.expected is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default (JPMML) says nothing
        default = pmmlkit.load(doc.data, verify=False, transpile=False)
    with pytest.warns(UserWarning, match="Cox regressions differently"):
        other = pmmlkit.load(doc.data, backend="pypmml", verify=False, transpile=False)
    rows = [_typed(default, row) for row in doc.table[:20]]
    r_own = [float(row["Predicted_hazard"]) for row in doc.expected[:20]]
    assert default.score_batch(rows)["Predicted_hazard"].tolist() == pytest.approx(r_own, rel=1e-9)
    theirs = other.score_batch(rows)["Predicted_hazard"].tolist()
    assert theirs != pytest.approx(r_own, rel=1e-3)  # PMML4S's numbers, passed on unchanged

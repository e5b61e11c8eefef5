"""The evaluator decides: every cell kind, every input path, against raw JPMML-Evaluator.

A regression reads every one of its inputs on every record, so each record's fate is decided
by the one cell under test. For each data type (double, float, integer, boolean, string, a
string field whose values spell booleans, an interval, a declared missing value, a
categorical integer, a date) and each invalid- and missing-value treatment, dozens of cells
(numbers in every notation Java or Python reads, booleans in every case, NaN and infinity
spellings, spaces, commas, empty) are scored through pmmlkit's paths: a dict, a DataFrame, a
CSV file, a Parquet file, NumPy columns. The oracle is JPMML-Evaluator's own
``Evaluator.evaluate`` on the same cells (``tests._raw``): pmmlkit must refuse exactly the
cells it refuses, and give exactly its numbers for the others.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pmmlkit
from pmmlkit.batch import DEFAULT_NA_VALUES
from tests import _raw

#: field -> (DataField attributes and children, its predictor, a good default cell)
FIELDS: dict[str, tuple[str, str, str]] = {
    "d": ('optype="continuous" dataType="double"', '<NumericPredictor name="d" coefficient="1.5"/>', "0.25"),
    "f": ('optype="continuous" dataType="float"', '<NumericPredictor name="f" coefficient="2.0"/>', "0.1"),
    "i": ('optype="continuous" dataType="integer"', '<NumericPredictor name="i" coefficient="0.5"/>', "3"),
    "b": ('optype="categorical" dataType="boolean"><Value value="false"/><Value value="true"/></DataField',
          '<CategoricalPredictor name="b" value="true" coefficient="4.0"/>', "true"),
    "s": ('optype="categorical" dataType="string"><Value value="red"/><Value value="green"/></DataField',
          '<CategoricalPredictor name="s" value="red" coefficient="8.0"/>', "red"),
    "sb": ('optype="categorical" dataType="string"><Value value="False"/><Value value="True"/></DataField',
           '<CategoricalPredictor name="sb" value="True" coefficient="16.0"/>', "True"),
    "r": ('optype="continuous" dataType="double"><Interval closure="closedOpen" leftMargin="0" rightMargin="10"/></DataField',
          '<NumericPredictor name="r" coefficient="0.125"/>', "5"),
    "m": ('optype="continuous" dataType="double"><Value value="-999" property="missing"/></DataField',
          '<NumericPredictor name="m" coefficient="0.0625"/>', "2"),
    "k": ('optype="categorical" dataType="integer"><Value value="1"/><Value value="2"/><Value value="3"/></DataField',
          '<CategoricalPredictor name="k" value="2" coefficient="32.0"/>', "2"),
    "t": ('optype="continuous" dataType="date"', '<NumericPredictor name="days" coefficient="0.001"/>',
          "2024-01-05"),
}

#: cells tried in every field: numbers in Java's and Python's notations, booleans, markers
CELLS = [
    "1", "1.0", "+1", "-1", "1e0", "1E+1", "1.", ".5", "-.5", "007", "-0", "0", "2", "3.5",
    "2.5e-1", "0.1", "1d", "1f", "0x1p3", " 1", "1 ", " 1.5 ", "1_0", "1,5", "١", "abc", "",
    "NaN", "nan", "NAN", "INF", "-INF", "inf", "Infinity", "-Infinity", "infinity", "1e400",
    "2147483647", "2147483648", "-2147483649", "9007199254740993", "3.4028235e38", "3.5e38",
    "0.1000000000000000055511151231257827", "16777217", "1.00000005960464477539062500001",
    "true", "false", "TRUE", "False", "yes", "red", "green", "Red", " red", "True", "-999",
    "-999.0", "10", "9.999", "2024-01-05", "2024-1-5", "2024-01-05T00:00:00", "NA", "N/A",
]

TREATMENTS = {
    "default": {},
    "as_is": {"invalidValueTreatment": "asIs"},
    "as_missing": {"invalidValueTreatment": "asMissing"},
    "replaced": {"missingValueReplacement": None},  # the field's default cell
    "required": {"missingValueTreatment": "returnInvalid"},
}


def _document(treatment: str, names: tuple[str, ...] = tuple(FIELDS)) -> str:
    chosen = {n: FIELDS[n] for n in names}
    # a field's attributes end with its children and closing tag, or are all there is
    fields = "".join(f'<DataField name="{n}" {attrs}>' if attrs.endswith("</DataField")
                     else f'<DataField name="{n}" {attrs}/>' for n, (attrs, _, _) in chosen.items())
    mining = ""
    for name, (_, _, default) in chosen.items():
        settings = dict(TREATMENTS[treatment])
        if "missingValueReplacement" in settings:
            settings["missingValueReplacement"] = default
        mining += f'<MiningField name="{name}" ' + " ".join(
            f'{k}="{v}"' for k, v in settings.items()) + "/>"
    predictors = "".join(p for _, p, _ in chosen.values())
    days = """<TransformationDictionary><DerivedField name="days" optype="continuous" dataType="integer">
<Apply function="dateDaysSinceYear"><FieldRef field="t"/><Constant dataType="integer">1970</Constant></Apply>
</DerivedField></TransformationDictionary>""" if "t" in chosen else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
<DataDictionary><DataField name="y" optype="continuous" dataType="double"/>{fields}</DataDictionary>
{days}
<RegressionModel functionName="regression"><MiningSchema><MiningField name="y" usageType="target"/>{mining}</MiningSchema>
<RegressionTable intercept="0.5">{predictors}</RegressionTable></RegressionModel></PMML>"""


def _records() -> list[dict[str, str | None]]:
    """One record per (field, cell): the cell there, every other field its default."""
    defaults = {n: default for n, (_, _, default) in FIELDS.items()}
    return [{**defaults, name: cell} for name in FIELDS for cell in CELLS]


RECORDS = _records()


def _oracle(xml: str, records: list[dict[str, Any]]) -> list[float | None]:
    """Raw JPMML-Evaluator's prediction per record: None where it refused or gave none."""
    out: list[float | None] = []
    for result in _raw.jpmml(xml, records):
        value = None if isinstance(result, Exception) else result.get("y")
        out.append(None if value is None or math.isnan(value) else float(value))
    return out


def _file_cells(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What pmmlkit's documented file rules make of a CSV's cells before any evaluator sees
    them: the NA markers are missing; in a field whose values spell booleans (``sb``) a
    cell spelling a boolean in any case takes the field's spelling; in a ``date`` field
    (``t``) a midnight timestamp, as pandas writes one, is its date."""
    markers = set(DEFAULT_NA_VALUES)
    out = []
    for record in records:
        cells: dict[str, Any] = {}
        for name, cell in record.items():
            if cell is None or cell in markers:
                cells[name] = None
            elif name == "sb" and cell.lower() in ("true", "false"):
                cells[name] = cell.lower().capitalize()
            elif name == "t" and re.fullmatch(r"\d{4}-\d\d-\d\d[ T]00:00(:00(\.0+)?)?", cell):
                cells[name] = cell[:10]
            else:
                cells[name] = cell
        out.append(cells)
    return out


def _api_cells(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's rule: "" is missing."""
    return [{k: (None if v == "" else v) for k, v in r.items()} for r in records]


@pytest.fixture(scope="module", params=list(TREATMENTS))
def case(request: pytest.FixtureRequest) -> tuple[str, pmmlkit.Model]:
    xml = _document(request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pmmlkit.load(xml.encode(), verify=False, transpile=False, backend="jpmml")
    return xml, model


def _check(got: list[float | None], want: list[float | None], records: list[dict[str, Any]],
           path: str) -> None:
    wrong = [(records[i], g, w) for i, (g, w) in enumerate(zip(got, want, strict=True))
             if not (g is None and w is None) and not (g is not None and w is not None
                                                        and g == w)]
    assert not wrong, f"{path}: {len(wrong)} records differ from raw JPMML, e.g. {wrong[:5]}"


def _predictions(frame: pd.DataFrame) -> list[float | None]:
    return [None if e is not None or pd.isna(v) else float(v)
            for v, e in zip(frame["y"], frame["error"], strict=True)]


def test_a_dict_of_cells_is_accepted_exactly_where_jpmml_accepts_it(case):
    xml, model = case
    want = _oracle(xml, _api_cells(RECORDS))
    got: list[float | None] = []
    for record in RECORDS:
        try:
            got.append(model.score(record)["y"])
        except pmmlkit.InvalidInputError as exc:
            assert exc.field is None or exc.field in FIELDS, exc
            got.append(None)
    _check(got, want, RECORDS, "score(dict)")
    assert sum(w is None for w in want) > 50 and sum(w is not None for w in want) > 200


def test_a_frame_of_cells_is_scored_as_jpmml_scores_it(case):
    xml, model = case
    want = _oracle(xml, _api_cells(RECORDS))
    frame = pd.DataFrame(RECORDS, dtype=object)
    _check(_predictions(model.score_batch(frame)), want, RECORDS, "score_batch")


def test_a_csv_file_is_scored_as_jpmml_scores_its_cells(case, tmp_path: Path):
    xml, model = case
    want = _oracle(xml, _file_cells(RECORDS))
    source, out, rejects = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "rejects.csv"
    frame = pd.DataFrame(RECORDS)
    frame.insert(0, "id", range(len(frame)))
    frame.to_csv(source, index=False)
    summary = pmmlkit.score_file(model, str(source), str(out), keep=["id"], rejects=str(rejects))
    assert summary.rows_read == len(RECORDS) == summary.rows_scored + summary.rows_rejected
    scored = pd.read_csv(out)
    by_id = dict(zip(scored["id"], scored["y"], strict=True))
    got = [by_id.get(i) for i in range(len(RECORDS))]
    _check([None if g is None or pd.isna(g) else float(g) for g in got], want, RECORDS, "CSV")
    bad = pd.read_csv(rejects, keep_default_na=False)
    assert set(bad["field"]) - {""} <= set(FIELDS)  # every reject names its field


def test_a_parquet_file_of_text_is_scored_as_jpmml_scores_it(case, tmp_path: Path):
    """Parquet text is typed text: no CSV markers, the evaluator reads each string."""
    xml, model = case
    want = _oracle(xml, _api_cells(RECORDS))
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    table = pa.table({"id": list(range(len(RECORDS))),
                      **{n: pa.array([r[n] for r in RECORDS], pa.string()) for n in FIELDS}})
    pq.write_table(table, source)
    pmmlkit.score_file(model, str(source), str(out), keep=["id"])
    scored = pq.read_table(out).to_pandas()
    by_id = dict(zip(scored["id"], scored["y"], strict=True))
    got = [by_id.get(i) for i in range(len(RECORDS))]
    _check([None if g is None or pd.isna(g) else float(g) for g in got], want, RECORDS,
           "Parquet")


#: typed values (what pandas, Parquet, JSON or Spark hand over) per field, the same values
#: given to raw JPMML as the Java types they become (Double, Long, Boolean, String)
TYPED = [1.0, 0.0, 2.0, 3.5, -0.0, 1e300, float("inf"), 2147483648.0, True, False, 1, 2, 0,
         -3, 2**40, "true", "2"]


def test_typed_values_are_scored_as_jpmml_scores_the_same_java_values(case):
    xml, model = case
    defaults = {n: default for n, (_, _, default) in FIELDS.items()}
    records = [{**defaults, name: value} for name in FIELDS for value in TYPED]
    raw = []
    for r in records:
        cell = dict(r)
        for name, value in r.items():
            # pmmlkit's documented reading: a bool for a field spelling booleans is its
            # spelling; a whole float for a non-numeric field is an integer
            if name == "sb" and isinstance(value, bool):
                cell[name] = "True" if value else "False"
            elif name in ("b", "s", "sb", "k", "t") and isinstance(value, float) and \
                    value.is_integer() and abs(value) < 2**63:
                cell[name] = int(value)
        raw.append(cell)
    want = _oracle(xml, raw)
    got: list[float | None] = []
    for record in records:
        try:
            got.append(model.score(record)["y"])
        except pmmlkit.InvalidInputError:
            got.append(None)
    _check(got, want, records, "score(typed dict)")
    frame = pd.DataFrame(records, dtype=object)
    _check(_predictions(model.score_batch(frame)), want, records, "score_batch(typed)")


def test_numpy_bool_int_and_float_columns_are_the_values_they_hold(case):
    """Typed columns (pandas bool, int64 and float64; the forms Parquet and Spark give)
    against raw JPMML given the same Java values."""
    xml, model = case
    n = 6
    defaults = {name: [default] * n for name, (_, _, default) in FIELDS.items()}
    columns: dict[str, Any] = {**defaults,
                               "b": np.array([True, False, True, False, True, False]),
                               "sb": np.array([False, True, True, False, False, True]),
                               "i": np.array([1, 2, -3, 4, 2**31, 0], dtype=np.int64),
                               "d": np.array([0.5, np.nan, -0.0, 2.0, 1e10, 3.0]),
                               "k": np.array([1.0, 2.0, 3.0, 4.0, np.nan, 2.0])}
    frame = pd.DataFrame(columns)
    records = []
    for i in range(n):
        record = {}
        for name in FIELDS:
            value = frame[name].iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and math.isnan(value):
                value = None
            if name == "sb" and isinstance(value, bool):
                value = "True" if value else "False"
            if name == "k" and isinstance(value, float):
                value = int(value)
            record[name] = value
        records.append(record)
    want = _oracle(xml, records)
    _check(_predictions(model.score_batch(frame)), want, records, "typed columns")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _check(_predictions(model.score_batch(table)), want, records, "Arrow table")


def _bits(x: float) -> bytes:
    return np.float64(x).tobytes()


def test_the_fast_reader_of_numeric_text_equals_javas_own():
    """pmmlkit reads plain decimal text in one vectorised step; on every cell it reads, the
    value the evaluator takes is its own reading of the text (``TypeUtil.parse``), to the
    bit, and every cell it does not read goes to the evaluator as text."""
    from pmmlkit.scorer.arrow import numeric_text
    from pmmlkit.scorer.backends import _jvm

    jpype = _jvm.ensure_jvm()
    inputs = jpype.JClass("pmmlkit.bridge.Inputs")
    rng = np.random.default_rng(7)
    texts = list(CELLS) + [repr(float(x)) for x in rng.normal(0, 1e6, 2000)] + [
        f"{x:.9g}" for x in rng.normal(0, 1, 2000)] + [
        f"{x:.17e}" for x in rng.lognormal(0, 40, 500)] + [
        # doubles exactly halfway between two floats, and their neighbours
        repr((float(np.float32(x)) + float(np.nextafter(np.float32(x), np.float32(np.inf)))) / 2)
        for x in rng.normal(0, 1, 200)]
    for data_type in ("double", "float", "integer"):
        column = numeric_text(pa.array(texts, pa.string()), data_type)
        parsed = inputs.parseAll(data_type, texts)
        read = 0
        for k, text in enumerate(texts):
            if column.codes is not None and column.codes[k] >= 0:
                assert column.values[column.codes[k]] == text  # handed over as it is
                continue
            number = float(column.numbers[k])
            if text == "":  # missing, by pmmlkit's reading rule
                assert math.isnan(number)
                continue
            java = parsed[k]
            assert java is not None and not math.isnan(number), (data_type, text, number)
            read += 1
            if data_type == "double":
                assert _bits(number) == _bits(float(java.doubleValue())), (text, number, java)
            elif data_type == "float":  # the evaluator narrows the double: the same float
                assert _bits(float(np.float32(number))) == _bits(float(java.floatValue())), (
                    text, number, java)
            else:
                assert number == int(java.intValue()), (text, number, java)
        assert read > (4000 if data_type != "integer" else 10), (data_type, read)


@pytest.mark.parametrize("treatment", ["default", "as_is", "replaced", "required"])
def test_pmml4s_takes_exactly_the_values_jpmmls_rules_take(treatment):
    """PMML4S alone reads a bad number as missing and scores it; behind pmmlkit its inputs
    follow JPMML-Evaluator's rules, so the fallback evaluator refuses what JPMML refuses.
    (What a model makes of a missing value is each evaluator's own: PMML4S gives
    -4.6e18 for a missing integer here, and nothing for a missing integer category, where
    JPMML gives nothing and a number; so missing cells are left out.)"""
    names = tuple(n for n in FIELDS if n != "t")  # PMML4S has no dateDaysSinceYear
    xml = _document(treatment, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pmmlkit.load(xml.encode(), verify=False, backend="pypmml")
    markers = {"", "-999", "-999.0"}
    records = [{n: r[n] for n in names} for r in RECORDS
               if r["t"] == "2024-01-05" and not markers & set(r.values())]
    want = _oracle(xml, _api_cells(records))
    got = _predictions(model.score_batch(pd.DataFrame(records, dtype=object)))
    refused = [(r, g, w) for r, g, w in zip(records, got, want, strict=True)
               if (g is None) != (w is None)]
    assert not refused, refused[:5]
    worst = max(abs(g - w) / max(1.0, abs(w)) for g, w in zip(got, want, strict=True)
                if g is not None and w is not None)
    assert worst < 1e-9

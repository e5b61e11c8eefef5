"""The columnar plan (``pmmlkit.bridge.Plan``): every number it computes is JPMML-Evaluator's.

The oracle is the raw evaluator (``tests/_raw.py``: ``Evaluator.evaluate`` per record, no
pmmlkit code) compared bit for bit, and the native scikit-learn model. Each model first
scores enough plain rows for the plan to pass its gate (it serves only after reproducing the
evaluator on real rows); then the rows under test, which the serving plan computes or defers:
values on thresholds, float rounding boundaries, signed zeros, missing values, unknown
categories, values that overflow a float.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import pmmlkit
from pmmlkit.datasets import FEATURES
from tests import _raw


def _same(a, b) -> bool:
    """Equal to the last bit (a signed zero is not the other zero), or both missing."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return fa == fb and math.copysign(1.0, fa) == math.copysign(1.0, fb)
    return a == b


def _value(x):
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    return x.item() if hasattr(x, "item") else x


def _check_against_raw(model: pmmlkit.Model, xml: str, rows: pd.DataFrame) -> int:
    """Score ``rows`` through pmmlkit and through the raw evaluator; every output and every
    refusal must agree. Returns how many rows the evaluator scored."""
    records = [{k: _value(v) for k, v in r.items()} for r in rows.to_dict("records")]
    expected = _raw.jpmml(xml, records)
    got = model.score_batch(rows)
    scored = 0
    for i, want in enumerate(expected):
        # pmmlkit's contract: a row the evaluator gives no prediction for is an error
        if isinstance(want, Exception) or any(want.get(c.key) is None for c in
                                              model.schema.columns if c.kind == "target"):
            assert got["error"][i] is not None, (i, records[i], want)
            continue
        assert got["error"][i] is None, (i, records[i], got["error"][i])
        scored += 1
        for column in model.schema.columns:
            key = column.name if column.kind == "probability" else column.key
            mine = _value(got[column.name][i])
            theirs = want.get(key)
            if isinstance(theirs, int) and not isinstance(theirs, bool) and mine is not None:
                mine = int(mine)
            assert _same(mine, theirs), (i, records[i], column.name, mine, theirs)
    return scored


def _serve(model: pmmlkit.Model, warm: pd.DataFrame) -> None:
    assert model.plan.startswith("pending:"), model.plan
    for _ in range(3):  # the gate counts only rows the plan computes (512 of them)
        model.score_batch(warm)
    assert model.plan.startswith("serving:"), model.plan


# -- exported pipelines ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["logreg", "gbm", "linreg", "tree", "forest"])
def test_exported_pipeline_plan_equals_evaluator_and_native(exported, holdout, name):
    item = exported[name]
    xml = item.path.read_text()
    model = pmmlkit.load(item.path)
    rows = holdout[FEATURES].reset_index(drop=True)
    _serve(model, rows)
    assert _check_against_raw(model, xml, rows) == len(rows)
    native = item.native(rows)
    got = model.score_batch(rows)
    for column in native:
        assert np.allclose(got[column].to_numpy(float), native[column], rtol=0, atol=1e-12)


def test_exported_pipeline_edge_rows_are_the_evaluators(exported, holdout):
    """Missing values, unknown categories and extreme numbers: the plan defers each such row
    to the evaluator, whose answer (or refusal) is what pmmlkit gives."""
    item = exported["gbm"]
    model = pmmlkit.load(item.path)
    rows = holdout[FEATURES].reset_index(drop=True)
    _serve(model, rows)
    edge = rows.iloc[:8].copy().astype(object)
    edge.loc[0, "x0"] = None
    edge.loc[1, "color"] = None
    edge.loc[2, "color"] = "purple"
    edge.loc[3, "x1"] = 1e308
    edge.loc[4, "x2"] = -0.0
    edge.loc[5, "x3"] = 0.0
    edge.loc[6, "size"] = "M "
    scored = _check_against_raw(model, item.path.read_text(), edge)
    assert 0 < scored < len(edge)


# -- hand-written documents -----------------------------------------------------------------
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="y" optype="{y_optype}" dataType="{y_type}">{y_values}</DataField>
    <DataField name="a" optype="continuous" dataType="double"/>
    <DataField name="b" optype="continuous" dataType="double"/>
    <DataField name="c" optype="categorical" dataType="string">
      <Value value="red"/><Value value="green"/><Value value="blue"/>
    </DataField>
  </DataDictionary>
"""
TAIL = "</PMML>"
SCHEMA = """<MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/>
  <MiningField name="b"/><MiningField name="c"/></MiningSchema>"""

#: a float derived field, a NormDiscrete indicator, each comparison operator, categorical
#: (not) equal, both no-true-child strategies, Targets rescaling with min/max, an average of
#: trees
TREES = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <MiningModel functionName="regression">
    {SCHEMA}
    <Targets><Target field="y" min="-5" max="50" rescaleFactor="0.5" rescaleConstant="0.25"/></Targets>
    <LocalTransformations>
      <DerivedField name="af" optype="continuous" dataType="float">
        <Apply function="/"><Apply function="-"><FieldRef field="a"/><Constant dataType="double">0.1</Constant></Apply>
        <Constant dataType="double">3.0</Constant></Apply>
      </DerivedField>
      <DerivedField name="isRed" optype="continuous" dataType="double">
        <NormDiscrete field="c" value="red"/>
      </DerivedField>
      <DerivedField name="ab" optype="continuous" dataType="double">
        <Apply function="*"><FieldRef field="a"/><FieldRef field="b"/></Apply>
      </DerivedField>
    </LocalTransformations>
    <Segmentation multipleModelMethod="average">
      <Segment id="1"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="af"/><MiningField name="c"/><MiningField name="b"/></MiningSchema>
          <Node score="1.5"><True/>
            <Node score="2.25"><SimplePredicate field="af" operator="lessOrEqual" value="0.3"/>
              <Node score="-4.0"><SimplePredicate field="c" operator="equal" value="red"/></Node>
              <Node score="8.125"><SimplePredicate field="b" operator="greaterThan" value="0"/></Node>
            </Node>
            <Node score="3.0"><SimplePredicate field="c" operator="notEqual" value="blue"/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="2"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnNullPrediction">
          <MiningSchema><MiningField name="ab"/><MiningField name="b"/></MiningSchema>
          <Node score="0.5"><True/>
            <Node score="10.0"><SimplePredicate field="ab" operator="lessThan" value="-1.5"/></Node>
            <Node score="20.0"><SimplePredicate field="b" operator="greaterOrEqual" value="-0.0"/>
              <Node score="30.0"><SimplePredicate field="b" operator="equal" value="2.5"/></Node>
              <Node score="40.0"><SimplePredicate field="b" operator="notEqual" value="7"/></Node>
            </Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="3"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="a"/><MiningField name="isRed"/></MiningSchema>
          <Node score="100"><True/>
            <Node score="0.1"><SimplePredicate field="a" operator="greaterThan" value="1e300"/></Node>
            <Node score="0.7"><SimplePredicate field="isRed" operator="greaterThan" value="0.5"/></Node>
            <Node score="-0.1"><False/></Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL

#: a three-class softmax with categorical predictors, one probability declared float
SOFTMAX = HEAD.format(y_optype="categorical", y_type="string",
                      y_values='<Value value="p"/><Value value="q"/><Value value="r"/>') + f"""
  <RegressionModel functionName="classification" normalizationMethod="softmax">
    {SCHEMA}
    <Output>
      <OutputField name="P(p)" optype="continuous" dataType="double" feature="probability" value="p"/>
      <OutputField name="P(q)" optype="continuous" dataType="float" feature="probability" value="q"/>
      <OutputField name="P(r)" optype="continuous" dataType="double" feature="probability" value="r"/>
    </Output>
    <RegressionTable intercept="0.3" targetCategory="p">
      <NumericPredictor name="a" coefficient="1.25"/><NumericPredictor name="b" coefficient="-0.5"/>
      <CategoricalPredictor name="c" value="red" coefficient="0.7"/>
      <CategoricalPredictor name="c" value="blue" coefficient="-0.2"/>
    </RegressionTable>
    <RegressionTable intercept="-0.1" targetCategory="q">
      <NumericPredictor name="b" coefficient="2.0"/>
      <CategoricalPredictor name="c" value="green" coefficient="1.1"/>
    </RegressionTable>
    <RegressionTable intercept="0" targetCategory="r"/>
  </RegressionModel>
""" + TAIL

#: binomial without normalization (clipped to [0, 1]) and a log-link regression
BINOMIAL = HEAD.format(y_optype="categorical", y_type="integer",
                       y_values='<Value value="1"/><Value value="0"/>') + f"""
  <RegressionModel functionName="classification" normalizationMethod="none">
    {SCHEMA}
    <Output>
      <OutputField name="probability(1)" optype="continuous" dataType="double" feature="probability" value="1"/>
      <OutputField name="probability(0)" optype="continuous" dataType="double" feature="probability" value="0"/>
    </Output>
    <RegressionTable intercept="0.5" targetCategory="1">
      <NumericPredictor name="a" coefficient="0.1"/>
      <CategoricalPredictor name="c" value="green" coefficient="-0.25"/>
    </RegressionTable>
    <RegressionTable intercept="0" targetCategory="0"/>
  </RegressionModel>
""" + TAIL

EXP = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression" normalizationMethod="exp">
    {SCHEMA}
    <RegressionTable intercept="-0.75">
      <NumericPredictor name="a" coefficient="0.01"/><NumericPredictor name="b" coefficient="0.02"/>
      <CategoricalPredictor name="c" value="red" coefficient="0.5"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL


#: Targets castInteger of a linear regression whose values land on halves (round is half up,
#: -0.5 rounds to 0), in double and in float
CAST = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression"{{context}}>
    {SCHEMA}
    <Targets><Target field="y" rescaleFactor="2" rescaleConstant="-0.25" castInteger="{{cast}}"/></Targets>
    <RegressionTable intercept="0.125">
      <NumericPredictor name="a" coefficient="0.25"/><NumericPredictor name="b" coefficient="0.125"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL
CAST_ROUND = CAST.format(context="", cast="round")
CAST_CEILING = CAST.format(context="", cast="ceiling")
CAST_FLOOR = CAST.format(context="", cast="floor")
CAST_ROUND_FLOAT = CAST.format(context=' mathContext="float"', cast="round")


#: output fields made by expressions of the ones before them (as an IsolationForest's): a
#: quotient, a logarithm (of a negative value too), a decision flag, a label chosen by it,
#: an integer by rounding
OUTPUTS = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression">
    {SCHEMA}
    <Output>
      <OutputField name="raw" optype="continuous" dataType="double" isFinalResult="false"/>
      <OutputField name="half" optype="continuous" dataType="double" feature="transformedValue">
        <Apply function="/"><FieldRef field="raw"/><Constant dataType="integer">2</Constant></Apply>
      </OutputField>
      <OutputField name="logged" optype="continuous" dataType="float" feature="transformedValue">
        <Apply function="ln"><FieldRef field="half"/></Apply>
      </OutputField>
      <OutputField name="high" optype="categorical" dataType="boolean" feature="decision">
        <Apply function="greaterThan"><FieldRef field="half"/><Constant dataType="double">0.5</Constant></Apply>
      </OutputField>
      <OutputField name="band" optype="categorical" dataType="string" feature="transformedValue">
        <Apply function="if"><FieldRef field="high"/><Constant>upper</Constant><Constant>lower</Constant></Apply>
      </OutputField>
      <OutputField name="rounded" optype="continuous" dataType="integer" feature="transformedValue">
        <Apply function="round"><Apply function="*"><FieldRef field="raw"/><Constant dataType="double">10</Constant></Apply></Apply>
      </OutputField>
    </Output>
    <RegressionTable intercept="0.125">
      <NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" coefficient="0.25"/>
      <CategoricalPredictor name="c" value="red" coefficient="0.5"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL


#: derived fields the columnar steps do not cover, computed per row by JPMML's ExpressionUtil:
#: an if of a comparison, a test of a category, min/max/abs/exp, an integer by rounding, and
#: a product of such a field with an input (a columnar step over a row-wise one)
ROWWISE = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression">
    {SCHEMA}
    <LocalTransformations>
      <DerivedField name="clipped" optype="continuous" dataType="double">
        <Apply function="if"><Apply function="greaterThan"><FieldRef field="a"/><Constant>0.75</Constant></Apply>
          <Apply function="min"><FieldRef field="a"/><Constant>1.5</Constant></Apply>
          <Apply function="abs"><FieldRef field="b"/></Apply></Apply>
      </DerivedField>
      <DerivedField name="redness" optype="continuous" dataType="float">
        <Apply function="if"><Apply function="equal"><FieldRef field="c"/><Constant>red</Constant></Apply>
          <Apply function="exp"><FieldRef field="b"/></Apply><Constant dataType="double">-0.5</Constant></Apply>
      </DerivedField>
      <DerivedField name="steps" optype="continuous" dataType="integer">
        <Apply function="round"><Apply function="max"><FieldRef field="a"/><FieldRef field="b"/></Apply></Apply>
      </DerivedField>
      <DerivedField name="scaled" optype="continuous" dataType="double">
        <Apply function="*"><FieldRef field="clipped"/><FieldRef field="b"/></Apply>
      </DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0.125">
      <NumericPredictor name="scaled" coefficient="0.5"/><NumericPredictor name="redness" coefficient="0.25"/>
      <NumericPredictor name="steps" coefficient="1.5"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL


#: selectFirst: each row takes the first segment whose predicate holds (a category, a set of
#: them, a number's comparison on the documents' boundary values, then True); a row whose
#: first tests meet a missing value is the evaluator's
SELECT_FIRST = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <MiningModel functionName="regression">
    {SCHEMA}
    <Segmentation multipleModelMethod="selectFirst">
      <Segment id="red"><SimplePredicate field="c" operator="equal" value="red"/>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/></MiningSchema>
          <RegressionTable intercept="0.5"><NumericPredictor name="a" coefficient="2"/></RegressionTable>
        </RegressionModel>
      </Segment>
      <Segment id="high"><SimplePredicate field="a" operator="greaterOrEqual" value="0.75"/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="b"/></MiningSchema>
          <Node score="1.25"><True/>
            <Node score="-3"><SimplePredicate field="b" operator="lessThan" value="2.5"/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="green"><SimpleSetPredicate field="c" booleanOperator="isIn">
          <Array type="string" n="1">green</Array></SimpleSetPredicate>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="b"/></MiningSchema>
          <RegressionTable intercept="-0.25"><NumericPredictor name="b" coefficient="0.125"/></RegressionTable>
        </RegressionModel>
      </Segment>
      <Segment id="rest"><True/>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <RegressionTable intercept="7"><NumericPredictor name="a" coefficient="-1"/>
            <NumericPredictor name="b" coefficient="0.5"/></RegressionTable>
        </RegressionModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL


def _network(function: str, layers: str, outputs: str, extra: str = "") -> str:
    """A NeuralNetwork on a, b and red (NormDiscrete), with ``layers`` and ``outputs``."""
    return f"""
  <NeuralNetwork functionName="{function}" activationFunction="tanh"{extra}>
    {SCHEMA}
    <NeuralInputs>
      <NeuralInput id="in/a"><DerivedField optype="continuous" dataType="double"><FieldRef field="a"/></DerivedField></NeuralInput>
      <NeuralInput id="in/b"><DerivedField optype="continuous" dataType="float"><FieldRef field="b"/></DerivedField></NeuralInput>
      <NeuralInput id="in/red"><DerivedField optype="continuous" dataType="double"><NormDiscrete field="c" value="red"/></DerivedField></NeuralInput>
    </NeuralInputs>
    {layers}
    <NeuralOutputs>{outputs}</NeuralOutputs>
  </NeuralNetwork>
"""


_HIDDEN = """
    <NeuralLayer>
      <Neuron id="h/1" bias="0.25"><Con from="in/a" weight="0.75"/><Con from="in/b" weight="-1.5"/></Neuron>
      <Neuron id="h/2"><Con from="in/a" weight="-0.3"/><Con from="in/red" weight="2"/></Neuron>
    </NeuralLayer>
    <NeuralLayer activationFunction="rectifier">
      <Neuron id="r/1" bias="-0.1"><Con from="h/1" weight="1.1"/><Con from="h/2" weight="0.9"/></Neuron>
      <Neuron id="r/2" bias="0.2"><Con from="h/1" weight="-0.7"/><Con from="in/b" weight="0.125"/></Neuron>
    </NeuralLayer>"""

#: a regression network: tanh (the network's), rectifier and identity layers, a neuron without
#: a bias, a float input, Targets rescaling
NEURAL = HEAD.format(y_optype="continuous", y_type="double", y_values="") + _network(
    "regression", _HIDDEN + """
    <NeuralLayer activationFunction="identity">
      <Neuron id="out" bias="0.5"><Con from="r/1" weight="1.5"/><Con from="r/2" weight="-2"/></Neuron>
    </NeuralLayer>""", """
      <NeuralOutput outputNeuron="out"><DerivedField optype="continuous" dataType="double">
        <FieldRef field="y"/></DerivedField></NeuralOutput>""").replace(
    "<NeuralInputs>", '<Targets><Target field="y" rescaleFactor="3" rescaleConstant="-1"/></Targets>\n'
    "    <NeuralInputs>") + TAIL

#: a three-class network whose output layer is logistic with simplemax normalization
NEURAL_CLASSES = HEAD.format(y_optype="categorical", y_type="string",
                             y_values='<Value value="p"/><Value value="q"/><Value value="r"/>') + _network(
    "classification", _HIDDEN + """
    <NeuralLayer activationFunction="logistic" normalizationMethod="simplemax">
      <Neuron id="o/p"><Con from="r/1" weight="1.5"/></Neuron>
      <Neuron id="o/q" bias="0.1"><Con from="r/2" weight="-2"/><Con from="h/2" weight="0.5"/></Neuron>
      <Neuron id="o/r" bias="-0.3"><Con from="r/1" weight="0.25"/></Neuron>
    </NeuralLayer>""", """
      <NeuralOutput outputNeuron="o/p"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="y" value="p"/></DerivedField></NeuralOutput>
      <NeuralOutput outputNeuron="o/q"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="y" value="q"/></DerivedField></NeuralOutput>
      <NeuralOutput outputNeuron="o/r"><DerivedField optype="categorical" dataType="string">
        <NormDiscrete field="y" value="r"/></DerivedField></NeuralOutput>""").replace(
    "<NeuralInputs>", """<Output>
      <OutputField name="P(p)" optype="continuous" dataType="double" feature="probability" value="p"/>
      <OutputField name="P(q)" optype="continuous" dataType="double" feature="probability" value="q"/>
      <OutputField name="P(r)" optype="continuous" dataType="double" feature="probability" value="r"/>
    </Output>
    <NeuralInputs>""") + TAIL


#: DataFields with Intervals: a value strictly inside one is computed; outside, or on a margin
#: (each closure), it is the evaluator's to refuse or take as it is
DOMAIN = HEAD.replace(
    '<DataField name="a" optype="continuous" dataType="double"/>',
    '<DataField name="a" optype="continuous" dataType="double">'
    '<Interval closure="closedOpen" leftMargin="-3" rightMargin="0.75"/>'
    '<Interval closure="openClosed" leftMargin="1" rightMargin="1.5"/>'
    '<Interval closure="closedClosed" leftMargin="1e300"/></DataField>').replace(
    '<DataField name="b" optype="continuous" dataType="double"/>',
    '<DataField name="b" optype="continuous" dataType="float">'
    '<Interval closure="openOpen" leftMargin="-1.5" rightMargin="7"/></DataField>').format(
    y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression">
    {SCHEMA.replace('<MiningField name="b"/>', '<MiningField name="b" invalidValueTreatment="asIs"/>')}
    <RegressionTable intercept="0.125">
      <NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" coefficient="0.25"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL


#: an average of classification trees whose distributions tie exactly (0.5 / 0.5) where
#: a <= 0 and b > 4: the evaluator's winner is the first maximum in ScoreDistribution order
#: ("1" first, not the target's declared order); leaves by record counts and by
#: probabilities; a leaf without a distribution, which the evaluator refuses in an average
#: (the plan defers it); a tree's own prediction is its node's score
TIES = HEAD.format(y_optype="categorical", y_type="integer",
                   y_values='<Value value="0"/><Value value="1"/>') + f"""
  <MiningModel functionName="classification">
    {SCHEMA}
    <Output>
      <OutputField name="probability(0)" optype="continuous" dataType="double" feature="probability" value="0"/>
      <OutputField name="probability(1)" optype="continuous" dataType="double" feature="probability" value="1"/>
    </Output>
    <Segmentation multipleModelMethod="average">
      <Segment id="1"><True/>
        <TreeModel functionName="classification">
          <MiningSchema><MiningField name="a"/><MiningField name="c"/></MiningSchema>
          <Node><True/>
            <Node score="0"><SimplePredicate field="a" operator="lessOrEqual" value="0"/>
              <ScoreDistribution value="1" recordCount="0"/><ScoreDistribution value="0" recordCount="3"/>
            </Node>
            <Node score="0"><SimplePredicate field="c" operator="equal" value="red"/>
              <ScoreDistribution value="1" recordCount="1"/><ScoreDistribution value="0" recordCount="2"/>
            </Node>
            <Node score="1"><True/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="2"><True/>
        <TreeModel functionName="classification" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="b"/></MiningSchema>
          <Node score="0"><True/>
            <ScoreDistribution value="1" probability="0.25"/><ScoreDistribution value="0" probability="0.75"/>
            <Node score="1"><SimplePredicate field="b" operator="lessOrEqual" value="1"/>
              <ScoreDistribution value="1" recordCount="0.7"/><ScoreDistribution value="0" recordCount="0.1"/>
            </Node>
            <Node score="1"><SimplePredicate field="b" operator="greaterThan" value="4"/>
              <ScoreDistribution value="1" probability="1"/><ScoreDistribution value="0" probability="0"/>
            </Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL


#: weighted segments (Spark's GBT) and set predicates (Spark's categorical splits)
WEIGHTED = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <MiningModel functionName="regression">
    {SCHEMA}
    <Segmentation multipleModelMethod="weightedAverage">
      <Segment id="1" weight="0.3"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="a"/><MiningField name="c"/></MiningSchema>
          <Node score="1.1"><True/>
            <Node score="2.2"><SimpleSetPredicate field="c" booleanOperator="isIn">
              <Array type="string" n="2">red "blue"</Array></SimpleSetPredicate>
              <Node score="3.3"><SimplePredicate field="a" operator="lessThan" value="0.5"/></Node>
            </Node>
            <Node score="4.4"><SimpleSetPredicate field="c" booleanOperator="isNotIn">
              <Array type="string" n="1">blue</Array></SimpleSetPredicate></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="2" weight="1"><True/>
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="b"/></MiningSchema>
          <Node score="0.7"><True/>
            <Node score="-0.35"><SimplePredicate field="b" operator="lessOrEqual" value="1"/></Node>
            <Node score="0.35"><True/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="3" weight="2.5"><True/>
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="a"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="0.1"><SimplePredicate field="a" operator="greaterThan" value="-0.25"/></Node>
            <Node score="0.3"><True/></Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL
WEIGHTED_SUM = WEIGHTED.replace('multipleModelMethod="weightedAverage"', 'multipleModelMethod="weightedSum"')

#: trees as each converter writes them, walked level by level: binary splits whose second
#: child is True (sklearn2pmml), complementary pairs (JPMML-SparkML), chains of single tests
#: under returnLastPrediction (XGBoost, LightGBM), set predicates; thresholds on both zeros
#: (the evaluator holds no negative zero: -0 in a document or a row is 0); and a tree of
#: equality tests, walked node by node
BRANCHES = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <MiningModel functionName="regression">
    {SCHEMA}
    <Segmentation multipleModelMethod="sum">
      <Segment id="binary"><True/>
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/></MiningSchema>
          <Node><True/>
            <Node><SimplePredicate field="a" operator="lessOrEqual" value="0"/>
              <Node score="1"><SimpleSetPredicate field="c" booleanOperator="isIn">
                <Array type="string" n="2">red blue</Array></SimpleSetPredicate></Node>
              <Node score="2"><True/></Node>
            </Node>
            <Node><True/>
              <Node score="3"><SimplePredicate field="b" operator="greaterThan" value="0.0"/></Node>
              <Node score="4"><True/></Node>
            </Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="pairs"><True/>
        <TreeModel functionName="regression">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="5"><SimplePredicate field="b" operator="lessThan" value="-0.0"/>
              <Node score="6"><SimplePredicate field="a" operator="greaterOrEqual" value="1.5"/></Node>
              <Node score="7"><SimplePredicate field="a" operator="lessThan" value="1.5"/></Node>
            </Node>
            <Node score="8"><SimplePredicate field="b" operator="greaterOrEqual" value="-0.0"/>
              <Node score="9"><SimpleSetPredicate field="c" booleanOperator="isNotIn">
                <Array type="string" n="1">green</Array></SimpleSetPredicate></Node>
              <Node score="10"><SimpleSetPredicate field="c" booleanOperator="isIn">
                <Array type="string" n="1">green</Array></SimpleSetPredicate></Node>
            </Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="chain"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/></MiningSchema>
          <Node score="0.25"><True/>
            <Node score="0.5"><SimplePredicate field="a" operator="lessThan" value="0.75"/>
              <Node score="0.125"><SimplePredicate field="b" operator="lessThan" value="2.5"/>
                <Node score="-1.0"><SimplePredicate field="c" operator="notEqual" value="red"/></Node>
              </Node>
              <Node score="2.0"><SimplePredicate field="c" operator="equal" value="blue"/></Node>
            </Node>
            <Node score="-0.5"><SimplePredicate field="b" operator="greaterThan" value="7"/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="zeros"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <Node score="0"><True/>
            <Node score="1"><SimplePredicate field="a" operator="lessOrEqual" value="-0.0"/></Node>
            <Node score="2"><SimplePredicate field="a" operator="lessThan" value="0.0"/></Node>
            <Node score="3"><SimplePredicate field="b" operator="greaterThan" value="-0.0"/></Node>
            <Node score="4"><SimplePredicate field="b" operator="greaterOrEqual" value="0.0"/></Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="equality"><True/>
        <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/></MiningSchema>
          <Node score="0.5"><True/>
            <Node score="5"><SimplePredicate field="b" operator="equal" value="-0.0"/></Node>
            <Node score="6"><SimplePredicate field="a" operator="notEqual" value="0"/></Node>
          </Node>
        </TreeModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL

#: a missing number at a test, as each missingValueStrategy has it: the default child (its
#: predicate not evaluated; a later sibling, or one holding its own default), no
#: prediction, the node's own; carried through a derived field (a missing argument makes a
#: missing product)
MISSING_DEFAULT = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <TreeModel functionName="regression" missingValueStrategy="defaultChild"
             noTrueChildStrategy="returnLastPrediction">
    {SCHEMA}
    <LocalTransformations>
      <DerivedField name="ab" optype="continuous" dataType="double">
        <Apply function="*"><FieldRef field="a"/><FieldRef field="b"/></Apply>
      </DerivedField>
    </LocalTransformations>
    <Node id="0" score="0.5" defaultChild="2"><True/>
      <Node id="1" score="1" defaultChild="4"><SimplePredicate field="a" operator="lessThan" value="0.75"/>
        <Node id="3" score="3"><SimplePredicate field="b" operator="lessOrEqual" value="1"/></Node>
        <Node id="4" score="4"><SimplePredicate field="ab" operator="greaterThan" value="1"/></Node>
      </Node>
      <Node id="2" score="2" defaultChild="5"><SimplePredicate field="b" operator="greaterThan" value="2.5"/>
        <Node id="5" score="5"><SimplePredicate field="a" operator="lessThan" value="-1"/></Node>
        <Node id="6" score="6"><True/></Node>
      </Node>
    </Node>
  </TreeModel>
""" + TAIL
MISSING_NULL = MISSING_DEFAULT.replace('missingValueStrategy="defaultChild"',
                                       'missingValueStrategy="nullPrediction"')
MISSING_LAST = MISSING_DEFAULT.replace('missingValueStrategy="defaultChild"',
                                       'missingValueStrategy="lastPrediction"')

#: the same documents computed in 32-bit floats, as XGBoost's are (x-mathContext="float"):
#: each model value rounded to float and each operation in float
TREES_FLOAT = TREES.replace('<MiningModel functionName="regression">',
                            '<MiningModel functionName="regression" x-mathContext="float">').replace(
    '<TreeModel functionName="regression"', '<TreeModel x-mathContext="float" functionName="regression"')
SOFTMAX_FLOAT = SOFTMAX.replace('normalizationMethod="softmax"',
                                'normalizationMethod="softmax" x-mathContext="float"')
LOGIT_FLOAT = BINOMIAL.replace('normalizationMethod="none"',
                               'normalizationMethod="logit" x-mathContext="float"')
BRANCHES_FLOAT = BRANCHES.replace('<MiningModel functionName="regression">',
                                  '<MiningModel functionName="regression" x-mathContext="float">').replace(
    '<TreeModel functionName="regression"', '<TreeModel x-mathContext="float" functionName="regression"')
TIES_FLOAT = TIES.replace('<MiningModel functionName="classification">',
                          '<MiningModel functionName="classification" x-mathContext="float">').replace(
    '<TreeModel functionName="classification"', '<TreeModel x-mathContext="float" functionName="classification"')


def _warm_rows(n: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(0, 2, n), "b": rng.normal(1, 3, n),
                         "c": rng.choice(["red", "green", "blue"], n)})


def _boundaries() -> pd.DataFrame:
    """Rows on every threshold of the documents, and around them to the last bit."""
    import struct

    def next_up(x: float) -> float:
        return math.nextafter(x, math.inf)

    # a = 3 * af + 0.1: af lands on, below and above the float threshold 0.3f
    f03 = struct.unpack("f", struct.pack("f", 0.3))[0]
    a_values = [0.1 + 3 * f03, math.nextafter(0.1 + 3 * f03, -math.inf), next_up(0.1 + 3 * f03),
                1.0, 1e300, next_up(1e300), 1e39 * 3, -0.0, 0.0, 0.1, 5e-324, -5e-324, 0.75,
                math.nextafter(0.75, 0), 1.5, math.nextafter(1.5, 2)]
    # ab = a * b on -1.5; b on -0.0, 0.0, 2.5, 7 and their neighbours
    b_values = [-0.0, 0.0, 2.5, next_up(2.5), 7.0, math.nextafter(7.0, 0), -1.5, 1.0]
    rows = [{"a": a, "b": b, "c": c} for a in a_values for b in b_values
            for c in ("red", "blue", "green")]
    rows += [{"a": -1.5, "b": 1.0, "c": "red"}, {"a": 1.0, "b": -1.5, "c": "green"},
             {"a": None, "b": 1.0, "c": "red"}, {"a": 1.0, "b": None, "c": "red"},
             {"a": 1.0, "b": 1.0, "c": None}, {"a": 1.0, "b": 1.0, "c": "purple"},
             {"a": 1.0, "b": 1.0, "c": "Red"}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", ["TREES", "SOFTMAX", "BINOMIAL", "EXP", "TIES", "TREES_FLOAT",
                                  "SOFTMAX_FLOAT", "LOGIT_FLOAT", "TIES_FLOAT", "WEIGHTED",
                                  "WEIGHTED_SUM", "BRANCHES", "BRANCHES_FLOAT", "MISSING_DEFAULT",
                                  "MISSING_NULL", "MISSING_LAST", "NORMS", "VOTES",
                                  "TIED_VOTES", "CAST_ROUND", "CAST_CEILING", "CAST_FLOOR",
                                  "CAST_ROUND_FLOAT", "OUTPUTS", "ROWWISE",
                                  "SELECT_FIRST", "NEURAL", "NEURAL_CLASSES", "DOMAIN"])
def test_hand_written_documents_bit_for_bit(tmp_path, name):
    xml = globals()[name]
    path = tmp_path / f"{name}.pmml"
    path.write_text(xml)
    model = pmmlkit.load(path)
    warm = _warm_rows()
    _serve(model, warm)
    # (the second tree of TREES gives no prediction where no child holds: about a quarter)
    assert _check_against_raw(model, xml, warm.iloc[:250]) > 125
    edge = _boundaries()
    scored = _check_against_raw(model, xml, edge)
    assert scored > len(edge) // 3
    # and the plan computed most of them itself (the rest it deferred to the evaluator)
    assert _computed_by_plan(model, edge) > len(edge) // 3
    if name.startswith("BRANCHES"):
        assert "4 of 5 trees walked level by level" in model.plan, model.plan


#: what the top model's MiningFields and the encoders' derived fields do to inputs before
#: any model sees them: a missing number replaced (sklearn2pmml's SimpleImputer), a missing
#: category replaced and an invalid one taken as it is, a float DataField (XGBoost's
#: documents), isMissing / isNotMissing indicators, ordinal and target encodings by MapValues
#: (one with a defaultValue, one whose unmatched category is missing) read as float and double
PREPARED = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="y" optype="continuous" dataType="double"/>
    <DataField name="a" optype="continuous" dataType="double"/>
    <DataField name="b" optype="continuous" dataType="float"/>
    <DataField name="c" optype="categorical" dataType="string">
      <Value value="red"/><Value value="green"/><Value value="blue"/>
    </DataField>
  </DataDictionary>
  <MiningModel functionName="regression">
    <MiningSchema><MiningField name="y" usageType="target"/>
      <MiningField name="a" missingValueReplacement="-0.0371" missingValueTreatment="asMean"/>
      <MiningField name="b"/>
      <MiningField name="c" missingValueReplacement="green" invalidValueTreatment="asIs"/>
    </MiningSchema>
    <LocalTransformations>
      <DerivedField name="ordinal(c)" optype="categorical" dataType="double">
        <MapValues outputColumn="out"><FieldColumnPair field="c" column="in"/>
          <InlineTable><row><in>red</in><out>0.0</out></row><row><in>green</in><out>1.0</out></row>
          <row><in>blue</in><out>2.0</out></row></InlineTable></MapValues>
      </DerivedField>
      <DerivedField name="float(ordinal(c))" optype="continuous" dataType="float">
        <FieldRef field="ordinal(c)"/>
      </DerivedField>
      <DerivedField name="target(c)" optype="continuous" dataType="double">
        <MapValues outputColumn="out" defaultValue="0.3125"><FieldColumnPair field="c" column="in"/>
          <InlineTable><row><in>red</in><out>0.4247990498025</out></row>
          <row><in>green</in><out>-0.1</out></row></InlineTable></MapValues>
      </DerivedField>
      <DerivedField name="isMissing(b)" optype="continuous" dataType="double">
        <Apply function="isMissing"><FieldRef field="b"/></Apply>
      </DerivedField>
      <DerivedField name="isNotMissing(c)" optype="continuous" dataType="double">
        <Apply function="isNotMissing"><FieldRef field="c"/></Apply>
      </DerivedField>
    </LocalTransformations>
    <Segmentation multipleModelMethod="sum">
      <Segment id="1"><True/>
        <TreeModel functionName="regression" missingValueStrategy="defaultChild">
          <MiningSchema><MiningField name="a"/><MiningField name="b"/>
            <MiningField name="float(ordinal(c))"/></MiningSchema>
          <Node score="0" defaultChild="2"><True/>
            <Node id="1" score="1.5" defaultChild="3"><SimplePredicate field="b" operator="lessOrEqual" value="0.3"/>
              <Node id="3" score="-2.25"><SimplePredicate field="float(ordinal(c))" operator="lessOrEqual" value="0.5"/></Node>
              <Node id="4" score="4.0"><SimplePredicate field="float(ordinal(c))" operator="greaterThan" value="0.5"/></Node>
            </Node>
            <Node id="2" score="8.125"><SimplePredicate field="b" operator="greaterThan" value="0.3"/>
              <Node id="5" score="16.0"><SimplePredicate field="a" operator="lessOrEqual" value="-0.0371"/></Node>
              <Node id="6" score="-32.5"><SimplePredicate field="a" operator="greaterThan" value="-0.0371"/></Node>
            </Node>
          </Node>
        </TreeModel>
      </Segment>
      <Segment id="2"><True/>
        <RegressionModel functionName="regression">
          <MiningSchema><MiningField name="a"/><MiningField name="target(c)"/>
            <MiningField name="isMissing(b)"/><MiningField name="isNotMissing(c)"/></MiningSchema>
          <RegressionTable intercept="0.01">
            <NumericPredictor name="a" coefficient="1.0625"/>
            <NumericPredictor name="target(c)" coefficient="3.3"/>
            <NumericPredictor name="isMissing(b)" coefficient="-7.5"/>
            <NumericPredictor name="isNotMissing(c)" coefficient="0.2"/>
          </RegressionTable>
        </RegressionModel>
      </Segment>
    </Segmentation>
  </MiningModel>
</PMML>
"""


#: NormContinuous: three points, extrapolated (asIs), beyond them a missing value or the end's
#: norm, a missing value mapped; the points are among the boundary rows' values
NORMS = HEAD.format(y_optype="continuous", y_type="double", y_values="") + f"""
  <RegressionModel functionName="regression">
    {SCHEMA}
    <LocalTransformations>
      <DerivedField name="na" optype="continuous" dataType="double">
        <NormContinuous field="a" mapMissingTo="-3.5">
          <LinearNorm orig="-0.0" norm="0.1"/><LinearNorm orig="0.75" norm="0.5"/>
          <LinearNorm orig="1.5" norm="2.25"/></NormContinuous>
      </DerivedField>
      <DerivedField name="nb" optype="continuous" dataType="double">
        <NormContinuous field="b" outliers="asExtremeValues">
          <LinearNorm orig="-1.5" norm="-1"/><LinearNorm orig="2.5" norm="0.3"/>
          <LinearNorm orig="7" norm="1"/></NormContinuous>
      </DerivedField>
      <DerivedField name="nab" optype="continuous" dataType="float">
        <NormContinuous field="a" outliers="asMissingValues">
          <LinearNorm orig="0.1" norm="0"/><LinearNorm orig="1e300" norm="1"/></NormContinuous>
      </DerivedField>
      <DerivedField name="isMissing(nab)" optype="continuous" dataType="double">
        <Apply function="isMissing"><FieldRef field="nab"/></Apply>
      </DerivedField>
    </LocalTransformations>
    <RegressionTable intercept="0.125">
      <NumericPredictor name="na" coefficient="1.5"/><NumericPredictor name="nb" coefficient="-2.75"/>
      <NumericPredictor name="isMissing(nab)" coefficient="10"/>
    </RegressionTable>
  </RegressionModel>
""" + TAIL


def _voter(segment: int, field: str, op: str, value: str, low: str, high: str,
           weight: str = "1") -> str:
    """A segment voting ``low`` where the test holds, else ``high`` (its distribution's
    first maximum names the other category: the vote is the node's score)."""
    return f"""
      <Segment id="{segment}" weight="{weight}"><True/>
        <TreeModel functionName="classification">
          <MiningSchema><MiningField name="{field}"/></MiningSchema>
          <Node><True/>
            <Node score="{low}"><SimplePredicate field="{field}" operator="{op}" value="{value}"/>
              <ScoreDistribution value="p" recordCount="1"/><ScoreDistribution value="q" recordCount="1"/>
              <ScoreDistribution value="r" recordCount="1"/></Node>
            <Node score="{high}"><True/>
              <ScoreDistribution value="p" recordCount="1"/><ScoreDistribution value="q" recordCount="1"/>
              <ScoreDistribution value="r" recordCount="2"/></Node>
          </Node>
        </TreeModel>
      </Segment>"""


#: votes over three categories: four voters that tie two against two (the first vote decides),
#: a category no segment votes for (probability 0), weights whose total is not one (0.1 +
#: 0.2 is not 0.3) and a softmax regression voting by its distribution's first maximum
VOTES = HEAD.format(y_optype="categorical", y_type="string",
                    y_values='<Value value="p"/><Value value="q"/><Value value="r"/>') + f"""
  <MiningModel functionName="classification">
    {SCHEMA}
    <Output>
      <OutputField name="P(p)" optype="continuous" dataType="double" feature="probability" value="p"/>
      <OutputField name="P(q)" optype="continuous" dataType="double" feature="probability" value="q"/>
      <OutputField name="P(r)" optype="continuous" dataType="double" feature="probability" value="r"/>
    </Output>
    <Segmentation multipleModelMethod="weightedMajorityVote">""" + _voter(
    1, "a", "lessOrEqual", "0.75", "p", "q", "0.1") + _voter(
    2, "b", "greaterThan", "2.5", "q", "p", "0.2") + _voter(
    3, "a", "greaterThan", "1.5", "r", "p", "0.3") + """
      <Segment id="4" weight="0.3"><True/>
        <RegressionModel functionName="classification" normalizationMethod="softmax">
          <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="a"/>
            <MiningField name="b"/><MiningField name="c"/></MiningSchema>
          <RegressionTable intercept="0.3" targetCategory="r">
            <NumericPredictor name="a" coefficient="1.25"/>
            <CategoricalPredictor name="c" value="red" coefficient="0.7"/></RegressionTable>
          <RegressionTable intercept="-0.1" targetCategory="q">
            <NumericPredictor name="b" coefficient="0.5"/></RegressionTable>
          <RegressionTable intercept="0" targetCategory="p"/>
        </RegressionModel>
      </Segment>
    </Segmentation>
  </MiningModel>
""" + TAIL

#: the same voters, unweighted, four of them: two against two on many rows
TIED_VOTES = VOTES.replace("weightedMajorityVote", "majorityVote")


def _prepared_rows(n: int, seed: int) -> pd.DataFrame:
    """Rows with a fifth of each input missing, some categories invalid, b on its float
    threshold's neighbours."""
    import struct

    f03 = struct.unpack("f", struct.pack("f", 0.3))[0]
    rng = np.random.default_rng(seed)
    rows = _warm_rows(n, seed).astype(object)
    rows.loc[rng.random(n) < 0.1, "b"] = f03
    rows.loc[rng.random(n) < 0.1, "b"] = math.nextafter(f03, 1.0)
    rows.loc[rng.random(n) < 0.05, "a"] = -0.0371
    for column in ("a", "b", "c"):
        rows.loc[rng.random(n) < 0.2, column] = None
    rows.loc[rng.random(n) < 0.03, "c"] = "purple"
    rows.loc[rng.random(n) < 0.02, "b"] = 1e39  # beyond a float: the evaluator's to judge
    return rows


@pytest.mark.parametrize("variant", ["replaced", "returnInvalid"])
def test_input_preparation_is_the_evaluators(tmp_path, variant):
    """Replacements, invalid values taken as they are, float inputs, isMissing and MapValues
    encodings: bit for bit the raw evaluator's, and the plan computes the rows missing a
    value itself (except under returnInvalid, where the evaluator refuses them)."""
    xml = PREPARED
    if variant == "returnInvalid":
        xml = xml.replace('missingValueReplacement="-0.0371" missingValueTreatment="asMean"',
                          'missingValueTreatment="returnInvalid"')
    path = tmp_path / "prepared.pmml"
    path.write_text(xml)
    model = pmmlkit.load(path)
    _serve(model, _warm_rows())
    assert model.plan == ("serving: MiningModel(sum: TreeModel, RegressionModel), 1 of 1 trees "
                          "walked level by level"), model.plan
    rows = _prepared_rows(600, seed=3)
    scored = _check_against_raw(model, xml, rows)
    plain = (rows["c"].isin(["red", "green", "blue"]) | rows["c"].isna()) & (rows["b"] != 1e39)
    missing_a = rows[rows["a"].isna() & plain].reset_index(drop=True)
    missing = rows[(rows["b"].isna() | rows["c"].isna()) & rows["a"].notna()
                   & plain].reset_index(drop=True)
    assert len(missing) > 100
    assert _computed_by_plan(model, missing) == len(missing)
    invalid = rows[rows["c"] == "purple"].reset_index(drop=True)
    assert _computed_by_plan(model, invalid) == 0  # the evaluator's: taken as it is
    if variant == "replaced":
        assert _computed_by_plan(model, missing_a) == len(missing_a)
        assert scored == len(rows)
    else:
        assert _computed_by_plan(model, missing_a) == 0  # the evaluator refuses each
        assert scored < len(rows) - len(missing_a) // 2


def _without_equality(xml: str) -> str:
    """A document without its node-by-node tree (which defers a row missing a number)."""
    start = xml.index('<Segment id="equality">')
    return xml[:start] + xml[xml.index("</Segment>", start) + len("</Segment>"):]


@pytest.mark.parametrize("name", ["BRANCHES", "BRANCHES_FLOAT", "MISSING_DEFAULT",
                                  "MISSING_NULL", "MISSING_LAST"])
def test_missing_numbers_are_computed_as_the_evaluator_does(tmp_path, name):
    """Rows missing a number go through the plan's trees (not deferred) and match the raw
    evaluator bit for bit, prediction or refusal."""
    xml = globals()[name]
    if name.startswith("BRANCHES"):
        xml = _without_equality(xml)
    path = tmp_path / f"{name}.pmml"
    path.write_text(xml)
    model = pmmlkit.load(path)
    _serve(model, _warm_rows())
    assert "trees walked level by level" in model.plan and " 0 of" not in model.plan
    rows = _warm_rows(400, seed=5).astype(object)
    rng = np.random.default_rng(6)
    rows.loc[rng.random(len(rows)) < 0.3, "a"] = None
    rows.loc[rng.random(len(rows)) < 0.3, "b"] = None
    _check_against_raw(model, xml, rows)
    missing = rows[rows["a"].isna() | rows["b"].isna()].reset_index(drop=True)
    computed = _computed_by_plan(model, missing)
    if name in ("MISSING_DEFAULT", "MISSING_LAST"):  # every way ends at a scored node
        assert computed == len(missing), (computed, len(missing))
    elif name == "MISSING_NULL":  # every such row meets its missing value: no prediction,
        assert computed == 0  # which the evaluator gives (pmmlkit's error)
    else:  # some ways end at no prediction (no true child, no score): the evaluator's rows
        assert 0 < computed < len(missing), (computed, len(missing))


def test_every_exported_tree_is_walked_level_by_level(exported):
    """sklearn2pmml's trees are binary splits: each is walked level by level."""
    for name in ("tree", "forest", "gbm"):
        model = pmmlkit.load(exported[name].path)
        assert model.plan.startswith("pending:"), model.plan
        trees = {"tree": 1, "forest": 15, "gbm": 30}[name]
        assert f"{trees} of {trees} trees walked level by level" in model.plan, model.plan


def _computed_by_plan(model: pmmlkit.Model, rows: pd.DataFrame) -> int:
    import pyarrow as pa

    from pmmlkit.scorer.arrow import arrow_inputs

    handle = model._handle
    inputs = arrow_inputs(model.schema, pa.Table.from_pandas(rows))
    prepared = [e.prepare(inputs.get(e.name), len(rows), {}) for e in model._encoders]
    columns = handle._java_columns(prepared, len(rows))
    return int(handle._plan.count(columns, len(rows), handle._java_out_kinds))


def test_unsupported_element_falls_back_and_says_so(tmp_path):
    xml = EXP.replace('<NumericPredictor name="a" coefficient="0.01"/>',
                      '<NumericPredictor name="a" coefficient="0.01" exponent="2"/>')
    path = tmp_path / "squared.pmml"
    path.write_text(xml)
    model = pmmlkit.load(path)
    assert model.plan == "none: not supported: NumericPredictor@exponent"
    warm = _warm_rows()
    assert _check_against_raw(model, xml, warm) == len(warm)
    assert model.plan.startswith("none:")


def test_plan_switched_off(tmp_path, monkeypatch):
    path = tmp_path / "exp.pmml"
    path.write_text(EXP)
    monkeypatch.setenv("PMMLKIT_PLAN", "off")
    model = pmmlkit.load(path)
    assert model.plan == "none: off (PMMLKIT_PLAN=off)"
    monkeypatch.setenv("PMMLKIT_PLAN", "sometimes")
    with pytest.raises(pmmlkit.ConfigurationError, match="PMMLKIT_PLAN"):
        pmmlkit.load(path)


def test_exact_ties_take_the_evaluators_winner(tmp_path):
    path = tmp_path / "ties.pmml"
    path.write_text(TIES)
    model = pmmlkit.load(path)
    _serve(model, _warm_rows())
    rows = pd.DataFrame({"a": [-1.0, -0.5, 0.0], "b": [5.0, 9.0, 4.5], "c": ["red", "blue", "green"]})
    got = model.score_batch(rows)
    assert got["probability(1)"].tolist() == [0.5, 0.5, 0.5]
    assert _computed_by_plan(model, rows) == 3
    assert _check_against_raw(model, TIES, rows) == 3  # "1", listed first, wins each tie
    assert got["y"].tolist() == [1, 1, 1]


@pytest.mark.parametrize("name", ["TREES", "SOFTMAX", "TIES_FLOAT", "MISSING_NULL", "PREPARED",
                                  "ROWWISE", "VOTES", "OUTPUTS", "SELECT_FIRST"])
def test_single_records_through_the_serving_plan(tmp_path, name):
    """``Model.score`` takes the plan once it serves: each record, or its refusal, is the
    evaluator's."""
    xml = globals()[name]
    path = tmp_path / f"{name}.pmml"
    path.write_text(xml)
    model = pmmlkit.load(path)
    _serve(model, _warm_rows())
    edge = _boundaries()
    records = [{k: _value(v) for k, v in r.items()} for r in edge.to_dict("records")]
    expected = _raw.jpmml(xml, records)
    for record, want in zip(records, expected, strict=True):
        no_prediction = isinstance(want, Exception) or any(
            want.get(c.key) is None for c in model.schema.columns if c.kind == "target")
        if no_prediction:
            with pytest.raises(pmmlkit.InvalidInputError):
                model.score(record)
            continue
        got = model.score(record)
        for column in model.schema.columns:
            key = column.name if column.kind == "probability" else column.key
            assert _same(got[column.name], want.get(key)), (record, column.name)
    # the categories travelled as their indexes (each text looked up once); an unknown
    # text travelled as itself, for the evaluator
    coded = dict(model._handle._row_call().coded)
    if name == "MISSING_NULL":  # its trees read no category
        assert not coded
        return
    assert {t for t, k in coded[2].items() if k >= 0} == {"red", "green", "blue"}, coded
    assert coded[2]["purple"] == -1 and coded[2]["Red"] == -1


def test_a_plan_that_defers_almost_every_row_gives_up_its_check(tmp_path):
    """Rows with missing values go to the evaluator; a plan that finds too few plain rows in
    the first chunks stops being checked (each check scores the rows twice) and says why."""
    path = tmp_path / "exp.pmml"
    path.write_text(EXP)
    model = pmmlkit.load(path)
    rows = _warm_rows(40)
    rows["b"] = [None] * 39 + [1.0]
    for _ in range(16):
        model.score_batch(rows)
    assert model.plan.startswith("none: RegressionModel computed only 16 of the 512 rows"), \
        model.plan
    assert _check_against_raw(model, EXP, rows) == 1  # a missing b: no prediction, as JPMML

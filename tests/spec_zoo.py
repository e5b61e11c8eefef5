"""Hand-written PMML 4.4 documents, one or more per model family, written from the spec.

Every classifier comes with integer, double and string class labels (``LABELS``): the label's
data type changes how evaluators key their probabilities, which is where pmmlkit once gave
0.0 silently. Each :class:`Doc` carries the records to score, chosen to reach every branch
(including missing values where the model handles them).

Inputs shared by most documents: ``x1``, ``x2`` (continuous doubles) and ``c`` (a string
category: red, green, blue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: class labels per target data type; the double labels mix integral and fractional texts
LABELS: dict[str, tuple[str, str, str]] = {
    "integer": ("1", "2", "3"),
    "double": ("1.0", "2.5", "3"),
    "string": ("a", "b", "c"),
}

RECORDS: list[dict[str, Any]] = [
    {"x1": 0.3, "x2": 1.2, "c": "red"},
    {"x1": -1.5, "x2": 0.4, "c": "green"},
    {"x1": 2.0, "x2": -0.7, "c": "blue"},
    {"x1": 0.0, "x2": 3.5, "c": "green"},
    {"x1": 4.2, "x2": 2.2, "c": "red"},
    {"x1": -3.0, "x2": -2.0, "c": "blue"},
]


@dataclass
class Doc:
    """One hand-written document and the records to score it on."""

    name: str
    family: str
    xml: str
    records: list[dict[str, Any]] = field(default_factory=lambda: list(RECORDS))
    #: the label data type of a classifier, else None
    labels: str | None = None

    @property
    def data(self) -> bytes:
        return self.xml.encode()


def _pmml(body: str, fields: str, description: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">\n'
            f'<Header description="{description}"/>\n'
            f'<DataDictionary>{fields}</DataDictionary>\n{body}\n</PMML>\n')


_INPUTS = ('<DataField name="x1" optype="continuous" dataType="double"/>'
           '<DataField name="x2" optype="continuous" dataType="double"/>'
           '<DataField name="c" optype="categorical" dataType="string">'
           '<Value value="red"/><Value value="green"/><Value value="blue"/></DataField>')
_MINING = ('<MiningField name="x1"/><MiningField name="x2"/><MiningField name="c"/>'
           '<MiningField name="y" usageType="target"/>')


def _target(data_type: str, labels: tuple[str, ...] | None = None, op: str = "categorical") -> str:
    values = "".join(f'<Value value="{v}"/>' for v in labels or ())
    return f'<DataField name="y" optype="{op}" dataType="{data_type}">{values}</DataField>'


def _regression_target() -> str:
    return _target("double", op="continuous")


# -- Regression ---------------------------------------------------------------------------------
def regression_linear() -> Doc:
    body = f"""<RegressionModel functionName="regression">
<MiningSchema>{_MINING}</MiningSchema>
<RegressionTable intercept="1.0">
 <NumericPredictor name="x1" coefficient="2.0"/>
 <NumericPredictor name="x2" exponent="2" coefficient="-0.5"/>
 <CategoricalPredictor name="c" value="red" coefficient="1.5"/>
 <CategoricalPredictor name="c" value="green" coefficient="-1.0"/>
 <PredictorTerm coefficient="0.25"><FieldRef field="x1"/><FieldRef field="x2"/></PredictorTerm>
</RegressionTable>
</RegressionModel>"""
    return Doc("regression_linear", "RegressionModel",
               _pmml(body, _INPUTS + _regression_target(), "linear regression"))


def regression_logistic(labels: str) -> Doc:
    a, b, _ = LABELS[labels]
    body = f"""<RegressionModel functionName="classification" normalizationMethod="logit">
<MiningSchema>{_MINING}</MiningSchema>
<RegressionTable intercept="-0.3" targetCategory="{a}">
 <NumericPredictor name="x1" coefficient="1.1"/>
 <NumericPredictor name="x2" coefficient="-0.4"/>
 <CategoricalPredictor name="c" value="red" coefficient="0.7"/>
</RegressionTable>
<RegressionTable intercept="0" targetCategory="{b}"/>
</RegressionModel>"""
    return Doc(f"regression_logistic_{labels}", "RegressionModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b)), "binary logistic"),
               labels=labels)


def regression_softmax(labels: str) -> Doc:
    a, b, c = LABELS[labels]
    body = f"""<RegressionModel functionName="classification" normalizationMethod="softmax">
<MiningSchema>{_MINING}</MiningSchema>
<RegressionTable intercept="0.5" targetCategory="{a}">
 <NumericPredictor name="x1" coefficient="1.0"/>
 <CategoricalPredictor name="c" value="blue" coefficient="-0.8"/>
</RegressionTable>
<RegressionTable intercept="0.1" targetCategory="{b}">
 <NumericPredictor name="x1" coefficient="-1.0"/>
 <NumericPredictor name="x2" coefficient="0.6"/>
</RegressionTable>
<RegressionTable intercept="0" targetCategory="{c}"/>
</RegressionModel>"""
    return Doc(f"regression_softmax_{labels}", "RegressionModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), "softmax"),
               labels=labels)


def _dtype(labels: str) -> str:
    return labels


# -- GeneralRegression --------------------------------------------------------------------------
_GLM_LISTS = """<ParameterList>
 <Parameter name="p0" label="Intercept"/><Parameter name="p1" label="x1"/>
 <Parameter name="p2" label="x2"/><Parameter name="p3" label="c=red"/>
 <Parameter name="p4" label="c=green"/>
</ParameterList>
<FactorList><Predictor name="c"/></FactorList>
<CovariateList><Predictor name="x1"/><Predictor name="x2"/></CovariateList>
<PPMatrix>
 <PPCell value="1" predictorName="x1" parameterName="p1"/>
 <PPCell value="1" predictorName="x2" parameterName="p2"/>
 <PPCell value="red" predictorName="c" parameterName="p3"/>
 <PPCell value="green" predictorName="c" parameterName="p4"/>
</PPMatrix>"""


def glm_linear() -> Doc:
    body = f"""<GeneralRegressionModel modelType="generalLinear" functionName="regression">
<MiningSchema>{_MINING}</MiningSchema>
{_GLM_LISTS}
<ParamMatrix>
 <PCell parameterName="p0" beta="3.2"/><PCell parameterName="p1" beta="-0.7"/>
 <PCell parameterName="p2" beta="1.3"/><PCell parameterName="p3" beta="0.9"/>
 <PCell parameterName="p4" beta="-2.1"/>
</ParamMatrix>
</GeneralRegressionModel>"""
    return Doc("glm_linear", "GeneralRegressionModel",
               _pmml(body, _INPUTS + _regression_target(), "general linear"))


def glm_multinomial(labels: str) -> Doc:
    a, b, c = LABELS[labels]
    body = f"""<GeneralRegressionModel modelType="multinomialLogistic" functionName="classification"
 targetReferenceCategory="{c}">
<MiningSchema>{_MINING}</MiningSchema>
{_GLM_LISTS}
<ParamMatrix>
 <PCell targetCategory="{a}" parameterName="p0" beta="0.4"/>
 <PCell targetCategory="{a}" parameterName="p1" beta="1.2"/>
 <PCell targetCategory="{a}" parameterName="p3" beta="-0.5"/>
 <PCell targetCategory="{b}" parameterName="p0" beta="-0.2"/>
 <PCell targetCategory="{b}" parameterName="p2" beta="0.8"/>
 <PCell targetCategory="{b}" parameterName="p4" beta="0.6"/>
</ParamMatrix>
</GeneralRegressionModel>"""
    return Doc(f"glm_multinomial_{labels}", "GeneralRegressionModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), "multinomial logistic"),
               labels=labels)


def glm_ordinal(labels: str) -> Doc:
    a, b, c = LABELS[labels]
    body = f"""<GeneralRegressionModel modelType="ordinalMultinomial" functionName="classification"
 cumulativeLink="logit">
<MiningSchema>{_MINING}</MiningSchema>
{_GLM_LISTS}
<ParamMatrix>
 <PCell targetCategory="{a}" parameterName="p0" beta="-0.5"/>
 <PCell targetCategory="{b}" parameterName="p0" beta="1.0"/>
 <PCell parameterName="p1" beta="0.9"/>
 <PCell parameterName="p2" beta="-0.3"/>
 <PCell parameterName="p3" beta="0.4"/>
</ParamMatrix>
</GeneralRegressionModel>"""
    return Doc(f"glm_ordinal_{labels}", "GeneralRegressionModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c), op="ordinal"),
                     "ordinal multinomial"), labels=labels)


def glm_cox() -> Doc:
    fields = ('<DataField name="x1" optype="continuous" dataType="double"/>'
              '<DataField name="t" optype="continuous" dataType="double"/>'
              '<DataField name="y" optype="continuous" dataType="double"/>')
    body = """<GeneralRegressionModel modelType="CoxRegression" functionName="regression"
 endTimeVariable="t">
<MiningSchema><MiningField name="x1"/><MiningField name="t"/>
 <MiningField name="y" usageType="target"/></MiningSchema>
<ParameterList><Parameter name="p1" label="x1" referencePoint="0.5"/></ParameterList>
<CovariateList><Predictor name="x1"/></CovariateList>
<PPMatrix><PPCell value="1" predictorName="x1" parameterName="p1"/></PPMatrix>
<ParamMatrix><PCell parameterName="p1" beta="0.35"/></ParamMatrix>
<BaseCumHazardTables maxTime="10">
 <BaselineCell time="1" cumHazard="0.05"/><BaselineCell time="3" cumHazard="0.2"/>
 <BaselineCell time="6" cumHazard="0.45"/><BaselineCell time="9" cumHazard="0.9"/>
</BaseCumHazardTables>
</GeneralRegressionModel>"""
    records = [{"x1": 0.2, "t": 2.0}, {"x1": 1.5, "t": 5.0}, {"x1": -0.4, "t": 7.5},
               {"x1": 0.9, "t": 9.5}]
    return Doc("glm_cox", "GeneralRegressionModel", _pmml(body, fields, "Cox regression"),
               records=records)


# -- Tree ---------------------------------------------------------------------------------------
def _tree_nodes(a: str, b: str, c: str, *, distributions: bool = True) -> str:
    def dist(na: int, nb: int, nc: int) -> str:
        if not distributions:
            return ""
        return (f'<ScoreDistribution value="{a}" recordCount="{na}"/>'
                f'<ScoreDistribution value="{b}" recordCount="{nb}"/>'
                f'<ScoreDistribution value="{c}" recordCount="{nc}"/>')

    return f"""<Node id="n0" score="{a}" recordCount="100" defaultChild="n1"><True/>{dist(50, 30, 20)}
 <Node id="n1" score="{b}" recordCount="60" defaultChild="n11">
  <SimplePredicate field="x1" operator="lessThan" value="1"/>{dist(15, 35, 10)}
  <Node id="n11" score="{b}" recordCount="40">
   <SimpleSetPredicate field="c" booleanOperator="isIn"><Array n="2" type="string">red green</Array></SimpleSetPredicate>{dist(5, 30, 5)}
  </Node>
  <Node id="n12" score="{c}" recordCount="20">
   <SimpleSetPredicate field="c" booleanOperator="isNotIn"><Array n="2" type="string">red green</Array></SimpleSetPredicate>{dist(5, 5, 10)}
  </Node>
 </Node>
 <Node id="n2" score="{a}" recordCount="40" defaultChild="n21">
  <SimplePredicate field="x1" operator="greaterOrEqual" value="1"/>{dist(30, 5, 5)}
  <Node id="n21" score="{a}" recordCount="25"><SimplePredicate field="x2" operator="lessThan" value="2"/>{dist(22, 2, 1)}</Node>
  <Node id="n22" score="{c}" recordCount="15"><SimplePredicate field="x2" operator="greaterOrEqual" value="2"/>{dist(8, 3, 4)}</Node>
 </Node>
</Node>"""


#: missing-value strategies of TreeModel (PMML 4.4)
TREE_STRATEGIES = ("none", "lastPrediction", "nullPrediction", "defaultChild",
                   "weightedConfidence", "aggregateNodes")

_MISSING_RECORDS: list[dict[str, Any]] = [
    {"x1": None, "x2": 1.0, "c": "red"},
    {"x1": 0.5, "x2": 1.0, "c": None},
    {"x1": 3.0, "x2": None, "c": "blue"},
]


def tree(strategy: str, labels: str, *, distributions: bool = True) -> Doc:
    a, b, c = LABELS[labels]
    nodes = _tree_nodes(a, b, c, distributions=distributions)
    body = f"""<TreeModel functionName="classification" missingValueStrategy="{strategy}"
 noTrueChildStrategy="returnLastPrediction" splitCharacteristic="multiSplit">
<MiningSchema>{_MINING}</MiningSchema>
{nodes}
</TreeModel>"""
    kind = "tree" if distributions else "tree_plain"
    records = list(RECORDS) + ([] if strategy == "none" else list(_MISSING_RECORDS))
    return Doc(f"{kind}_{strategy}_{labels}", "TreeModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), f"tree {strategy}"),
               records=records, labels=labels)


def tree_regression() -> Doc:
    body = f"""<TreeModel functionName="regression" missingValueStrategy="lastPrediction">
<MiningSchema>{_MINING}</MiningSchema>
<Node score="10"><True/>
 <Node score="4.5"><SimplePredicate field="x1" operator="lessThan" value="1"/></Node>
 <Node score="17.25"><SimplePredicate field="x1" operator="greaterOrEqual" value="1"/></Node>
</Node>
</TreeModel>"""
    return Doc("tree_regression", "TreeModel",
               _pmml(body, _INPUTS + _regression_target(), "regression tree"),
               records=[*RECORDS, {"x1": None, "x2": 1.0, "c": "red"}])


# -- MiningModel --------------------------------------------------------------------------------
def _segment_tree(a: str, b: str, c: str, x1: float, x2: float, dist: bool) -> str:
    def sd(na: int, nb: int, nc: int) -> str:
        if not dist:
            return ""
        return (f'<ScoreDistribution value="{a}" recordCount="{na}"/>'
                f'<ScoreDistribution value="{b}" recordCount="{nb}"/>'
                f'<ScoreDistribution value="{c}" recordCount="{nc}"/>')

    return f"""<TreeModel functionName="classification" noTrueChildStrategy="returnLastPrediction">
<MiningSchema>{_MINING}</MiningSchema>
<Node score="{a}"><True/>{sd(4, 3, 3)}
 <Node score="{b}"><SimplePredicate field="x1" operator="lessThan" value="{x1}"/>{sd(1, 6, 3)}</Node>
 <Node score="{c}"><SimplePredicate field="x2" operator="greaterThan" value="{x2}"/>{sd(2, 1, 7)}</Node>
</Node>
</TreeModel>"""


def _ensemble(name: str, method: str, segments: str, labels: str | None, description: str) -> Doc:
    """A MiningModel of ``segments`` (classification with ``labels``, else regression)."""
    function = "classification" if labels else "regression"
    target = _target(_dtype(labels), LABELS[labels]) if labels else _regression_target()
    body = f"""<MiningModel functionName="{function}">
<MiningSchema>{_MINING}</MiningSchema>
<Segmentation multipleModelMethod="{method}">{segments}</Segmentation>
</MiningModel>"""
    return Doc(name, "MiningModel", _pmml(body, _INPUTS + target, description), labels=labels)


def mining_vote(method: str, labels: str) -> Doc:
    a, b, c = LABELS[labels]
    segments = "".join(
        f'<Segment id="{i}" weight="{w}"><True/>{_segment_tree(a, b, c, x1, x2, False)}</Segment>'
        for i, (w, x1, x2) in enumerate([(0.5, 0.0, 1.0), (0.3, 1.0, 2.0), (0.2, -1.0, 0.0)]))
    return _ensemble(f"mining_{method}_{labels}", method, segments, labels, method)


def mining_average(labels: str) -> Doc:
    a, b, c = LABELS[labels]
    segments = "".join(
        f'<Segment id="{i}"><True/>{_segment_tree(a, b, c, x1, x2, True)}</Segment>'
        for i, (x1, x2) in enumerate([(0.0, 1.0), (1.0, 2.0), (-1.0, 0.0)]))
    return _ensemble(f"mining_average_{labels}", "average", segments, labels, "average of trees")


def _regression_segment(intercept: float, slope: float, *, target: str | None = "y",
                        output: str = "") -> str:
    target_field = f'<MiningField name="{target}" usageType="target"/>' if target else ""
    return f"""<RegressionModel functionName="regression">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="c"/>
 {target_field}</MiningSchema>{output}
<RegressionTable intercept="{intercept}"><NumericPredictor name="x1" coefficient="{slope}"/>
 <NumericPredictor name="x2" coefficient="0.5"/></RegressionTable>
</RegressionModel>"""


def mining_regression(method: str) -> Doc:
    segments = "".join(
        f'<Segment id="{i}" weight="{w}"><True/>{_regression_segment(b0, b1)}</Segment>'
        for i, (w, b0, b1) in enumerate([(1.0, 1.0, 2.0), (2.0, -0.5, 0.3), (0.5, 4.0, -1.0)]))
    return _ensemble(f"mining_{method}", method, segments, None, method)


def mining_select_first(labels: str) -> Doc:
    """Model selection: the first segment whose predicate is true scores the record."""
    a, b, c = LABELS[labels]
    soft = f"""<RegressionModel functionName="classification" normalizationMethod="softmax">
<MiningSchema>{_MINING}</MiningSchema>
<RegressionTable intercept="0.2" targetCategory="{a}"><NumericPredictor name="x1" coefficient="0.8"/></RegressionTable>
<RegressionTable intercept="-0.1" targetCategory="{b}"><NumericPredictor name="x2" coefficient="0.5"/></RegressionTable>
<RegressionTable intercept="0" targetCategory="{c}"/>
</RegressionModel>"""
    soft2 = soft.replace('intercept="0.2"', 'intercept="-1.2"').replace(
        'coefficient="0.5"', 'coefficient="-0.9"')
    segments = (f'<Segment id="red"><SimplePredicate field="c" operator="equal" value="red"/>'
                f'{soft}</Segment><Segment id="other"><True/>{soft2}</Segment>')
    return _ensemble(f"mining_select_first_{labels}", "selectFirst", segments, labels,
                     "model selection")


def mining_chain(labels: str) -> Doc:
    """Model chain: a regression's output feeds a classifier (model composition)."""
    a, b, c = LABELS[labels]
    first = _regression_segment(0.5, 1.5, target=None, output=(
        '<Output><OutputField name="z" optype="continuous" dataType="double" '
        'feature="predictedValue"/></Output>'))
    second = f"""<RegressionModel functionName="classification" normalizationMethod="softmax">
<MiningSchema><MiningField name="z"/><MiningField name="c"/><MiningField name="y" usageType="target"/></MiningSchema>
<RegressionTable intercept="0.3" targetCategory="{a}"><NumericPredictor name="z" coefficient="0.7"/></RegressionTable>
<RegressionTable intercept="0.0" targetCategory="{b}"><NumericPredictor name="z" coefficient="-0.4"/>
 <CategoricalPredictor name="c" value="green" coefficient="1.1"/></RegressionTable>
<RegressionTable intercept="0" targetCategory="{c}"/>
</RegressionModel>"""
    segments = f'<Segment id="1"><True/>{first}</Segment><Segment id="2"><True/>{second}</Segment>'
    return _ensemble(f"mining_chain_{labels}", "modelChain", segments, labels, "model chain")


# -- NaiveBayes ---------------------------------------------------------------------------------
def naive_bayes(labels: str) -> Doc:
    a, b, c = LABELS[labels]

    def counts(*n: int) -> str:
        return "".join(f'<TargetValueCount value="{v}" count="{k}"/>' for v, k in zip((a, b, c), n, strict=True))

    body = f"""<NaiveBayesModel functionName="classification" threshold="0.001">
<MiningSchema>{_MINING}</MiningSchema>
<BayesInputs>
 <BayesInput fieldName="c">
  <PairCounts value="red"><TargetValueCounts>{counts(10, 3, 2)}</TargetValueCounts></PairCounts>
  <PairCounts value="green"><TargetValueCounts>{counts(4, 12, 3)}</TargetValueCounts></PairCounts>
  <PairCounts value="blue"><TargetValueCounts>{counts(1, 5, 15)}</TargetValueCounts></PairCounts>
 </BayesInput>
 <BayesInput fieldName="x1"><TargetValueStats>
  <TargetValueStat value="{a}"><GaussianDistribution mean="1.0" variance="1.5"/></TargetValueStat>
  <TargetValueStat value="{b}"><GaussianDistribution mean="-0.5" variance="2.0"/></TargetValueStat>
  <TargetValueStat value="{c}"><GaussianDistribution mean="0.2" variance="0.8"/></TargetValueStat>
 </TargetValueStats></BayesInput>
</BayesInputs>
<BayesOutput fieldName="y"><TargetValueCounts>{counts(15, 20, 20)}</TargetValueCounts></BayesOutput>
</NaiveBayesModel>"""
    return Doc(f"naive_bayes_{labels}", "NaiveBayesModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), "naive Bayes"),
               labels=labels)


# -- NeuralNetwork ------------------------------------------------------------------------------
_NN_INPUTS = """<NeuralInputs numberOfInputs="3">
 <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double">
  <NormContinuous field="x1"><LinearNorm orig="-3" norm="-1"/><LinearNorm orig="3" norm="1"/></NormContinuous>
 </DerivedField></NeuralInput>
 <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double"><FieldRef field="x2"/></DerivedField></NeuralInput>
 <NeuralInput id="i3"><DerivedField optype="continuous" dataType="double"><NormDiscrete field="c" value="red"/></DerivedField></NeuralInput>
</NeuralInputs>
<NeuralLayer numberOfNeurons="2" activationFunction="logistic">
 <Neuron id="h1" bias="0.1"><Con from="i1" weight="1.5"/><Con from="i2" weight="-0.6"/><Con from="i3" weight="0.9"/></Neuron>
 <Neuron id="h2" bias="-0.3"><Con from="i1" weight="-1.1"/><Con from="i2" weight="0.4"/><Con from="i3" weight="0.2"/></Neuron>
</NeuralLayer>"""


def neural_classification(labels: str) -> Doc:
    a, b, c = LABELS[labels]
    outputs = "".join(
        f'<NeuralOutput outputNeuron="o{i}"><DerivedField optype="categorical" dataType="{_dtype(labels)}">'
        f'<NormDiscrete field="y" value="{v}"/></DerivedField></NeuralOutput>'
        for i, v in enumerate((a, b, c)))
    body = f"""<NeuralNetwork functionName="classification" activationFunction="identity">
<MiningSchema>{_MINING}</MiningSchema>
{_NN_INPUTS}
<NeuralLayer numberOfNeurons="3" activationFunction="identity" normalizationMethod="softmax">
 <Neuron id="o0" bias="0.2"><Con from="h1" weight="1.2"/><Con from="h2" weight="-0.7"/></Neuron>
 <Neuron id="o1" bias="-0.1"><Con from="h1" weight="-0.4"/><Con from="h2" weight="1.3"/></Neuron>
 <Neuron id="o2" bias="0.0"><Con from="h1" weight="0.3"/><Con from="h2" weight="0.3"/></Neuron>
</NeuralLayer>
<NeuralOutputs numberOfOutputs="3">{outputs}</NeuralOutputs>
</NeuralNetwork>"""
    return Doc(f"neural_classification_{labels}", "NeuralNetwork",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), "neural classifier"),
               labels=labels)


def neural_regression() -> Doc:
    body = f"""<NeuralNetwork functionName="regression" activationFunction="identity">
<MiningSchema>{_MINING}</MiningSchema>
{_NN_INPUTS}
<NeuralLayer numberOfNeurons="1" activationFunction="identity">
 <Neuron id="o" bias="5.0"><Con from="h1" weight="2.5"/><Con from="h2" weight="-1.5"/></Neuron>
</NeuralLayer>
<NeuralOutputs numberOfOutputs="1"><NeuralOutput outputNeuron="o">
 <DerivedField optype="continuous" dataType="double"><FieldRef field="y"/></DerivedField>
</NeuralOutput></NeuralOutputs>
</NeuralNetwork>"""
    return Doc("neural_regression", "NeuralNetwork",
               _pmml(body, _INPUTS + _regression_target(), "neural regression"))


# -- SupportVectorMachine -----------------------------------------------------------------------
_SVM_VECTORS = """<VectorDictionary numberOfVectors="3">
 <VectorFields numberOfFields="3">
  <FieldRef field="x1"/><FieldRef field="x2"/>
  <CategoricalPredictor name="c" value="red" coefficient="1"/>
 </VectorFields>
 <VectorInstance id="v1"><REAL-SparseArray n="3"><Indices>1 2 3</Indices><REAL-Entries>0.5 1.0 1</REAL-Entries></REAL-SparseArray></VectorInstance>
 <VectorInstance id="v2"><REAL-SparseArray n="3"><Indices>1 2</Indices><REAL-Entries>-1.0 0.2</REAL-Entries></REAL-SparseArray></VectorInstance>
 <VectorInstance id="v3"><REAL-SparseArray n="3"><Indices>1 2 3</Indices><REAL-Entries>2.0 -1.0 1</REAL-Entries></REAL-SparseArray></VectorInstance>
</VectorDictionary>"""


def _svm(a: str, b: str | None, bias: float, coefs: tuple[float, float, float]) -> str:
    rows = "".join(f'<SupportVector vectorId="v{i + 1}"/>' for i in range(3))
    coef = "".join(f'<Coefficient value="{v}"/>' for v in coefs)
    alternate = "" if b is None else f' alternateTargetCategory="{b}"'
    return (f'<SupportVectorMachine targetCategory="{a}"{alternate}>'
            f'<SupportVectors numberOfSupportVectors="3" numberOfAttributes="3">{rows}'
            f'</SupportVectors><Coefficients numberOfCoefficients="3" absoluteValue="{bias}">'
            f'{coef}</Coefficients></SupportVectorMachine>')


def svm_classification(labels: str, method: str = "OneAgainstOne") -> Doc:
    """``OneAgainstOne``: a machine per pair of classes, which vote (a distribution).
    ``OneAgainstAll`` (the spec's default, as KNIME and R's kernlab write it): a machine per
    class against the rest, giving a distance per class, not a probability distribution."""
    a, b, c = LABELS[labels]
    pairs = [(a, b), (a, c), (b, c)] if method == "OneAgainstOne" else [(a, None), (b, None),
                                                                         (c, None)]
    params = [(0.1, (0.8, -0.5, 0.3)), (-0.2, (0.4, 0.6, -0.9)), (0.05, (-0.7, 0.2, 0.5))]
    machines = "".join(_svm(x, y, bias, coefs)
                       for (x, y), (bias, coefs) in zip(pairs, params, strict=True))
    body = f"""<SupportVectorMachineModel functionName="classification" classificationMethod="{method}">
<MiningSchema>{_MINING}</MiningSchema>
<RadialBasisKernelType gamma="0.5"/>
{_SVM_VECTORS}
{machines}
</SupportVectorMachineModel>"""
    name = "svm_classification" if method == "OneAgainstOne" else "svm_one_against_all"
    return Doc(f"{name}_{labels}", "SupportVectorMachineModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), f"SVM {method}"),
               labels=labels)


def svm_regression() -> Doc:
    rows = "".join(f'<SupportVector vectorId="v{i + 1}"/>' for i in range(3))
    body = f"""<SupportVectorMachineModel functionName="regression">
<MiningSchema>{_MINING}</MiningSchema>
<PolynomialKernelType gamma="0.5" coef0="1" degree="2"/>
{_SVM_VECTORS}
<SupportVectorMachine><SupportVectors numberOfSupportVectors="3" numberOfAttributes="3">{rows}</SupportVectors>
<Coefficients numberOfCoefficients="3" absoluteValue="1.5"><Coefficient value="0.6"/><Coefficient value="-0.3"/><Coefficient value="0.2"/></Coefficients>
</SupportVectorMachine>
</SupportVectorMachineModel>"""
    return Doc("svm_regression", "SupportVectorMachineModel",
               _pmml(body, _INPUTS + _regression_target(), "SVM regression"))


# -- NearestNeighbor ----------------------------------------------------------------------------
def knn(labels: str | None) -> Doc:
    a, b, c = LABELS[labels] if labels else ("10.5", "20.0", "31.25")
    rows = "".join(f"<row><x1>{x1}</x1><x2>{x2}</x2><y>{y}</y></row>" for x1, x2, y in [
        (0.0, 0.0, a), (1.0, 1.0, b), (2.0, -1.0, c), (-1.0, 2.0, a), (3.0, 3.0, b),
        (-2.0, -2.0, c), (0.5, 2.5, a)])
    function = "classification" if labels else "regression"
    target = _target(_dtype(labels), (a, b, c)) if labels else _regression_target()
    body = f"""<NearestNeighborModel functionName="{function}" numberOfNeighbors="3" categoricalScoringMethod="majorityVote" continuousScoringMethod="average">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/></MiningSchema>
<TrainingInstances><InstanceFields>
 <InstanceField field="x1" column="x1"/><InstanceField field="x2" column="x2"/><InstanceField field="y" column="y"/>
</InstanceFields><InlineTable>{rows}</InlineTable></TrainingInstances>
<ComparisonMeasure kind="distance"><squaredEuclidean/></ComparisonMeasure>
<KNNInputs><KNNInput field="x1"/><KNNInput field="x2"/></KNNInputs>
</NearestNeighborModel>"""
    fields = ('<DataField name="x1" optype="continuous" dataType="double"/>'
              '<DataField name="x2" optype="continuous" dataType="double"/>')
    records = [{"x1": r["x1"], "x2": r["x2"]} for r in RECORDS]
    return Doc(f"knn_{labels or 'regression'}", "NearestNeighborModel",
               _pmml(body, fields + target, f"kNN {function}"), records=records, labels=labels)


# -- Clustering ---------------------------------------------------------------------------------
def clustering() -> Doc:
    fields = ('<DataField name="x1" optype="continuous" dataType="double"/>'
              '<DataField name="x2" optype="continuous" dataType="double"/>')
    body = """<ClusteringModel functionName="clustering" modelClass="centerBased" numberOfClusters="3">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
<ComparisonMeasure kind="distance"><squaredEuclidean/></ComparisonMeasure>
<ClusteringField field="x1"/><ClusteringField field="x2"/>
<Cluster id="c1" name="low"><Array n="2" type="real">-2.0 -1.0</Array></Cluster>
<Cluster id="c2" name="mid"><Array n="2" type="real">0.5 1.0</Array></Cluster>
<Cluster id="c3" name="high"><Array n="2" type="real">3.0 2.5</Array></Cluster>
</ClusteringModel>"""
    records = [{"x1": r["x1"], "x2": r["x2"]} for r in RECORDS]
    return Doc("clustering", "ClusteringModel", _pmml(body, fields, "k-means"), records=records)


# -- Scorecard ----------------------------------------------------------------------------------
def scorecard() -> Doc:
    body = f"""<Scorecard functionName="regression" useReasonCodes="true" reasonCodeAlgorithm="pointsBelow" initialScore="100" baselineMethod="other">
<MiningSchema>{_MINING}</MiningSchema>
<Output>
 <OutputField name="score" optype="continuous" dataType="double" feature="predictedValue"/>
 <OutputField name="rc1" optype="categorical" dataType="string" feature="reasonCode" rank="1"/>
 <OutputField name="rc2" optype="categorical" dataType="string" feature="reasonCode" rank="2"/>
</Output>
<Characteristics>
 <Characteristic name="x1_points" reasonCode="RC_X1" baselineScore="15">
  <Attribute partialScore="5"><SimplePredicate field="x1" operator="lessThan" value="0"/></Attribute>
  <Attribute partialScore="20"><True/></Attribute>
 </Characteristic>
 <Characteristic name="c_points" reasonCode="RC_C" baselineScore="10">
  <Attribute partialScore="3"><SimplePredicate field="c" operator="equal" value="blue"/></Attribute>
  <Attribute partialScore="12" reasonCode="RC_C_OTHER"><True/></Attribute>
 </Characteristic>
</Characteristics>
</Scorecard>"""
    return Doc("scorecard", "Scorecard", _pmml(body, _INPUTS + _regression_target(), "scorecard"))


# -- RuleSet ------------------------------------------------------------------------------------
def ruleset(labels: str, method: str = "firstHit") -> Doc:
    a, b, c = LABELS[labels]
    body = f"""<RuleSetModel functionName="classification">
<MiningSchema>{_MINING}</MiningSchema>
<RuleSet defaultScore="{c}" defaultConfidence="0.3">
 <RuleSelectionMethod criterion="{method}"/>
 <SimpleRule id="r1" score="{a}" confidence="0.9" weight="0.8" recordCount="30" nbCorrect="27">
  <CompoundPredicate booleanOperator="and">
   <SimplePredicate field="x1" operator="greaterThan" value="1"/>
   <SimplePredicate field="c" operator="equal" value="red"/>
  </CompoundPredicate>
  <ScoreDistribution value="{a}" recordCount="27"/><ScoreDistribution value="{b}" recordCount="2"/><ScoreDistribution value="{c}" recordCount="1"/>
 </SimpleRule>
 <SimpleRule id="r2" score="{b}" confidence="0.7" weight="0.6" recordCount="20" nbCorrect="14">
  <SimplePredicate field="x2" operator="lessThan" value="1"/>
  <ScoreDistribution value="{a}" recordCount="3"/><ScoreDistribution value="{b}" recordCount="14"/><ScoreDistribution value="{c}" recordCount="3"/>
 </SimpleRule>
 <SimpleRule id="r3" score="{a}" confidence="0.6" weight="0.4" recordCount="10" nbCorrect="6">
  <SimplePredicate field="c" operator="equal" value="green"/>
  <ScoreDistribution value="{a}" recordCount="6"/><ScoreDistribution value="{b}" recordCount="2"/><ScoreDistribution value="{c}" recordCount="2"/>
 </SimpleRule>
</RuleSet>
</RuleSetModel>"""
    return Doc(f"ruleset_{method}_{labels}", "RuleSetModel",
               _pmml(body, _INPUTS + _target(_dtype(labels), (a, b, c)), f"rule set {method}"),
               labels=labels)


# -- Association --------------------------------------------------------------------------------
def association() -> Doc:
    fields = ('<DataField name="basket" optype="categorical" dataType="string"/>'
              '<DataField name="item" optype="categorical" dataType="string">'
              '<Value value="bread"/><Value value="milk"/><Value value="butter"/></DataField>')
    body = """<AssociationModel functionName="associationRules" numberOfTransactions="10" minimumSupport="0.1" minimumConfidence="0.5" numberOfItems="3" numberOfItemsets="3" numberOfRules="2">
<MiningSchema><MiningField name="item"/></MiningSchema>
<Output>
 <OutputField name="rule_consequent" optype="categorical" dataType="string" feature="ruleValue" ruleFeature="consequent" algorithm="recommendation" rank="1"/>
 <OutputField name="rule_confidence" optype="continuous" dataType="double" feature="ruleValue" ruleFeature="confidence" algorithm="recommendation" rank="1"/>
</Output>
<Item id="1" value="bread"/><Item id="2" value="milk"/><Item id="3" value="butter"/>
<Itemset id="1" numberOfItems="1"><ItemRef itemRef="1"/></Itemset>
<Itemset id="2" numberOfItems="1"><ItemRef itemRef="2"/></Itemset>
<Itemset id="3" numberOfItems="1"><ItemRef itemRef="3"/></Itemset>
<AssociationRule support="0.4" confidence="0.8" antecedent="1" consequent="3"/>
<AssociationRule support="0.3" confidence="0.6" antecedent="2" consequent="1"/>
</AssociationModel>"""
    records = [{"item": "bread"}, {"item": "milk"}, {"item": "butter"}]
    return Doc("association", "AssociationModel", _pmml(body, fields, "association rules"),
               records=records)


# -- AnomalyDetection ---------------------------------------------------------------------------
def anomaly_detection() -> Doc:
    fields = ('<DataField name="x1" optype="continuous" dataType="double"/>'
              '<DataField name="x2" optype="continuous" dataType="double"/>'
              '<DataField name="path_length" optype="continuous" dataType="double"/>')

    def itree(t1: float, t2: float) -> str:
        return f"""<Segment><True/><TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
<Node score="1"><True/>
 <Node score="2"><SimplePredicate field="x1" operator="lessOrEqual" value="{t1}"/>
  <Node score="3"><SimplePredicate field="x2" operator="lessOrEqual" value="{t2}"/></Node>
  <Node score="3.5"><SimplePredicate field="x2" operator="greaterThan" value="{t2}"/></Node>
 </Node>
 <Node score="1.5"><SimplePredicate field="x1" operator="greaterThan" value="{t1}"/></Node>
</Node></TreeModel></Segment>"""

    body = f"""<AnomalyDetectionModel functionName="regression" algorithmType="iforest" sampleDataSize="256">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
<Output><OutputField name="anomaly_score" optype="continuous" dataType="double" feature="predictedValue"/></Output>
<MiningModel functionName="regression">
<MiningSchema><MiningField name="x1"/><MiningField name="x2"/>
 <MiningField name="path_length" usageType="target"/></MiningSchema>
<Segmentation multipleModelMethod="average">{itree(0.5, 1.0)}{itree(2.0, -0.5)}</Segmentation>
</MiningModel>
</AnomalyDetectionModel>"""
    records = [{"x1": r["x1"], "x2": r["x2"]} for r in RECORDS]
    return Doc("anomaly_detection", "AnomalyDetectionModel",
               _pmml(body, fields, "isolation forest"), records=records)


# -- the catalogue ------------------------------------------------------------------------------
def catalogue() -> list[Doc]:
    """Every document, named uniquely."""
    docs = [regression_linear(), glm_linear(), glm_cox(), tree_regression(),
            mining_regression("average"), mining_regression("weightedAverage"),
            mining_regression("median"), mining_regression("sum"),
            neural_regression(), svm_regression(), knn(None), clustering(), scorecard(),
            association(), anomaly_detection()]
    for labels in LABELS:
        docs += [regression_logistic(labels), regression_softmax(labels),
                 glm_multinomial(labels), glm_ordinal(labels),
                 tree("defaultChild", labels), tree("none", labels, distributions=False),
                 mining_vote("majorityVote", labels), mining_vote("weightedMajorityVote", labels),
                 mining_average(labels), mining_select_first(labels), mining_chain(labels),
                 naive_bayes(labels), neural_classification(labels), svm_classification(labels),
                 svm_classification(labels, "OneAgainstAll"),
                 knn(labels), ruleset(labels), ruleset(labels, "weightedMax"),
                 ruleset(labels, "weightedSum")]
    docs += [tree(strategy, "string") for strategy in TREE_STRATEGIES if strategy != "defaultChild"]
    docs += [regression_integer_target(), https_namespace(), one_output_field(),
             sas_parameter_as_text(), undefined_probability_outputs()]
    names = [d.name for d in docs]
    assert len(names) == len(set(names)), "document names must be unique"
    return docs


# -- documents the default evaluator refuses --------------------------------------------------
def regression_integer_target() -> Doc:
    """A regression whose target is declared ``integer`` without ``Target castInteger``."""
    doc = regression_linear()
    xml = doc.xml.replace('<DataField name="y" optype="continuous" dataType="double">',
                          '<DataField name="y" optype="continuous" dataType="integer">')
    return Doc("regression_integer_target", "RegressionModel", xml)


def https_namespace() -> Doc:
    """SAS writes the PMML namespace with ``https://``."""
    doc = regression_linear()
    xml = doc.xml.replace('xmlns="http://www.dmg.org/PMML-4_4"',
                          'xmlns="https://www.dmg.org/PMML-4_4"')
    return Doc("https_namespace", "RegressionModel", xml)


def one_output_field() -> Doc:
    """A classifier whose own Output holds a single field (as R's LIBSVM export writes it):
    JPMML keeps such a list immutable, and pmmlkit's probability outputs must still be added."""
    doc = regression_softmax("string")
    xml = doc.xml.replace("</MiningSchema>", '</MiningSchema><Output><OutputField name="label" '
                          'optype="categorical" dataType="string" feature="predictedValue"/>'
                          "</Output>", 1)
    return Doc("one_output_field", "RegressionModel", xml, labels="string")


def sas_parameter_as_text() -> Doc:
    """SAS Enterprise Miner's defect: a DefineFunction passes its parameter FMTWIDTH as the
    text ``<Constant>FMTWIDTH</Constant>``. JPMML fails on it; PMML4S scores it."""
    doc = regression_linear()
    functions = ("<TransformationDictionary>"
                 '<DefineFunction name="SAS-FORMAT-$CHARw" optype="categorical" dataType="string">'
                 '<ParameterField name="FMTWIDTH" optype="continuous"/>'
                 '<ParameterField name="AnyCInput" optype="categorical"/>'
                 '<Apply function="substring"><FieldRef field="AnyCInput"/><Constant>1</Constant>'
                 "<Constant>FMTWIDTH</Constant></Apply></DefineFunction>"
                 '<DerivedField name="c_fmt" optype="categorical" dataType="string">'
                 '<Apply function="SAS-FORMAT-$CHARw"><Constant>5</Constant>'
                 '<FieldRef field="c"/></Apply></DerivedField></TransformationDictionary>')
    xml = doc.xml.replace("</DataDictionary>", "</DataDictionary>" + functions, 1)
    xml = xml.replace('<CategoricalPredictor name="c"', '<CategoricalPredictor name="c_fmt"')
    return Doc("sas_parameter_as_text", "RegressionModel", xml)


def undefined_probability_outputs() -> Doc:
    """A one-against-all SVM that declares probability outputs (R's kernlab export does):
    it computes none, JPMML fails on every record, PMML4S answers."""
    doc = svm_classification("string", "OneAgainstAll")
    fields = "".join(f'<OutputField name="p_{k}" optype="continuous" dataType="double" '
                     f'feature="probability" value="{k}"/>' for k in LABELS["string"])
    xml = doc.xml.replace("</MiningSchema>", f"</MiningSchema><Output>{fields}</Output>", 1)
    return Doc("undefined_probability_outputs", "SupportVectorMachineModel", xml, labels="string")

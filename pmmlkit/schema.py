"""Read a PMML document safely into a :class:`ModelSchema`.

The parser refuses any DOCTYPE, entity declaration or external reference (XXE and "billion
laughs") before looking at the content: PMML comes from shared storage and is untrusted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from pmmlkit.errors import ModelLoadError, UnsafeDocumentError

NUMERIC_TYPES = frozenset({"double", "float", "integer"})
MODEL_ELEMENTS = frozenset({
    "AssociationModel", "AnomalyDetectionModel", "BayesianNetworkModel", "BaselineModel",
    "ClusteringModel", "GaussianProcessModel", "GeneralRegressionModel", "MiningModel",
    "NaiveBayesModel", "NearestNeighborModel", "NeuralNetwork", "RegressionModel",
    "RuleSetModel", "SequenceModel", "Scorecard", "SupportVectorMachineModel", "TextModel",
    "TimeSeriesModel", "TreeModel",
})


@dataclass(frozen=True)
class Interval:
    """A valid range of a continuous field; ``None`` bounds are open-ended."""

    closure: str
    left: float | None
    right: float | None

    def contains(self, x: float) -> bool:
        left_ok = self.left is None or (x >= self.left if self.closure.startswith("closed")
                                        else x > self.left)
        right_ok = self.right is None or (x <= self.right if self.closure.endswith("Closed")
                                          else x < self.right)
        return left_ok and right_ok


@dataclass(frozen=True)
class InputField:
    """One active input of the model, with the MiningSchema's treatments applied."""

    name: str
    data_type: str
    op_type: str
    valid_values: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()
    invalid_value_treatment: str = "returnInvalid"
    invalid_value_replacement: str | None = None
    missing_value_treatment: str | None = None
    missing_value_replacement: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES


@dataclass(frozen=True)
class TargetField:
    name: str
    data_type: str
    op_type: str
    categories: tuple[str, ...] = ()
    #: the ``castInteger`` of the model's ``Targets/Target`` for this field, if any
    cast_integer: str | None = None


@dataclass(frozen=True)
class OutputField:
    name: str
    data_type: str
    feature: str
    value: str | None = None
    final: bool = True
    #: the target it is of: its ``targetField``, or the target of the segment declaring it
    target: str | None = None


@dataclass(frozen=True)
class Column:
    """One column of pmmlkit's output contract.

    ``kind`` is ``target`` (the predicted value), ``probability`` (of ``category``) or
    ``output`` (a declared OutputField). ``key`` is the field it is read from: the target's
    name (``None`` for a model without target) or the output field's name.
    """

    name: str
    kind: str
    data_type: str
    key: str | None
    category: str | None = None

    @property
    def numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES or self.data_type == "boolean"


@dataclass(frozen=True)
class VerificationRecords:
    """The PMML's ModelVerification: inputs and expected outputs per record."""

    fields: dict[str, dict[str, Any]]
    rows: list[dict[str, str | None]]


@dataclass(frozen=True)
class ModelSchema:
    """What goes into a model and what comes out of it."""

    model_element: str
    function_name: str
    algorithm: str | None
    pmml_version: str
    application: str | None
    inputs: tuple[InputField, ...]
    targets: tuple[TargetField, ...]
    outputs: tuple[OutputField, ...]
    columns: tuple[Column, ...]
    verification: VerificationRecords | None = field(default=None, repr=False)
    #: the missingValueStrategy of every TreeModel in the document
    tree_strategies: tuple[str, ...] = ()
    #: a classifier whose result is a probability distribution (:func:`computes_probabilities`)
    probabilistic: bool = False
    #: facts of the document some evaluator cannot score, as (kind, what): see ``_traits``
    traits: tuple[tuple[str, str], ...] = ()
    #: some field of the document is a 32-bit float (a tree's split inputs, XGBoost's
    #: outputs): its results carry float precision, whatever their own type
    computes_in_float: bool = False

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe_missing(self, name: str) -> str:
        """What a missing value of input ``name`` becomes, as the MiningSchema says."""
        f = self.input(name)
        if f.missing_value_replacement is not None:
            return f"replaced by {f.missing_value_replacement}"
        if f.missing_value_treatment == "returnInvalid":
            return "refused (returnInvalid)"
        return "to the model (its missing-value handling decides)"

    def describe_invalid(self, name: str) -> str:
        """What a value outside the valid values or ranges becomes."""
        f = self.input(name)
        if not f.valid_values and not f.intervals:
            return "any value is valid"
        treatment = f.invalid_value_treatment
        if treatment == "asIs":
            return "scored as it is (asIs)"
        if treatment == "asMissing":
            return "treated as missing (asMissing)"
        if treatment == "asValue":
            return f"replaced by {f.invalid_value_replacement} (asValue)"
        return "refused (returnInvalid)"

    def input(self, name: str) -> InputField:
        for f in self.inputs:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (verification records reduced to their count)."""
        out = asdict(self)
        out.pop("verification")
        out["verification_records"] = len(self.verification.rows) if self.verification else 0
        return out


def parse(data: bytes, *, source: str = "<bytes>") -> tuple[ModelSchema, Element]:
    """Parse PMML bytes safely; return the schema and the XML root."""
    root = _parse_xml(data, source)
    return _schema(root, source), root


def _schema_path(sha256: str) -> Path:
    """The cache entry of a document: keyed by its sha256 and this module's source."""
    from pmmlkit.cache import cache_dir, source_tag

    return cache_dir() / "schema" / f"{sha256}-{source_tag(Path(__file__))}.json"


def cached_schema(data: bytes, sha256: str, *, source: str = "<bytes>") -> ModelSchema:
    """:func:`read_schema` of ``data`` (whose sha256 is given), through the on-disk cache: a
    document's schema is read from its XML once. A large ensemble's XML takes Python ~0.6 s
    (100 trees), its cached schema a millisecond. Bytes with this sha256 passed the safety
    checks when the entry was written."""
    path = _schema_path(sha256)
    try:
        return schema_from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):  # absent, damaged or from elsewhere
        pass
    schema = read_schema(data, source=source)
    from pmmlkit.cache import write_atomic

    write_atomic(path, json.dumps(schema_to_dict(schema)).encode())
    return schema


def schema_to_dict(schema: ModelSchema) -> dict[str, Any]:
    """Everything in ``schema``, JSON-ready (the verification records in full)."""
    return asdict(schema)


def schema_from_dict(d: dict[str, Any]) -> ModelSchema:
    """The inverse of :func:`schema_to_dict`."""
    def inputs(f: dict[str, Any]) -> InputField:
        return InputField(**{**f, "valid_values": tuple(f["valid_values"]),
                             "missing_values": tuple(f["missing_values"]),
                             "intervals": tuple(Interval(**i) for i in f["intervals"])})

    verification = d["verification"]
    return ModelSchema(
        model_element=d["model_element"], function_name=d["function_name"],
        algorithm=d["algorithm"], pmml_version=d["pmml_version"],
        application=d["application"],
        inputs=tuple(inputs(f) for f in d["inputs"]),
        targets=tuple(TargetField(**{**t, "categories": tuple(t["categories"])})
                      for t in d["targets"]),
        outputs=tuple(OutputField(**o) for o in d["outputs"]),
        columns=tuple(Column(**c) for c in d["columns"]),
        verification=None if verification is None else VerificationRecords(
            verification["fields"], verification["rows"]),
        tree_strategies=tuple(d["tree_strategies"]), probabilistic=d["probabilistic"],
        traits=tuple((kind, what) for kind, what in d["traits"]),
        computes_in_float=d["computes_in_float"])


def read_schema(data: bytes, *, source: str = "<bytes>") -> ModelSchema:
    """Parse PMML bytes safely into a :class:`ModelSchema`."""
    return parse(data, source=source)[0]


def _parse_xml(data: bytes, source: str) -> Element:
    if not data or not data.strip():
        raise ModelLoadError(f"{source}: the file is empty; expected a PMML document")
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:65536], re.IGNORECASE):
        raise UnsafeDocumentError(
            f"{source}: the document declares a DOCTYPE or an entity; pmmlkit refuses these to "
            "prevent XML external entity (XXE) and entity-expansion attacks. Remove the "
            "<!DOCTYPE ...> declaration; PMML does not need one.")
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeDocumentError(
            f"{source}: refused unsafe XML ({exc}); pmmlkit never resolves DOCTYPEs or "
            "entities") from exc
    except Exception as exc:  # ParseError and friends: truncated or not XML
        raise ModelLoadError(f"{source}: not well-formed XML ({exc}); the file is truncated "
                             "or is not a PMML document") from exc
    if _local(root.tag) != "PMML":
        raise ModelLoadError(f"{source}: the root element is <{_local(root.tag)}>, not <PMML>; "
                             "this is not a PMML document")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem: Element, name: str) -> list[Element]:
    return [c for c in elem if _local(c.tag) == name]


def _child(elem: Element, name: str) -> Element | None:
    found = _children(elem, name)
    return found[0] if found else None


def _schema(root: Element, source: str) -> ModelSchema:
    models = [c for c in root if _local(c.tag) in MODEL_ELEMENTS]
    if not models:
        others = sorted({_local(c.tag) for c in root} - {"Header", "DataDictionary"})
        raise ModelLoadError(f"{source}: the PMML contains no supported model element "
                             f"(found: {', '.join(others) or 'nothing'}); supported: "
                             f"{', '.join(sorted(MODEL_ELEMENTS))}")
    model = models[0]
    data_fields = _data_fields(root, source)
    header = _child(root, "Header")
    app = _child(header, "Application") if header is not None else None
    mining = _child(model, "MiningSchema")
    if mining is None:
        raise ModelLoadError(f"{source}: <{_local(model.tag)}> has no MiningSchema")
    inputs, targets = [], []
    for mf in _children(mining, "MiningField"):
        name = mf.get("name", "")
        usage = mf.get("usageType", "active")
        df = data_fields.get(name)
        if df is None:
            raise ModelLoadError(f"{source}: MiningField {name!r} is not in the DataDictionary")
        op_type = mf.get("optype") or df.get("optype", "continuous")
        if usage in ("target", "predicted"):
            cats = tuple(v for v, prop in df["values"] if prop == "valid")
            targets.append(TargetField(name, df["dataType"], op_type, cats,
                                       _cast_integer(model, name)))
        elif usage == "active":
            inputs.append(InputField(
                name=name, data_type=df["dataType"], op_type=op_type,
                valid_values=tuple(v for v, prop in df["values"] if prop == "valid"),
                missing_values=tuple(v for v, prop in df["values"] if prop == "missing"),
                intervals=df["intervals"],
                invalid_value_treatment=mf.get("invalidValueTreatment", "returnInvalid"),
                invalid_value_replacement=mf.get("invalidValueReplacement"),
                missing_value_treatment=mf.get("missingValueTreatment"),
                missing_value_replacement=mf.get("missingValueReplacement"),
            ))
    targets = _chain_targets(model, targets)
    function = model.get("functionName", "")
    outputs = _outputs(model, targets, function)
    schema = ModelSchema(
        model_element=_local(model.tag), function_name=function,
        algorithm=model.get("algorithmName"), pmml_version=root.get("version", ""),
        application=(f"{app.get('name')} {app.get('version', '')}".strip()
                     if app is not None else None),
        inputs=tuple(inputs), targets=tuple(targets), outputs=tuple(outputs),
        # one prediction, whatever else the MiningSchema names, but for a multi-target model
        # (one segment per target, or a k-NN model predicting each of its targets)
        columns=tuple(_columns(model, function, targets if _multi_target(model)
                               or _local(model.tag) == "NearestNeighborModel"
                               else targets[:1], outputs)),
        verification=_verification(model),
        tree_strategies=tuple(sorted({e.get("missingValueStrategy", "none") for e in root.iter()
                                      if _local(e.tag) == "TreeModel"})),
        probabilistic=function == "classification" and (_multi_target(model)
                                                        or computes_probabilities(model)),
        traits=tuple(_traits(root, outputs)),
        computes_in_float=any(e.get("dataType") == "float" for e in root.iter()),
    )
    return schema


def _chain_targets(model: Element, targets: list[TargetField]) -> list[TargetField]:
    """A model chain predicts what its last segment predicts: the spec's own example declares
    the first segment's target too (Class, then PollenIndex), and an evaluator gives no value
    for it. Keep the targets the last segment names, when it names any."""
    segmentation = _child(model, "Segmentation") if _local(model.tag) == "MiningModel" else None
    if segmentation is None or segmentation.get("multipleModelMethod") != "modelChain":
        return targets
    segments = [m for s in _children(segmentation, "Segment") for m in inner_models(s)[:1]]
    last = _target_names(segments[-1]) if segments else set()
    return [t for t in targets if t.name in last] or targets


def _multi_target(model: Element) -> bool:
    """A model predicting several targets, one segment each (JPMML's x-multiModelChain)."""
    segmentation = _child(model, "Segmentation") if _local(model.tag) == "MiningModel" else None
    return segmentation is not None and segmentation.get("multipleModelMethod") == MULTI_TARGET


def _traits(root: Element, outputs: list[OutputField]) -> list[tuple[str, str]]:
    """Facts of the document that decide which evaluator can score it (the backends name
    their consequences): ``parameter-as-text`` (a called DefineFunction passes its parameter
    as the text of a Constant, SAS Enterprise Miner's export defect), ``residual`` (outputs
    that need the target's actual value), ``contrast-matrix`` (a contrast-coded factor whose
    PPCell names a category, not a column of its matrix), ``cox`` (a Cox regression)."""
    found: list[tuple[str, str]] = []
    called = {e.get("function") for e in root.iter() if _local(e.tag) == "Apply"}
    for elem in root.iter():
        tag = _local(elem.tag)
        if tag == "GeneralRegressionModel" and elem.get("modelType") == "CoxRegression":
            found.append(("cox", elem.get("modelName") or ""))
        elif tag == "DefineFunction" and elem.get("name") in called:
            params = {p.get("name") for p in _children(elem, "ParameterField")}
            texts = [(c.text or "").strip() for c in elem.iter() if _local(c.tag) == "Constant"]
            found.extend(("parameter-as-text", f"{elem.get('name')}:{t}")
                         for t in texts if t in params)
    # a contrast-coded factor's PPCell names a column of its matrix; the spec's own example
    # names a category there, which JPMML refuses ("PPCell is not valid") and PMML4S reads
    contrasted = {e.get("name"): {c.get("value") for c in e.iter() if _local(c.tag) == "Category"}
                  for e in root.iter()
                  if _local(e.tag) == "Predictor" and e.get("contrastMatrixType")}
    for cell in root.iter():
        if (_local(cell.tag) == "PPCell" and cell.get("predictorName") in contrasted
                and cell.get("value") in contrasted[cell.get("predictorName")]):
            found.append(("contrast-matrix", cell.get("predictorName", "")))
    residuals = [o.name for o in outputs if o.feature == "residual"]
    if residuals:
        found.append(("residual", ", ".join(residuals)))
    return list(dict.fromkeys(found))


def _cast_integer(model: Element, name: str) -> str | None:
    targets = _child(model, "Targets")
    for target in _children(targets, "Target") if targets is not None else []:
        if target.get("field") == name:
            return target.get("castInteger")
    return None


def _data_fields(root: Element, source: str) -> dict[str, dict[str, Any]]:
    dd = _child(root, "DataDictionary")
    if dd is None:
        raise ModelLoadError(f"{source}: the PMML has no DataDictionary")
    out: dict[str, dict[str, Any]] = {}
    for df in _children(dd, "DataField"):
        values = [(v.get("value", ""), v.get("property", "valid")) for v in _children(df, "Value")]
        intervals = tuple(
            Interval(iv.get("closure", "closedClosed"), _float(iv.get("leftMargin")),
                     _float(iv.get("rightMargin")))
            for iv in _children(df, "Interval"))
        out[df.get("name", "")] = {"dataType": df.get("dataType", "string"),
                                   "optype": df.get("optype"), "values": values,
                                   "intervals": intervals}
    return out


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


#: JPMML's segmentation of one model per target (sklearn2pmml's multi-output estimators)
MULTI_TARGET = "x-multiModelChain"


def _output_elements(model: Element, target: str | None = None
                     ) -> list[tuple[Element, str | None]]:
    """OutputFields of the model, each with the target it is of (``targetField``, else the
    model's own single target); a model chain's final segment contributes its own, and
    each segment of a multi-target model its own."""
    names = sorted(n for n in _target_names(model) if n)
    own = names[0] if len(names) == 1 else target
    found: list[tuple[Element, str | None]] = []
    output = _child(model, "Output")
    if output is not None:
        found.extend((of, of.get("targetField") or own)
                     for of in _children(output, "OutputField"))
    segmentation = _child(model, "Segmentation")
    method = segmentation.get("multipleModelMethod") if segmentation is not None else None
    if segmentation is not None and method == MULTI_TARGET:
        for segment in _children(segmentation, "Segment"):
            for inner in inner_models(segment)[:1]:
                found.extend(_output_elements(inner))
    if segmentation is not None and method == "modelChain":
        models = [m for s in _children(segmentation, "Segment") for m in inner_models(s)[:1]]
        # the final segment, and those before it that predict the same target: an
        # "efficient" chain ends with one segment per case, under exclusive predicates
        tail = models[-1:]
        final = _target_names(tail[0]) if tail else set()
        for inner in reversed(models[:-1]):
            if not final or _target_names(inner) != final:
                break
            tail.insert(0, inner)
        for inner in tail:
            found.extend(_output_elements(inner))
    if segmentation is not None and method == "selectFirst":
        # the chosen segment's result is the model's, its OutputFields with it (JPMML): each
        # segment's outputs are columns, without a value where another segment was chosen
        for segment in _children(segmentation, "Segment"):
            for inner in inner_models(segment)[:1]:
                found.extend(_output_elements(inner))
    return found


def _target_names(model: Element) -> set[str | None]:
    mining = _child(model, "MiningSchema")
    return {mf.get("name") for mf in (_children(mining, "MiningField") if mining is not None
                                      else []) if mf.get("usageType") in ("target", "predicted")}


def _outputs(model: Element, targets: list[TargetField], function: str) -> list[OutputField]:
    out = []
    for of, of_target in _output_elements(model):
        feature = of.get("feature", "predictedValue")
        default_type = "double" if feature in ("probability", "probabilityWeight", "residual",
                                               "standardError", "affinity",
                                               "entityAffinity") else "string"
        if feature == "predictedValue" and targets:
            # no dataType: the predicted value has its target's type (R writes these)
            target = next((t for t in targets if t.name == of_target), targets[0])
            default_type = ("double" if function == "regression"
                            and target.data_type == "integer" else target.data_type)
        out.append(OutputField(of.get("name", ""), of.get("dataType", default_type), feature,
                               of.get("value"), of.get("isFinalResult", "true") != "false",
                               of_target))
    return out


def _columns(model: Element, function: str, targets: list[TargetField],
             outputs: list[OutputField]) -> list[Column]:
    """The output contract: each target's predicted value, each class's probability (a
    single-target classifier's ``probability(<class>)``; a multi-target model's, declared by
    its segments as sklearn2pmml does, ``probability(<target>, <class>)``), then the
    declared outputs."""
    finals = [o for o in outputs if o.final]
    if targets:
        # a regression predicts real numbers: an integer target is integer only when the
        # PMML says how to make it one (Target castInteger); pmmlkit never truncates
        cols = [Column(t.name, "target", "double" if function == "regression"
                       and t.data_type == "integer" and t.cast_integer is None
                       else t.data_type, t.name) for t in targets]
    elif _local(model.tag) == "AssociationModel":
        cols = []  # association rules predict nothing: their outputs are the result
    else:  # a cluster id, or the score of a model without target (anomaly detection)
        cols = [Column("prediction", "target", "double" if function == "regression" else "string",
                       None)]
    declared_probs = {o.value: o for o in finals if o.feature == "probability" and o.value}
    if len(targets) == 1 and function == "classification" and computes_probabilities(model):
        t = targets[0]
        for cat in t.categories or model_categories(model):
            if cat not in declared_probs:
                cols.append(Column(f"probability({cat})", "probability", "double", t.name, cat))
    taken = {c.name for c in cols}
    for o in finals:
        if o.name not in taken:
            cols.append(Column(o.name, "output", o.data_type, o.name, o.value))
            taken.add(o.name)
    return cols


#: classification models whose result is a probability distribution by the PMML spec
_PROBABILISTIC = frozenset({"RegressionModel", "GeneralRegressionModel", "NaiveBayesModel",
                            "NeuralNetwork"})
#: segmentation methods whose result is a probability distribution whatever the segments give
_VOTING = frozenset({"majorityVote", "weightedMajorityVote"})
#: segmentation methods that combine the segments' own distributions
_AVERAGING = frozenset({"average", "weightedAverage", "median", "max"})


def inner_models(elem: Element) -> list[Element]:
    """The model elements directly inside ``elem`` (a Segment, or the PMML root)."""
    return [c for c in elem if _local(c.tag) in MODEL_ELEMENTS]


def computes_probabilities(model: Element) -> bool:
    """Whether a classification model yields class probabilities (PMML 4.4 semantics).

    Regression, general regression, naive Bayes and neural network classifiers do; an SVM
    does when it votes (``OneAgainstOne``), not when it measures distances (``OneAgainstAll``,
    the default: KNIME and R's kernlab write these); a tree does when its nodes carry
    ScoreDistributions; an ensemble does when it votes, or when
    every segment it may take its distribution from does. Nearest-neighbour (votes and
    affinities), rule sets (confidences) and scorecards do not: pmmlkit never invents them.
    """
    tag = _local(model.tag)
    if tag in _PROBABILISTIC:
        return True
    if tag == "SupportVectorMachineModel":
        return model.get("classificationMethod", "OneAgainstAll") == "OneAgainstOne"
    if tag == "TreeModel":
        return any(_local(e.tag) == "ScoreDistribution" for e in model.iter())
    if tag != "MiningModel":
        return False
    segmentation = _child(model, "Segmentation")
    if segmentation is None:
        return False
    method = segmentation.get("multipleModelMethod", "")
    segments = [m for s in _children(segmentation, "Segment") for m in inner_models(s)[:1]]
    if method in _VOTING:
        return True
    if method == "modelChain":
        return bool(segments) and computes_probabilities(segments[-1])
    if method in _AVERAGING or method == "selectFirst":
        return bool(segments) and all(computes_probabilities(m) for m in segments)
    return False


_CATEGORY_SOURCES = {"RegressionTable": "targetCategory", "ScoreDistribution": "value",
                     "PCell": "targetCategory", "TargetValueCount": "value",
                     "SupportVectorMachine": "targetCategory"}


def model_categories(model: Element) -> tuple[str, ...]:
    """Class labels named inside a model, in document order: used when the target's DataField
    lists no values (several exporters and the spec's own examples leave them out)."""
    found: dict[str, None] = {}
    for elem in model.iter():
        tag = _local(elem.tag)
        attribute = _CATEGORY_SOURCES.get(tag)
        if attribute and elem.get(attribute) is not None:
            found.setdefault(elem.get(attribute, ""), None)
        if tag == "SupportVectorMachine" and elem.get("alternateTargetCategory") is not None:
            found.setdefault(elem.get("alternateTargetCategory", ""), None)
        if tag == "GeneralRegressionModel" and elem.get("targetReferenceCategory") is not None:
            found.setdefault(elem.get("targetReferenceCategory", ""), None)
    return tuple(found)


def _verification(model: Element) -> VerificationRecords | None:
    mv = _child(model, "ModelVerification")
    if mv is None:
        return None
    vfields: dict[str, dict[str, Any]] = {}
    column_to_field: dict[str, str] = {}
    vf_parent = _child(mv, "VerificationFields")
    for vf in _children(vf_parent, "VerificationField") if vf_parent is not None else []:
        name = vf.get("field", "")
        column = vf.get("column") or name
        column = column.split(":", 1)[-1]
        vfields[name] = {"column": column, "precision": float(vf.get("precision", "1e-6")),
                         "zero_threshold": float(vf.get("zeroThreshold", "1e-16"))}
        column_to_field[column] = name
    table = _child(mv, "InlineTable")
    rows: list[dict[str, str | None]] = []
    for row in _children(table, "row") if table is not None else []:
        record: dict[str, str | None] = {}
        for cell in row:
            col = _local(cell.tag)
            record[column_to_field.get(col, col)] = cell.text
        rows.append(record)
    return VerificationRecords(vfields, rows)


def is_missing(value: Any) -> bool:
    """None, NaN and the empty string are missing values."""
    if value is None:
        return True
    if type(value).__name__ == "NAType":  # pandas' NA
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value == ""
    try:
        return bool(value != value)  # numpy / pandas NA-like scalars
    except (TypeError, ValueError):
        return False

"""The output contract a document implies: its targets, output fields and columns, and
whether the model computes probabilities."""


from __future__ import annotations

from xml.etree.ElementTree import Element

from pmmlkit.schema.document import _child, _children, _local, inner_models
from pmmlkit.schema.fields import Column, OutputField, TargetField


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

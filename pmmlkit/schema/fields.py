"""What a PMML document declares, as pmmlkit reads it: fields, targets, outputs, the
output contract's columns, verification records (:class:`ModelSchema`), and their JSON form."""


from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

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

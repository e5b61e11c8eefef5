"""PMML4S backend (the engine behind pypmml), called in-process rather than through Py4J."""

from __future__ import annotations

import warnings
from importlib.metadata import version
from typing import Any

from pmmlkit._boundary import java
from pmmlkit.errors import ModelLoadError
from pmmlkit.schema import Column, ModelSchema
from pmmlkit.scorer.backends import _jvm
from pmmlkit.scorer.backends.base import Backend, Handle


class PypmmlBackend(Backend):
    """Builds ``org.pmml4s.model.Model`` objects with supplementary outputs switched on.

    PMML4S reads a value it cannot parse, or one that is not valid, as missing and scores it;
    so its inputs are prepared by JPMML-Evaluator's input rules first (the bridge's
    ``Pmml4sScorer``), and a value those rules refuse fails its row, whichever evaluator
    scores."""

    name = "pypmml"

    def load(self, pmml: bytes, schema: ModelSchema, *, source: str,
             options: dict[str, Any]) -> Handle:
        jpype = _jvm.ensure_jvm()
        with java(f"{source}: PMML4S cannot load the model", ModelLoadError):
            model = jpype.JClass("org.pmml4s.model.Model").fromBytes(jpype.JArray(jpype.JByte)(pmml))
            model.setSupplementOutput(True)
            names = [str(n) for n in model.outputNames()]
        if any(kind == "cox" for kind, _ in schema.traits):
            warnings.warn(
                f"{source}: PMML4S computes Cox regressions differently from JPMML-Evaluator "
                "and from R, which wrote them (on R's Lung model: 0.946 against R's own "
                "0.701 for the same record); score Cox models with backend='jpmml' (the "
                "default)", UserWarning, stacklevel=4)
        index = [_output_index(c, names, schema, source) for c in schema.columns]
        scorer_class = jpype.JClass("pmmlkit.bridge.Pmml4sScorer")
        # JPMML-Evaluator's input rules for this document (None: JPMML cannot read it)
        fields = scorer_class.inputFields(jpype.JArray(jpype.JByte)(pmml), model.inputNames())
        scorer = scorer_class(model, jpype.JArray(jpype.JInt)(index), fields)
        handle = Handle(scorer, schema, source=source, description=f"PMML4S {self.version()}")
        handle.refuse_plan("the plan reproduces JPMML-Evaluator, not PMML4S")
        return handle

    def version(self) -> str:
        return version("pypmml")


def _output_index(column: Column, names: list[str], schema: ModelSchema, source: str) -> int:
    if column.kind == "target":
        candidates = [f"predicted_{column.key}", column.key or ""] if column.key else [
            "predicted_cluster", "cluster"]
        # PMML4S adds no predicted_<target> when the PMML declares a predictedValue output
        candidates += [o.name for o in schema.outputs if o.feature == "predictedValue"
                       and o.value is None]
    elif column.kind == "probability":
        candidates = [f"probability_{column.category}", f"probability({column.category})"]
        candidates += _numeric_probability_names(column, names, schema)
    else:
        candidates = [column.name]
    for candidate in candidates:
        if candidate in names:
            return names.index(candidate)
    raise ModelLoadError(f"{source}: PMML4S gives no output for column {column.name!r} "
                         f"(its outputs: {names})")


def _numeric_probability_names(column: Column, names: list[str], schema: ModelSchema
                               ) -> list[str]:
    """PMML4S names probabilities by the label's canonical number (``probability_1`` for a
    double label written ``1.0``): match those by value for a numeric target."""
    if not schema.targets or schema.targets[0].data_type not in ("double", "float", "integer"):
        return []
    wanted = _number(column.category)
    return [n for n in names if n.startswith("probability_") and wanted is not None
            and _number(n[len("probability_"):]) == wanted]


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


BACKEND_CLASS = PypmmlBackend

"""JPMML-Evaluator backend (the default): exact scikit-learn parity, optional transpiling."""

from __future__ import annotations

import warnings
from importlib.metadata import version
from typing import Any

from pmmlkit.errors import ModelLoadError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.backends import _jvm
from pmmlkit.scorer.backends.base import Backend, Handle

_TREE_MODELS = frozenset({"TreeModel", "MiningModel"})
#: JPMML computes class probabilities only when an output field asks for them, so pmmlkit
#: declares one per class that the PMML does not declare itself, and reads it as an output.
_JPMML_KINDS = {"target": 0, "probability": 2, "output": 2}


class JpmmlBackend(Backend):
    """Builds ``org.jpmml.evaluator`` evaluators.

    ``transpile`` compiles the model to Java bytecode with JPMML-Transpiler, several times
    faster on tree ensembles. The default (None) transpiles tree models and ensembles when the
    JVM is a JDK; other models gain nothing measurable. A model that cannot be transpiled falls
    back to the interpreting evaluator with a warning.
    """

    name = "jpmml"

    def load(self, pmml: bytes, schema: ModelSchema, *, source: str,
             options: dict[str, Any]) -> Handle:
        jpype = _jvm.ensure_jvm()
        transpile = options.get("transpile")
        if transpile is None:
            transpile = schema.model_element in _TREE_MODELS and _jvm.has_compiler()
        evaluator = None
        mode = "interpreted"
        if transpile:
            try:
                evaluator = _build(jpype, pmml, schema, transpile=True)
                mode = "transpiled"
            except jpype.JException as exc:
                warnings.warn(f"{source}: JPMML could not transpile the model ({exc}); "
                              "using the interpreting evaluator", stacklevel=3)
        if evaluator is None:
            try:
                evaluator = _build(jpype, pmml, schema, transpile=False)
            except jpype.JException as exc:
                raise ModelLoadError(f"{source}: JPMML-Evaluator cannot load the model: "
                                     f"{exc.getClass().getSimpleName()}: {exc.getMessage()}"
                                     ) from exc
        columns = schema.columns
        scorer = jpype.JClass("pmmlkit.bridge.JpmmlScorer")(
            evaluator, jpype.JArray(jpype.JString)(schema.input_names),
            jpype.JArray(jpype.JInt)([_JPMML_KINDS[c.kind] for c in columns]),
            jpype.JArray(jpype.JString)([c.name if c.kind == "probability" else c.key
                                         for c in columns]),
            jpype.JArray(jpype.JString)([c.category for c in columns]))
        return Handle(scorer, schema, source=source,
                      description=f"JPMML-Evaluator {self.version()} ({mode})")

    def version(self) -> str:
        return "1.7 via jpmml-evaluator " + version("jpmml-evaluator")


def _build(jpype: Any, pmml: bytes, schema: ModelSchema, *, transpile: bool) -> Any:
    stream = jpype.JClass("java.io.ByteArrayInputStream")(jpype.JArray(jpype.JByte)(pmml))
    builder = jpype.JClass("org.jpmml.evaluator.LoadingModelEvaluatorBuilder")()
    builder.load(stream)
    _declare_probabilities(jpype, builder.getModel(), schema)
    if transpile:
        transpiler = jpype.JClass("org.jpmml.transpiler.InMemoryTranspiler")(None)
        builder.transform(jpype.JClass("org.jpmml.transpiler.TranspilerTransformer")(transpiler))
    evaluator = builder.build()
    return evaluator


def _declare_probabilities(jpype: Any, model: Any, schema: ModelSchema) -> None:
    wanted = [c for c in schema.columns if c.kind == "probability"]
    if not wanted:
        return
    output = model.getOutput()
    if output is None:
        output = jpype.JClass("org.dmg.pmml.Output")()
        model.setOutput(output)
    op_type = jpype.JClass("org.dmg.pmml.OpType").CONTINUOUS
    data_type = jpype.JClass("org.dmg.pmml.DataType").DOUBLE
    feature = jpype.JClass("org.dmg.pmml.ResultFeature").PROBABILITY
    field_class = jpype.JClass("org.dmg.pmml.OutputField")
    for column in wanted:
        declared = field_class(column.name, op_type, data_type)
        declared.setResultFeature(feature)
        declared.setValue(column.category)
        output.addOutputFields(declared)


BACKEND_CLASS = JpmmlBackend

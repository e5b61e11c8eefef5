"""JPMML-Evaluator backend (the default): exact scikit-learn parity, optional transpiling."""

from __future__ import annotations

import warnings
from importlib.metadata import version
from typing import Any

from pmmlkit.errors import ModelLoadError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.backends import _jvm
from pmmlkit.scorer.backends.base import Backend, Handle

_KINDS = {"target": 0, "probability": 1, "output": 2}


class JpmmlBackend(Backend):
    """Builds ``org.jpmml.evaluator`` evaluators.

    ``transpile`` (default: on when the JVM is a JDK) compiles the model to Java bytecode with
    JPMML-Transpiler, several times faster on tree ensembles; it falls back to the
    interpreting evaluator, with a warning, when the model cannot be transpiled.
    """

    name = "jpmml"

    def load(self, pmml: bytes, schema: ModelSchema, *, source: str,
             options: dict[str, Any]) -> Handle:
        jpype = _jvm.ensure_jvm()
        transpile = options.get("transpile")
        if transpile is None:
            transpile = _jvm.has_compiler()
        evaluator = None
        if transpile:
            try:
                evaluator = _build(jpype, pmml, transpile=True)
            except jpype.JException as exc:
                warnings.warn(f"{source}: JPMML could not transpile the model ({exc}); "
                              "using the interpreting evaluator", stacklevel=3)
        if evaluator is None:
            try:
                evaluator = _build(jpype, pmml, transpile=False)
            except jpype.JException as exc:
                raise ModelLoadError(f"{source}: JPMML-Evaluator cannot load the model: "
                                     f"{exc.getClass().getSimpleName()}: {exc.getMessage()}"
                                     ) from exc
        columns = schema.columns
        scorer = jpype.JClass("pmmlkit.bridge.JpmmlScorer")(
            evaluator, jpype.JArray(jpype.JString)(schema.input_names),
            jpype.JArray(jpype.JInt)([_KINDS[c.kind] for c in columns]),
            jpype.JArray(jpype.JString)([c.key for c in columns]),
            jpype.JArray(jpype.JString)([c.category for c in columns]))
        mode = "transpiled" if transpile and evaluator is not None else "interpreted"
        return Handle(scorer, schema, source=source,
                      description=f"JPMML-Evaluator {self.version()} ({mode})")

    def version(self) -> str:
        return "1.7 via jpmml-evaluator " + version("jpmml-evaluator")


def _build(jpype: Any, pmml: bytes, *, transpile: bool) -> Any:
    stream = jpype.JClass("java.io.ByteArrayInputStream")(jpype.JArray(jpype.JByte)(pmml))
    builder = jpype.JClass("org.jpmml.evaluator.LoadingModelEvaluatorBuilder")()
    builder.load(stream)
    if transpile:
        transpiler = jpype.JClass("org.jpmml.transpiler.InMemoryTranspiler")(None)
        builder.transform(jpype.JClass("org.jpmml.transpiler.TranspilerTransformer")(transpiler))
    evaluator = builder.build()
    return evaluator


BACKEND_CLASS = JpmmlBackend

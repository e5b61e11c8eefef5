"""JPMML-Evaluator backend (the default): exact scikit-learn parity, optional transpiling."""

from __future__ import annotations

import hashlib
import os
import re
from importlib.metadata import version
from typing import Any

from pmmlkit._boundary import java, java_message
from pmmlkit.errors import ConfigurationError, ModelLoadError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.backends import _compiled, _jars, _jvm, _parsed
from pmmlkit.scorer.backends.base import Backend, Handle

#: JPMML computes class probabilities only when an output field asks for them, so pmmlkit
#: declares one per class that the PMML does not declare itself, and reads it as an output.

#: where compiling pays by default: tree ensembles gain several times; a linear model gains
#: little for seconds of compiler CPU (docs/performance.md, "Defaults and what they rest on")
_ENSEMBLES = frozenset({"TreeModel", "MiningModel"})


class JpmmlBackend(Backend):
    """Builds ``org.jpmml.evaluator`` evaluators.

    ``transpile`` compiles the model to Java bytecode with JPMML-Transpiler (several times
    faster on tree ensembles; a linear model gains little): ``None`` (default) follows
    ``PMMLKIT_TRANSPILE`` (default ``auto``: tree models and ensembles in the background when
    the JVM is a JDK), ``True`` at load, ``False`` never. Scoring starts with the interpreter; the
    compiled model is cached on disk and replaces it only once it reproduces it. A later
    process finds the verified jar and starts from it without parsing the PMML (see
    ``_compiled``).
    """

    name = "jpmml"

    def load(self, pmml: bytes, schema: ModelSchema, *, source: str,
             options: dict[str, Any]) -> Handle:
        refusal = refusal_reason(schema)
        if refusal is not None:
            raise ModelLoadError(f"{source}: JPMML-Evaluator cannot score this model: {refusal}")
        jpype = _jvm.ensure_jvm()
        pmml = normalise_namespace(pmml)
        transpile = options.get("transpile")
        if transpile is None:
            transpile = _jars.default_mode(schema.model_element in _ENSEMBLES)
        sha256 = hashlib.sha256(pmml).hexdigest()
        if transpile is not False:
            cached = _load_verified(jpype, sha256, schema, source, self.version())
            if cached is not None:
                parsed = _parsed.load(jpype, sha256) if plan_enabled() else None
                if parsed is not None:
                    offer_plan(jpype, cached, parsed, schema)
                else:
                    cached.refuse_plan("off (PMMLKIT_PLAN=off)" if not plan_enabled() else
                                       "the document's parsed form is not cached")
                return cached
        evaluator = _parsed.load(jpype, sha256)
        if evaluator is None:
            with java(f"{source}: JPMML-Evaluator cannot load the model", ModelLoadError):
                builder = _build(jpype, pmml, schema)
                evaluator = builder.build()
            _parsed.store(jpype, sha256, builder.getPMML())
        handle = Handle(_scorer(jpype, evaluator, schema), schema, source=source,
                        description=f"JPMML-Evaluator {self.version()} (interpreted)")
        if plan_enabled():
            offer_plan(jpype, handle, evaluator, schema)
        else:
            handle.refuse_plan("off (PMMLKIT_PLAN=off)")
        if transpile is False or (transpile is None and not _jvm.has_compiler()):
            return handle  # a JRE cannot compile; a verified jar from a JDK still loads
        compilation = _compiled.obtain(jpype, sha256, source, pmml,
                                       lambda: prepared_pmml(jpype, pmml, schema),
                                       background=not transpile)
        if transpile:
            compilation.wait()
            compilation.poll()  # warns at once when it failed
        handle.offer(compilation, lambda compiled: _scorer(jpype, compiled, schema))
        return handle

    def version(self) -> str:
        return "1.7 via jpmml-evaluator " + version("jpmml-evaluator")


def plan_enabled() -> bool:
    """``PMMLKIT_PLAN``: ``on`` (default) offers each model a columnar plan
    (``pmmlkit.bridge.Plan``); ``off`` scores every row through the evaluator."""
    text = os.environ.get("PMMLKIT_PLAN", "on").strip().lower()
    if text not in ("on", "off"):
        raise ConfigurationError(f"PMMLKIT_PLAN={text!r}: use 'on' or 'off'")
    return text == "on"


def offer_plan(jpype: Any, handle: Handle, evaluator: Any, schema: ModelSchema) -> None:
    """Build the columnar plan of ``evaluator``'s document and offer it to ``handle``, or
    record why there is none (the first element the plan does not support)."""
    columns = schema.columns
    keys = [c.name if c.kind == "probability" else c.key for c in columns]
    try:
        plan = jpype.JClass("pmmlkit.bridge.Plan").build(
            evaluator, jpype.JArray(jpype.JString)(schema.input_names),
            jpype.JArray(jpype.JString)(keys))
    except jpype.JException as exc:  # Plan.Unsupported, or a document it cannot read
        if not isinstance(exc, jpype.JClass("pmmlkit.bridge.Plan$Unsupported")):
            handle.refuse_plan(f"not supported: {java_message(exc)}")
        else:
            handle.refuse_plan(f"not supported: {exc.getMessage()}")
        return
    handle.offer_plan(plan, str(plan.summary()), _scorer(jpype, evaluator, schema))


#: JPMML 1.7 loads these but fails on every record that needs them
_UNSUPPORTED_STRATEGIES = frozenset({"weightedConfidence", "aggregateNodes"})
_HTTPS_NAMESPACE = re.compile(rb'(xmlns(?::[\w.-]+)?=["\'])https://www\.dmg\.org/PMML-(\d_\d)')


def refusal_reason(schema: ModelSchema) -> str | None:
    """Why JPMML cannot score a document it would load, in a user's words; None if it can."""
    strategies = _UNSUPPORTED_STRATEGIES.intersection(schema.tree_strategies)
    if strategies:
        return (f"TreeModel@missingValueStrategy=\"{sorted(strategies)[0]}\" is not supported "
                "by JPMML-Evaluator (it fails on every record with a missing value); use "
                "backend='pypmml', or export the tree with 'defaultChild' or 'lastPrediction'")
    target = schema.targets[0] if schema.targets else None
    if (target is not None and schema.function_name == "regression"
            and target.data_type == "integer" and target.cast_integer is None):
        return (f"the regression target {target.name!r} is declared dataType=\"integer\" but the "
                "model predicts real numbers, and JPMML refuses to round them (it fails on "
                "every record). Fix the PMML: add <Targets><Target field=\""
                f"{target.name}\" castInteger=\"round\"/></Targets> to the model, or declare "
                "the target dataType=\"double\"")
    declared = [o.name for o in schema.outputs if o.feature == "probability"]
    if declared and schema.function_name == "classification" and not schema.probabilistic:
        return (f"the document declares probability outputs ({', '.join(declared[:3])}) for a "
                f"{schema.model_element} that computes no probability distribution by the "
                "PMML spec (a one-against-all SVM measures distances; a tree without "
                "ScoreDistributions, a rule set and nearest neighbours do not either), and "
                "JPMML-Evaluator fails on every record. Remove those OutputFields, or give the "
                "model what defines them (an SVM: classificationMethod=\"OneAgainstOne\")")
    for kind, what in schema.traits:
        if kind == "parameter-as-text":
            function, param = what.split(":", 1)
            return (f"DefineFunction {function!r} passes its parameter {param!r} as the text "
                    f"constant {param!r} instead of a FieldRef (a known SAS Enterprise Miner "
                    "export defect): JPMML-Evaluator reads the text as a number and fails on "
                    f"every record. Fix the PMML: write <FieldRef field=\"{param}\"/> there")
        if kind == "residual":
            return (f"the document declares residual outputs ({what}), which need the "
                    "target's actual value; pmmlkit's inputs never include the target, and "
                    "JPMML-Evaluator fails on every record without it. Remove those "
                    "OutputFields to score with JPMML-Evaluator")
        if kind == "contrast-matrix":
            return (f"the factor {what!r} is coded by a contrast matrix (Predictor@"
                    "contrastMatrixType) and its PPCells name a category, not a column of the "
                    "matrix: JPMML-Evaluator refuses them on every record (\"PPCell is not "
                    "valid\"). Fix the PMML: give the matrix column in PPCell@value")
    return None


def normalise_namespace(pmml: bytes) -> bytes:
    """SAS and others write the PMML namespace as ``https://www.dmg.org/PMML-4_x``; the spec
    (and JPMML) use ``http://``. Only the namespace declaration changes."""
    return _HTTPS_NAMESPACE.sub(rb"\1http://www.dmg.org/PMML-\2", pmml, count=2)


def _load_verified(jpype: Any, sha256: str, schema: ModelSchema, source: str,
                   version: str) -> Handle | None:
    """The handle of a verified compiled jar of this PMML, or None (none cached, or unusable)."""
    path = _jars.verified_jar(sha256)
    if path is None:
        return None
    try:
        evaluator = _jars.load_jar(jpype, path)
    except Exception:  # a damaged cache entry: parse the PMML as if it were not there
        return None
    return Handle(_scorer(jpype, evaluator, schema), schema, source=source,
                  description=f"JPMML-Evaluator {version} (transpiled)")


def _build(jpype: Any, pmml: bytes, schema: ModelSchema, *, for_compiling: bool = False) -> Any:
    """A builder holding the parsed document, with pmmlkit's probability outputs declared.

    ``for_compiling`` skips JPMML's post-parse visitors: they make the object graph's lists
    immutable (to save memory), and JPMML-Transpiler's model-chain translator then fails
    adding to them (``UnsupportedOperationException``, measured on Spark's GBT)."""
    stream = jpype.JClass("java.io.ByteArrayInputStream")(jpype.JArray(jpype.JByte)(pmml))
    builder = jpype.JClass("org.jpmml.evaluator.LoadingModelEvaluatorBuilder")()
    if for_compiling:
        builder.setVisitors(jpype.JClass("org.jpmml.model.visitors.VisitorBattery")())
    builder.load(stream)
    _declare_probabilities(jpype, builder.getModel(), schema)
    return builder


def prepared_pmml(jpype: Any, pmml: bytes, schema: ModelSchema) -> Any:
    """The document as pmmlkit gives it to the evaluator, as a JPMML object graph: what the
    compiled model is compiled from."""
    document = _build(jpype, pmml, schema, for_compiling=True).getPMML()
    for model in document.getModels():
        _double_weights(jpype, model)
    return document


def _double_weights(jpype: Any, model: Any) -> None:
    """Give every ensemble segment an explicit Double weight (the same number).

    JPMML-Transpiler fails with ``IllegalArgumentException: java.lang.Number`` on a weighted
    sum whose weights are not all Doubles: Spark's GBT leaves its first tree's weight to the
    default, the Integer 1. Only the compiled model is built from this copy, and it replaces
    the interpreter only after reproducing it on real rows.
    """
    mining = jpype.JClass("org.dmg.pmml.mining.MiningModel")
    double = jpype.JClass("java.lang.Double")
    if not isinstance(model, mining) or model.getSegmentation() is None:
        return
    for segment in model.getSegmentation().getSegments():
        weight = segment.getWeight()
        if not isinstance(weight, double):
            segment.setWeight(double(float(weight.doubleValue())))
        _double_weights(jpype, segment.getModel())


def _scorer(jpype: Any, evaluator: Any, schema: ModelSchema) -> Any:
    columns = schema.columns
    return jpype.JClass("pmmlkit.bridge.JpmmlScorer")(
        evaluator, jpype.JArray(jpype.JString)(schema.input_names),
        jpype.JArray(jpype.JString)([c.name if c.kind == "probability" else c.key
                                     for c in columns]))


def _declare_probabilities(jpype: Any, model: Any, schema: ModelSchema) -> None:
    """Ask JPMML for the class probabilities of the output contract.

    JPMML computes a probability distribution only for a model whose Output asks for one, so
    pmmlkit declares an OutputField per class the PMML does not declare itself. The schema
    only lists probability columns for models that can compute them (see
    :func:`pmmlkit.schema.computes_probabilities`). The category is given typed (an
    ``Integer`` for an integer target, a ``Double`` for a double one): JPMML keys the
    distribution by typed values, and a text key would silently read 0.0.
    """
    if not schema.targets:
        return
    parse = jpype.JClass("org.jpmml.evaluator.TypeUtil").parse
    data_type = jpype.JClass("org.dmg.pmml.DataType").fromValue(schema.targets[0].data_type)
    _type_declared_probabilities(jpype, model, parse, data_type)
    wanted = [c for c in schema.columns if c.kind == "probability"]
    if not wanted:
        return
    typed = [(c.name, parse(data_type, c.category)) for c in wanted]
    _add_probability_outputs(jpype, model, typed, final=True)
    # a selectFirst ensemble hands on the distribution of the segment it picks, which JPMML
    # computes only when that segment's own Output asks for it
    for depth, inner in enumerate(_selected_segments(jpype, model)):
        hidden = [(f"pmmlkit.probability.{depth}.{k}", value) for k, (_, value) in enumerate(typed)]
        _add_probability_outputs(jpype, inner, hidden, final=False)


def _type_declared_probabilities(jpype: Any, model: Any, parse: Any, data_type: Any) -> None:
    """The document's own probability outputs, keyed by the typed label: JPMML reads a text
    key as 0.0 when the distribution comes from a segment with numeric labels."""
    output = model.getOutput()
    if output is None or not output.hasOutputFields():
        return
    feature = jpype.JClass("org.dmg.pmml.ResultFeature").PROBABILITY
    text = jpype.JClass("java.lang.String")
    for declared in output.getOutputFields():
        value = declared.getValue()
        if declared.getResultFeature() == feature and isinstance(value, text):
            declared.setValue(parse(data_type, value))


def _selected_segments(jpype: Any, model: Any) -> list[Any]:
    mining = jpype.JClass("org.dmg.pmml.mining.MiningModel")
    method = jpype.JClass("org.dmg.pmml.mining.Segmentation$MultipleModelMethod")
    found: list[Any] = []
    if isinstance(model, mining) and model.getSegmentation() is not None:
        segmentation = model.getSegmentation()
        if segmentation.getMultipleModelMethod() == method.SELECT_FIRST:
            for segment in segmentation.getSegments():
                found.append(segment.getModel())
                found.extend(_selected_segments(jpype, segment.getModel()))
    return found


def _add_probability_outputs(jpype: Any, model: Any, fields: list[tuple[str, Any]], *,
                             final: bool) -> None:
    # a new Output holding the document's fields first: JPMML's post-parse visitors leave a
    # short list immutable (an Output of one field, as R's LIBSVM export writes, refused
    # additions with UnsupportedOperationException)
    existing = model.getOutput()
    output = jpype.JClass("org.dmg.pmml.Output")()
    if existing is not None:
        if existing.hasExtensions():
            output.addExtensions(*existing.getExtensions())
        if existing.hasOutputFields():
            output.addOutputFields(*existing.getOutputFields())
    model.setOutput(output)
    op_type = jpype.JClass("org.dmg.pmml.OpType").CONTINUOUS
    data_type = jpype.JClass("org.dmg.pmml.DataType").DOUBLE
    feature = jpype.JClass("org.dmg.pmml.ResultFeature").PROBABILITY
    field_class = jpype.JClass("org.dmg.pmml.OutputField")
    for name, value in fields:
        declared = field_class(name, op_type, data_type)
        declared.setResultFeature(feature)
        declared.setValue(value)
        if not final:
            declared.setFinalResult(False)
        output.addOutputFields(declared)


BACKEND_CLASS = JpmmlBackend

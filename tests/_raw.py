"""The raw evaluators, called directly through JPype with no pmmlkit code in between.

They are the oracles of the spec-zoo tests: pmmlkit must give exactly what JPMML-Evaluator's
``Evaluator.evaluate`` and PMML4S's ``Model.predict`` give for the same record.
"""

from __future__ import annotations

from typing import Any


def _jpype() -> Any:
    from pmmlkit.scorer.backends import _jvm

    return _jvm.ensure_jvm()


def _arguments(jpype: Any, record: dict[str, Any]) -> Any:
    """A record as Java values, typed as a Java caller would type them: str a String, float a
    Double, bool a Boolean, int a Long; anything else its text."""
    arguments = jpype.JClass("java.util.HashMap")()
    for key, value in record.items():
        if value is None:
            arguments.put(key, None)
        elif isinstance(value, bool):
            arguments.put(key, jpype.JClass("java.lang.Boolean")(value))
        elif isinstance(value, float):
            arguments.put(key, jpype.JDouble(value))
        elif isinstance(value, int):
            arguments.put(key, jpype.JClass("java.lang.Long")(value))
        else:
            arguments.put(key, jpype.JString(str(value)))
    return arguments


def plain(jpype: Any, value: Any) -> Any:
    """A Java result value as a Python value (Computable -> its result)."""
    if value is None:
        return None
    if isinstance(value, jpype.JClass("org.jpmml.evaluator.Computable")):
        value = value.getResult()
    if isinstance(value, jpype.JClass("java.lang.Boolean")):
        return bool(value)
    if isinstance(value, jpype.JClass("java.lang.Number")):
        number = float(value.doubleValue())
        if number != number:
            return None  # PMML4S's missing value
        return int(number) if isinstance(value, jpype.JClass("java.lang.Integer")) else number
    return str(value)


def jpmml(xml: str, records: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
    """``Evaluator.evaluate`` per record: the decoded result map, or the exception it raised."""
    jpype = _jpype()
    stream = jpype.JClass("java.io.ByteArrayInputStream")(jpype.JArray(jpype.JByte)(xml.encode()))
    builder = jpype.JClass("org.jpmml.evaluator.LoadingModelEvaluatorBuilder")()
    builder.load(stream)
    return _each(jpype, records, builder.build().evaluate)


def pmml4s(xml: str, records: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
    """PMML4S's ``Model.predict(Map)`` per record: its output map, or the exception. With
    PMML4S's own "supplement output" switch on (as pypmml's ``supplementOutput=True``): the
    model's full result even where the document declares only some outputs."""
    jpype = _jpype()
    model = jpype.JClass("org.pmml4s.model.Model").fromBytes(
        jpype.JArray(jpype.JByte)(xml.encode()))
    model.setSupplementOutput(True)
    return _each(jpype, records, model.predict)


def _each(jpype: Any, records: list[dict[str, Any]], call: Any) -> list[dict[str, Any] | Exception]:
    """``call`` (a Java method taking a Map) per record: the decoded map, or the exception."""
    out: list[dict[str, Any] | Exception] = []
    for record in records:
        try:
            result = call(_arguments(jpype, record))
        except jpype.JException as exc:
            out.append(exc)
            continue
        out.append({None if k is None else str(k): plain(jpype, v) for k, v in result.items()})
    return out

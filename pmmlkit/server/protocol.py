"""Request bodies into input columns, outputs into answers: TF Serving's REST API and the
Open Inference Protocol (KServe V2), with pmmlkit's output contract.

Pure functions (no I/O), so each shape rule is tested on its own. A malformed body raises
:class:`BadRequest` naming what is wrong and where (``instances[3]``, ``inputs[1].data``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pmmlkit.errors import shown
from pmmlkit.schema import InputField, ModelSchema
from pmmlkit.scorer.contract import tf_dtype, v2_datatype, v2_input_datatype
from pmmlkit.scorer.validation import RowError

_SCALARS = (str, int, float, bool)


class BadRequest(Exception):
    """The request body does not have the shape the protocol requires."""


class HTTPError(Exception):
    """A request the core refuses: the HTTP status (gRPC maps it to its code) and why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _scalar(value: Any, where: str, field: InputField | None = None) -> Any:
    """One JSON value of an input; with the model's ``field``, the wire's typing rules:

    - a JSON boolean is not a number: refused for a numeric input (JPMML would take it as
      1 or 0, but no client means that);
    - a number that is not finite (``Infinity``, ``-Infinity``, ``1e400``, as a JSON number
      or as text) is refused for a numeric input unless the field declares a valid range
      (an ``Interval``): then the PMML says what happens to a value outside it (its
      invalid-value treatment), and the evaluator applies that;
    - ``NaN`` and ``null`` are missing values, as in the Python API.
    """
    if value is None or isinstance(value, _SCALARS):
        if field is not None and field.data_type in _NUMBERS and value is not None:
            _check_number(value, where, field)
        return value
    if isinstance(value, dict) and set(value) == {"b64"}:
        raise BadRequest(f"{where}: binary (b64) values are not model inputs of a PMML model")
    raise BadRequest(f"{where}: expected a single value (number, string, boolean or null), got "
                     f"a {type(value).__name__}")


_NUMBERS = frozenset({"double", "float", "integer"})


def _check_number(value: Any, where: str, field: InputField) -> None:
    if isinstance(value, bool):
        raise BadRequest(f"{where}: {str(value).lower()} is a boolean, and {field.name!r} is a "
                         f"numeric input ({field.data_type}); send a number")
    if field.intervals:
        return
    infinite = isinstance(value, float) and math.isinf(value)
    if isinstance(value, str):
        try:
            infinite = math.isinf(float(value.strip()))
        except ValueError:
            infinite = False
    if infinite:
        raise BadRequest(f"{where}: {value!r} is not a finite number, and {field.name!r} "
                         "declares no valid range that would say what to do with it; send a "
                         "finite number, or null for a missing value")


def _fields(schema: ModelSchema) -> dict[str, InputField]:
    return {f.name: f for f in schema.inputs}


@dataclass
class Request:
    """A request's input columns (every field read, None where an instance lacks it), its
    row count, and the names of every field it gives (for the column rule)."""

    columns: dict[str, list[Any]]
    rows: int
    given: list[str]


def instances_to_columns(instances: Any, schema: ModelSchema, *, limit: int,
                         names: Sequence[str] | None = None) -> Request:
    """TF row format: a list of objects, or of plain values for a one-input model.

    ``names`` are the fields to read (default: the model's inputs; a model with lookups reads
    the lookup keys instead of the inputs their vectors fill)."""
    if not isinstance(instances, list):
        raise BadRequest("'instances' must be a list")
    if len(instances) > limit:
        raise BadRequest(f"{len(instances)} instances; at most {limit} per request")
    names = list(schema.input_names if names is None else names)
    fields = _fields(schema)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    given: dict[str, None] = {}
    for i, instance in enumerate(instances):
        if isinstance(instance, dict):
            given.update(dict.fromkeys(instance))
            for name in names:
                columns[name].append(_scalar(instance.get(name), f"instances[{i}].{name}",
                                             fields.get(name)))
        elif len(names) == 1:
            given[names[0]] = None
            value = instance[0] if isinstance(instance, list) and len(instance) == 1 else instance
            columns[names[0]].append(_scalar(value, f"instances[{i}]", fields.get(names[0])))
        else:
            raise BadRequest(f"instances[{i}]: the model has {len(names)} inputs "
                             f"({', '.join(names)}); give each instance as an object")
    return Request(columns, len(instances), [str(g) for g in given])


def inputs_to_columns(inputs: Any, schema: ModelSchema, *, limit: int,
                      names: Sequence[str] | None = None) -> Request:
    """TF columnar format: an object of input name -> list, or a list for a one-input model."""
    names = list(schema.input_names if names is None else names)
    if isinstance(inputs, list) and len(names) == 1:
        inputs = {names[0]: inputs}
    if not isinstance(inputs, dict):
        raise BadRequest("'inputs' must be an object of input name -> list of values")
    lengths = {len(v) for v in inputs.values() if isinstance(v, list)}
    if any(not isinstance(v, list) for v in inputs.values()) or len(lengths) > 1:
        raise BadRequest("'inputs': every input must be a list, all of the same length")
    n = lengths.pop() if lengths else 0
    if n > limit:
        raise BadRequest(f"{n} rows; at most {limit} per request")
    fields = _fields(schema)
    columns = {name: [_scalar(v, f"inputs.{name}[{i}]", fields.get(name))
                      for i, v in enumerate(inputs[name])]
               if name in inputs else [None] * n for name in names}
    return Request(columns, n, [str(k) for k in inputs])


def examples_to_columns(body: dict[str, Any], schema: ModelSchema, *, limit: int,
                        names: Sequence[str] | None = None) -> Request:
    """TF classify/regress: ``examples`` (objects), each merged over ``context``."""
    examples = body.get("examples")
    context = body.get("context") or {}
    if not isinstance(examples, list) or not isinstance(context, dict):
        raise BadRequest("'examples' must be a list of objects and 'context' an object")
    merged = []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise BadRequest(f"examples[{i}]: expected an object of feature -> value")
        merged.append({**context, **example})
    return instances_to_columns(merged, schema, limit=limit, names=names)


def row_error_message(errors: list[RowError], what: str = "instance") -> str:
    """One message naming every bad row (up to ten): index, field, value and reason."""
    parts = [f"{what} {e.row}: {row_reason(e)}" for e in errors[:10]]
    more = f"; and {len(errors) - 10} more" if len(errors) > 10 else ""
    return "; ".join(parts) + more


def row_reason(error: RowError) -> str:
    """``field 'x' value 'abc': reason`` for each bad field of the row (``; ``-separated), or
    the reason alone for a row-level error."""
    parts = []
    for each in error.each():
        field = f"field {each.field!r}" if each.field else ""
        value = f" value {shown(each.value)}" if each.value is not None and each.field else ""
        parts.append(f"{field}{value}: {each.reason}" if field else each.reason)
    return "; ".join(parts)


def predictions(columns: dict[str, list[Any]], row_format: bool) -> Any:
    """TF ``predictions`` / ``outputs``: a plain list for one output column; else a list of
    objects (row format) or one object of lists (columnar)."""
    names = list(columns)
    if len(names) == 1:
        return columns[names[0]]
    if not row_format:
        return columns
    n = len(columns[names[0]]) if names else 0
    return [{name: columns[name][i] for name in names} for i in range(n)]


def classify_results(columns: dict[str, list[Any]], schema: ModelSchema) -> list[Any]:
    """TF ``:classify``: per example, ``[[label, score], ...]`` over the class probabilities;
    a classifier without probabilities answers ``[[label, 1.0]]`` for its prediction (the
    score of a hard vote, as TF gives a score to every label it returns)."""
    declared = {o.name for o in schema.outputs if o.feature == "probability" and o.value}
    probabilities = [c for c in schema.columns if c.kind == "probability"
                     or (c.kind == "output" and c.name in declared)]
    n = len(next(iter(columns.values()))) if columns else 0
    if probabilities:
        return [[[c.category, columns[c.name][i]] for c in probabilities] for i in range(n)]
    target = schema.columns[0].name
    return [[[None if v is None else str(v), 1.0]] for v in columns[target]]


def regress_results(columns: dict[str, list[Any]], schema: ModelSchema) -> list[Any]:
    return columns[schema.columns[0].name]


# -- Open Inference Protocol (KServe V2) ------------------------------------------------------
#: the Open Inference Protocol's tensor datatypes; integer ones with their ranges
_INT_RANGES = {f"INT{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)} | {
    f"UINT{b}": (0, 2 ** b - 1) for b in (8, 16, 32, 64)}
V2_DATATYPES = frozenset({"BOOL", "FP16", "FP32", "FP64", "BYTES", *_INT_RANGES})


def _v2_value(value: Any, datatype: str, where: str, field: InputField | None) -> Any:
    """A tensor element checked against its datatype, as KServe and Triton check them (and
    null as a missing value, which PMML has and tensors do not)."""
    if isinstance(value, list):
        raise BadRequest(f"{where}: expected a single value, got a list")
    if value is None:
        return None
    if datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype in _INT_RANGES:
        low, high = _INT_RANGES[datatype]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif datatype == "BYTES":
        ok = isinstance(value, str)
    else:  # FP16, FP32, FP64
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise BadRequest(f"{where}: {json_text(value)} is not a {datatype} value")
    return _scalar(value, where, field)


def json_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def v2_inputs_to_columns(body: dict[str, Any], schema: ModelSchema, *, limit: int,
                         names: Sequence[str] | None = None) -> Request:
    """``inputs``: named tensors ``{"name", "shape", "datatype", "data"}``, one per model input,
    each of shape ``[n]`` (or ``[n, 1]``); ``data`` flat or nested one level."""
    tensors = body.get("inputs")
    if not isinstance(tensors, list):
        raise BadRequest("'inputs' must be a list of tensors")
    fields = _fields(schema)
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    for k, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest(f"inputs[{k}]: a tensor is an object with name, shape, datatype "
                             "and data")
        name = tensor["name"]
        data = tensor.get("data")
        shape = tensor.get("shape")
        if not isinstance(data, list):
            raise BadRequest(f"inputs[{k}] ({name}): 'data' must be a list")
        flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
        if not isinstance(shape, list) or not shape or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in shape) or \
                math.prod(shape) != len(flat) or any(s != 1 for s in shape[1:]):
            raise BadRequest(f"inputs[{k}] ({name}): shape {shape!r} does not match "
                             f"{len(flat)} values of one column ([n] or [n, 1])")
        if rows is not None and shape[0] != rows:
            raise BadRequest(f"inputs[{k}] ({name}): {shape[0]} rows where the other inputs "
                             f"have {rows}")
        rows = shape[0]
        datatype = tensor.get("datatype")
        field = fields.get(name)
        if not isinstance(datatype, str) or datatype not in V2_DATATYPES:
            raise BadRequest(f"inputs[{k}] ({name}): datatype {datatype!r} is not one of the "
                             f"protocol's ({', '.join(sorted(V2_DATATYPES))})")
        if field is not None and datatype != v2_input_datatype(field.data_type):
            raise BadRequest(f"inputs[{k}] ({name}): datatype {datatype}, but the model's input "
                             f"{name!r} is {v2_input_datatype(field.data_type)} "
                             f"({field.data_type}); see GET /v2/models/MODEL")
        columns[name] = [_v2_value(v, datatype, f"inputs[{k}].data[{i}]", field)
                         for i, v in enumerate(flat)]
    n = rows or 0
    if n > limit:
        raise BadRequest(f"{n} rows; at most {limit} per request")
    return Request({name: columns.get(name, [None] * n)
                    for name in (schema.input_names if names is None else names)}, n,
                   list(columns))


def v2_outputs(columns: dict[str, list[Any]], schema: ModelSchema,
               wanted: list[str] | None) -> list[dict[str, Any]]:
    types = {c.name: c.data_type for c in schema.columns}
    names = wanted if wanted else list(columns)
    return [{"name": name, "shape": [len(columns[name])],
             "datatype": v2_datatype(types.get(name, "string")), "data": columns[name]}
            for name in names]


def v2_metadata(name: str, versions: list[int], schema: ModelSchema) -> dict[str, Any]:
    return {
        "name": name, "versions": [str(v) for v in versions], "platform": "pmml",
        "inputs": [{"name": f.name, "datatype": v2_input_datatype(f.data_type),
                    "shape": [-1]} for f in schema.inputs],
        "outputs": [{"name": c.name, "datatype": v2_datatype(c.data_type), "shape": [-1]}
                    for c in schema.columns],
    }


def tf_metadata(name: str, version: int, schema: ModelSchema) -> dict[str, Any]:
    """TF's ``GetModelMetadataResponse`` shape, with one ``serving_default`` signature."""
    def tensor(n: str, data_type: str) -> dict[str, Any]:
        return {"dtype": tf_dtype(data_type), "name": n,
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}}

    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "inputs": {f.name: tensor(f.name, f.data_type) for f in schema.inputs},
            "outputs": {c.name: tensor(c.name, c.data_type) for c in schema.columns},
            "method_name": ("tensorflow/serving/classify"
                            if schema.function_name == "classification"
                            else "tensorflow/serving/regress"
                            if schema.function_name == "regression"
                            else "tensorflow/serving/predict"),
        }}}},
    }

"""The output contract's types: one map from a PMML data type to an Arrow type, and every other
type system derived from it (Python values, pandas, Spark, TF Serving's dtypes, the Open
Inference Protocol's datatypes).

Rules:

- an output column is float64 for ``double`` and ``float``: widening a float is exact, so
  JPMML-Evaluator's float results keep every bit, and an evaluator that computes such a field
  in double (PMML4S does) loses none either; narrowing would change its number;
- ``integer`` is int64, ``boolean`` bool, anything else (strings, dates, times) a string;
- an input keeps its own precision: a ``float`` input is float32 on the wire (the evaluator
  computes it in float), everything else as the output rule says;
- a missing value is null in Arrow, NaN in a float64 NumPy column, ``None`` in Python and a
  masked value in pandas' nullable integer and boolean arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from pmmlkit._values import pmml_text

if TYPE_CHECKING:
    from pmmlkit.schema import Column, ModelSchema

#: the column that says why a row has no result (None where it was scored)
ERROR_COLUMN = "error"

_ARROW = {"double": pa.float64(), "float": pa.float64(), "integer": pa.int64(),
          "boolean": pa.bool_()}


def arrow_type(data_type: str) -> pa.DataType:
    """The Arrow type of an output column of PMML data type ``data_type`` (the one map)."""
    return _ARROW.get(data_type, pa.string())


def input_arrow_type(data_type: str) -> pa.DataType:
    """The Arrow type of an input field on a typed wire: a ``float`` input is float32."""
    return pa.float32() if data_type == "float" else arrow_type(data_type)


def output_schema(schema: ModelSchema) -> pa.Schema:
    """The contract's columns as an Arrow schema (without ``error``)."""
    return pa.schema([pa.field(c.name, arrow_type(c.data_type)) for c in schema.columns])


# -- derived type systems ---------------------------------------------------------------------
_TF = {pa.float64(): "DT_DOUBLE", pa.float32(): "DT_FLOAT", pa.int64(): "DT_INT64",
       pa.bool_(): "DT_BOOL", pa.string(): "DT_STRING"}
_V2 = {pa.float64(): "FP64", pa.float32(): "FP32", pa.int64(): "INT64", pa.bool_(): "BOOL",
       pa.string(): "BYTES"}


def tf_dtype(data_type: str) -> str:
    """TF Serving's dtype of an output column (and of an input in TF's metadata, which has
    no float inputs: TF clients send doubles or floats, both taken)."""
    return _TF[arrow_type(data_type)]


def v2_datatype(data_type: str) -> str:
    """The Open Inference Protocol's datatype of an output column."""
    return _V2[arrow_type(data_type)]


def v2_input_datatype(data_type: str) -> str:
    """The Open Inference Protocol's datatype of an input field."""
    return _V2[input_arrow_type(data_type)]


def spark_type(data_type: str) -> Any:
    """Spark SQL's type of an output column."""
    from pyspark.sql.pandas.types import from_arrow_type

    return from_arrow_type(arrow_type(data_type))


def pandas_values(data_type: str, values: Any) -> Any:
    """An output column for a pandas frame: float64 with NaN, nullable ``Int64`` and
    ``boolean``, object for text. ``values`` is a NumPy array (NaN or None: missing) or a
    list (None: missing)."""
    import pandas as pd

    kind = arrow_type(data_type)
    if kind == pa.float64():
        if isinstance(values, list):
            return np.array([np.nan if v is None else float(v) for v in values],
                            dtype=np.float64)
        return np.asarray(values).astype(np.float64)
    array = np.asarray(values) if not isinstance(values, list) else None
    if kind == pa.int64():
        if array is not None and array.dtype.kind == "f":
            missing = np.isnan(array)
            return pd.arrays.IntegerArray(np.where(missing, 0, array).astype(np.int64), missing)
        items = values if isinstance(values, list) else array.tolist()  # type: ignore[union-attr]
        return pd.array([None if v is None else int(float(v)) for v in items], dtype="Int64")
    if kind == pa.bool_():
        if array is not None and array.dtype.kind == "f":
            return pd.arrays.BooleanArray(array != 0, np.isnan(array))
        items = values if isinstance(values, list) else array.tolist()  # type: ignore[union-attr]
        return pd.array([_boolean(v) for v in items], dtype="boolean")
    if isinstance(values, list):
        return pd.Series(values, dtype=object)
    return np.asarray(values).astype(object)


# -- Python values ----------------------------------------------------------------------------
def absent(values: np.ndarray) -> np.ndarray:
    """Where an output column has no value."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.array([v is None for v in values.tolist()], dtype=bool)


def python_values(column: Column, values: np.ndarray) -> list[Any]:
    """An output column of :meth:`Model.score_columns` as Python values of the contract's
    type (None: no value), as :meth:`Model.score` gives them."""
    convert = scalar_converter(column.data_type)
    missing = absent(values)
    return [None if gone else convert(v)
            for v, gone in zip(values.tolist(), missing.tolist(), strict=True)]


def scalar_converter(data_type: str) -> Any:
    """One value of an output column as the contract's Python type (None stays None)."""
    kind = arrow_type(data_type)
    if kind == pa.float64():
        return lambda v: None if v is None else float(v)
    if kind == pa.int64():
        return lambda v: None if v is None else int(float(v))
    if kind == pa.bool_():
        return _boolean
    return lambda v: None if v is None else pmml_text(v)


def _boolean(value: Any) -> bool | None:
    """A boolean output as Python's bool: the bridge hands a numeric column's booleans over as
    1.0 / 0.0, a text column's as "true" / "false"."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("true", "1")


__all__ = ["ERROR_COLUMN", "absent", "arrow_type", "input_arrow_type", "output_schema", "pandas_values",
           "python_values", "scalar_converter", "spark_type", "tf_dtype", "v2_datatype",
           "v2_input_datatype"]

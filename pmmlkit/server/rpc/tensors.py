"""Tensors in and out: TensorFlow's ``TensorProto`` and the Open Inference Protocol's
tensor contents, as the column values the server's core takes and gives.

Pure functions. A tensor is one column of a model's input or output: shape ``[n]`` or
``[n, 1]`` (a scalar is one row). Reading follows TensorFlow's own rules
(``tensor_util.MakeNdarray``): ``tensor_content`` holds the elements packed little-endian;
otherwise the typed ``*_val`` field holds them, and fewer values than the shape has are
padded with the last one (none: the type's zero). Values the protocol's typing allows go on
to the same checks as the REST API's (``pmmlkit.server.protocol``) and then to the evaluator,
which decides what a PMML field accepts.

Out, a missing value is NaN in a floating-point tensor; a tensor of integers, booleans or
strings has no missing value, so such a row is an error naming it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from pmmlkit.server.protocol import BadRequest
from pmmlkit.server.rpc import messages

_DT = {v.name: v.number for v in
       messages.tensorflow.TensorProto.DESCRIPTOR.fields_by_name["dtype"].enum_type.values}
DT_NAMES = {number: name for name, number in _DT.items()}

#: dtype -> (typed field, NumPy dtype of tensor_content)
_TF_READ = {
    "DT_FLOAT": ("float_val", "<f4"), "DT_DOUBLE": ("double_val", "<f8"),
    "DT_HALF": ("half_val", "<f2"),
    "DT_INT8": ("int_val", "<i1"), "DT_INT16": ("int_val", "<i2"),
    "DT_INT32": ("int_val", "<i4"), "DT_INT64": ("int64_val", "<i8"),
    "DT_UINT8": ("int_val", "<u1"), "DT_UINT16": ("int_val", "<u2"),
    "DT_UINT32": ("uint32_val", "<u4"), "DT_UINT64": ("uint64_val", "<u8"),
    "DT_BOOL": ("bool_val", "?"), "DT_STRING": ("string_val", None),
}
_ZERO = {"DT_BOOL": False, "DT_STRING": b""}


def dtype_number(name: str) -> int:
    return _DT[name]


def _one_column(dims: Sequence[int], where: str) -> int:
    """Rows of a tensor that is one column: ``[]`` (one), ``[n]`` or ``[n, 1]``."""
    if any(d < 0 for d in dims) or len(dims) > 2 or (len(dims) == 2 and dims[1] != 1):
        raise BadRequest(f"{where}: shape {list(dims)} is not one column of values ([n] or "
                         "[n, 1])")
    return dims[0] if dims else 1


def _text(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{where}: {value[:40]!r} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from exc


def tf_values(tensor: Any, where: str) -> list[Any]:
    """The values of a ``TensorProto`` input, one per row."""
    dtype = DT_NAMES.get(tensor.dtype, str(tensor.dtype))
    if dtype not in _TF_READ:
        raise BadRequest(f"{where}: dtype {dtype} is not a type of a PMML model's input (give "
                         "DT_DOUBLE, DT_FLOAT, DT_INT64, DT_INT32, DT_STRING or DT_BOOL)")
    if tensor.tensor_shape.unknown_rank:
        raise BadRequest(f"{where}: the tensor's shape is unknown; give its shape ([n])")
    rows = _one_column([d.size for d in tensor.tensor_shape.dim], where)
    field, packed = _TF_READ[dtype]
    if tensor.tensor_content:
        if packed is None:
            raise BadRequest(f"{where}: a DT_STRING tensor carries its values in string_val, "
                             "not tensor_content")
        size = np.dtype(packed).itemsize
        if len(tensor.tensor_content) != rows * size:
            raise BadRequest(f"{where}: tensor_content has {len(tensor.tensor_content)} bytes; "
                             f"shape {rows} of {dtype} takes {rows * size}")
        array = np.frombuffer(tensor.tensor_content, dtype=packed)
        values: list[Any] = array.astype(np.float64).tolist() if dtype == "DT_HALF" else \
            array.tolist()
    else:
        values = list(getattr(tensor, field))
        if dtype == "DT_HALF":  # half_val holds each float16's bits in an int32
            values = np.array(values, dtype=np.uint16).view(np.float16).astype(
                np.float64).tolist()
        if len(values) > rows:
            raise BadRequest(f"{where}: {len(values)} values for shape {rows}")
        if len(values) < rows:
            values += [values[-1] if values else _ZERO.get(dtype, 0)] * (rows - len(values))
    if dtype == "DT_STRING":
        return [_text(v, f"{where}[{i}]") for i, v in enumerate(values)]
    return values


#: PMML data type of an output column -> TF dtype and the typed field its values go in
_TF_WRITE = {"DT_DOUBLE": "double_val", "DT_INT64": "int64_val", "DT_BOOL": "bool_val",
             "DT_STRING": "string_val"}


class MissingOutput(Exception):
    """A row's output has no value, and its tensor type has none to give."""

    def __init__(self, row: int, name: str, type_name: str):
        super().__init__(f"output {name!r} has no value, and a {type_name} tensor cannot "
                         "carry a missing value (REST answers null)")
        self.row = row


def _filled(values: list[Any], name: str, type_name: str, floating: bool) -> list[Any]:
    if floating:
        return [math.nan if v is None else v for v in values]
    for i, v in enumerate(values):
        if v is None:
            raise MissingOutput(i, name, type_name)
    return values


def tf_tensor(values: list[Any], dtype: str, name: str) -> Any:
    """An output column as a ``TensorProto`` of shape ``[n]`` with typed values."""
    tensor = messages.tensorflow.TensorProto(dtype=_DT[dtype])
    tensor.tensor_shape.dim.add(size=len(values))
    values = _filled(values, name, dtype, dtype == "DT_DOUBLE")
    if dtype == "DT_STRING":
        tensor.string_val.extend(v if isinstance(v, bytes) else str(v).encode()
                                 for v in values)
    else:
        getattr(tensor, _TF_WRITE[dtype]).extend(values)
    return tensor


# -- Open Inference Protocol ------------------------------------------------------------------
#: datatype -> (typed contents field, NumPy dtype of its raw form)
_V2_READ = {
    "BOOL": ("bool_contents", "?"), "INT8": ("int_contents", "<i1"),
    "INT16": ("int_contents", "<i2"), "INT32": ("int_contents", "<i4"),
    "INT64": ("int64_contents", "<i8"), "UINT8": ("uint_contents", "<u1"),
    "UINT16": ("uint_contents", "<u2"), "UINT32": ("uint_contents", "<u4"),
    "UINT64": ("uint64_contents", "<u8"), "FP16": (None, "<f2"),
    "FP32": ("fp32_contents", "<f4"), "FP64": ("fp64_contents", "<f8"),
    "BYTES": ("bytes_contents", None),
}
_CONTENTS = [f.name for f in messages.inference.InferTensorContents.DESCRIPTOR.fields]


def v2_raw_values(raw: bytes, datatype: str, count: int, where: str) -> list[Any]:
    """``raw_input_contents`` of one tensor: elements packed little-endian; BYTES elements
    each a 4-byte little-endian length and the bytes."""
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise BadRequest(f"{where}: raw BYTES content ends inside an element's length")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise BadRequest(f"{where}: raw BYTES element {len(values)} runs past the end "
                                 "of the content")
            values.append(_text(raw[offset:offset + size], f"{where}[{len(values)}]"))
            offset += size
        return values
    packed = _V2_READ.get(datatype, (None, None))[1]
    if packed is None:
        return []  # the datatype is refused with the others' rules
    size = np.dtype(packed).itemsize
    if len(raw) != count * size:
        raise BadRequest(f"{where}: raw content has {len(raw)} bytes; {count} {datatype} "
                         f"values take {count * size}")
    array = np.frombuffer(raw, dtype=packed)
    return array.astype(np.float64).tolist() if datatype == "FP16" else array.tolist()


def v2_content_values(tensor: Any, where: str) -> list[Any]:
    """An input tensor's typed ``contents``: the one field its datatype takes."""
    field = _V2_READ.get(tensor.datatype, (None, None))[0]
    given = [f for f in _CONTENTS if len(getattr(tensor.contents, f))]
    others = [f for f in given if f != field]
    if others:
        wanted = f"its values in {field}" if field else "raw_input_contents"
        raise BadRequest(f"{where}: datatype {tensor.datatype} takes {wanted}; got "
                         f"{', '.join(others)}")
    if field is None:
        return []
    values = list(getattr(tensor.contents, field))
    if tensor.datatype == "BYTES":
        return [_text(v, f"{where}[{i}]") for i, v in enumerate(values)]
    return values


def v2_output(tensor: Any, values: list[Any], datatype: str, name: str, raw: bool
              ) -> bytes | None:
    """Fill an output tensor's contents (``raw``: return its raw bytes instead)."""
    tensor.name = name
    tensor.datatype = datatype
    tensor.shape.append(len(values))
    values = _filled(values, name, datatype, datatype in ("FP32", "FP64"))
    if datatype == "BYTES":
        data = [v if isinstance(v, bytes) else str(v).encode() for v in values]
        if raw:
            return b"".join(struct.pack("<I", len(v)) + v for v in data)
        tensor.contents.bytes_contents.extend(data)
        return None
    field, packed = _V2_READ[datatype]
    if raw:
        return np.asarray(values, dtype=packed).tobytes()
    getattr(tensor.contents, str(field)).extend(values)
    return None


__all__ = ["DT_NAMES", "MissingOutput", "dtype_number", "tf_tensor", "tf_values",
           "v2_content_values", "v2_output", "v2_raw_values"]

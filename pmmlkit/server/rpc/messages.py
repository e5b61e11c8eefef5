"""The gRPC message classes, built from ``protos/descriptors.binpb`` (compiled from the
``.proto`` files beside it by ``make protos``) in a descriptor pool of pmmlkit's own.

A private pool: a process may also hold another copy of the same protocol (tritonclient's,
tensorflow-serving-api's), and the default pool refuses a second definition of one name.
Messages are the same on the wire whichever pool built them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DESCRIPTORS = Path(__file__).parent / "protos" / "descriptors.binpb"


def _load() -> dict[str, Any]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    return message_factory.GetMessages(list(files), pool)


_CLASSES = _load()


def _namespace(package: str) -> SimpleNamespace:
    prefix = package + "."
    return SimpleNamespace(**{name[len(prefix):].replace(".", "_"): cls
                              for name, cls in _CLASSES.items()
                              if name.startswith(prefix) and "." not in name[len(prefix):]})


#: tensorflow.* (TensorProto, DataType values via tensorflow.TensorProto's enum, Example...)
tensorflow = _namespace("tensorflow")
#: tensorflow.serving.* (PredictRequest, ModelSpec, ...)
serving = _namespace("tensorflow.serving")
#: inference.* (ModelInferRequest, ...)
inference = _namespace("inference")


def message(full_name: str) -> Any:
    """A message class by full name (``inference.ModelInferRequest.InferInputTensor``)."""
    return _CLASSES[full_name]


__all__ = ["DESCRIPTORS", "inference", "message", "serving", "tensorflow"]

"""pmmlkit: put scikit-learn and Spark ML models into production through PMML.

>>> import pmmlkit
>>> model = pmmlkit.load("model.pmml")          # doctest: +SKIP
>>> model.score({"x0": 1.0, "color": "red"})    # doctest: +SKIP

Importing pmmlkit is cheap: the names below are imported on first use (PEP 562), so
``import pmmlkit`` and ``pmmlkit --help`` do not load pandas, pyarrow or the JVM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pmmlkit._version import __version__
from pmmlkit.errors import (
    BackendError,
    ConfigurationError,
    ConversionError,
    DataNotFoundError,
    InvalidInputError,
    JavaError,
    ModelLoadError,
    ModelNotFoundError,
    ParityError,
    PmmlkitError,
    ScoringError,
    StorageError,
    TooManyRejectsError,
    UnsafeDocumentError,
    VerificationError,
)

#: public name -> the module that defines it
_LAZY = {
    "ScoreSummary": "pmmlkit.batch",
    "score_file": "pmmlkit.batch",
    "export_pmml": "pmmlkit.converter",
    "export_sklearn": "pmmlkit.converter",
    "export_sklearn_file": "pmmlkit.converter",
    "export_spark": "pmmlkit.converter",
    "export_spark_dir": "pmmlkit.converter",
    "ModelVersion": "pmmlkit.repository",
    "Repository": "pmmlkit.repository",
    "ModelSchema": "pmmlkit.schema",
    "read_schema": "pmmlkit.schema",
    "ERROR_COLUMN": "pmmlkit.scorer",
    "Model": "pmmlkit.scorer",
    "RowError": "pmmlkit.scorer",
    "VerificationReport": "pmmlkit.scorer",
    "load": "pmmlkit.scorer",
}

if TYPE_CHECKING:
    from pmmlkit.batch import ScoreSummary, score_file
    from pmmlkit.converter import (
        export_pmml,
        export_sklearn,
        export_sklearn_file,
        export_spark,
        export_spark_dir,
    )
    from pmmlkit.repository import ModelVersion, Repository
    from pmmlkit.schema import ModelSchema, read_schema
    from pmmlkit.scorer import ERROR_COLUMN, Model, RowError, VerificationReport, load


#: submodules reachable as attributes (``pmmlkit.spark.score``), imported on first use
_SUBMODULES = frozenset({"spark", "online", "doctor"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"pmmlkit.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pmmlkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ERROR_COLUMN",
    "BackendError",
    "ConfigurationError",
    "ConversionError",
    "DataNotFoundError",
    "InvalidInputError",
    "JavaError",
    "Model",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelSchema",
    "ModelVersion",
    "ParityError",
    "PmmlkitError",
    "Repository",
    "RowError",
    "ScoreSummary",
    "ScoringError",
    "StorageError",
    "TooManyRejectsError",
    "UnsafeDocumentError",
    "VerificationError",
    "VerificationReport",
    "__version__",
    "export_pmml",
    "export_sklearn",
    "export_sklearn_file",
    "export_spark",
    "export_spark_dir",
    "load",
    "read_schema",
    "score_file",
]

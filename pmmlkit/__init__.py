"""pmmlkit: put scikit-learn and Spark ML models into production through PMML.

>>> import pmmlkit
>>> model = pmmlkit.load("model.pmml")          # doctest: +SKIP
>>> model.score({"x0": 1.0, "color": "red"})    # doctest: +SKIP
"""

from pmmlkit.errors import (
    BackendError,
    ConfigurationError,
    InvalidInputError,
    JavaError,
    ModelLoadError,
    ModelNotFoundError,
    PmmlkitError,
    ScoringError,
    UnsafeDocumentError,
    VerificationError,
)
from pmmlkit.schema import ModelSchema, read_schema
from pmmlkit.scorer import ERROR_COLUMN, Model, RowError, VerificationReport, load

__version__ = "0.1.0"

__all__ = [
    "ERROR_COLUMN",
    "BackendError",
    "ConfigurationError",
    "InvalidInputError",
    "JavaError",
    "Model",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelSchema",
    "PmmlkitError",
    "RowError",
    "ScoringError",
    "UnsafeDocumentError",
    "VerificationError",
    "VerificationReport",
    "__version__",
    "load",
    "read_schema",
]

"""pmmlkit: put scikit-learn and Spark ML models into production through PMML.

>>> import pmmlkit
>>> model = pmmlkit.load("model.pmml")          # doctest: +SKIP
>>> model.score({"x0": 1.0, "color": "red"})    # doctest: +SKIP
"""

from pmmlkit.batch import ScoreSummary, score_file
from pmmlkit.converter import export_pmml, export_sklearn, export_spark
from pmmlkit.errors import (
    BackendError,
    ConfigurationError,
    ConversionError,
    InvalidInputError,
    JavaError,
    ModelLoadError,
    ModelNotFoundError,
    ParityError,
    PmmlkitError,
    ScoringError,
    TooManyRejectsError,
    UnsafeDocumentError,
    VerificationError,
)
from pmmlkit.repository import ModelVersion, Repository
from pmmlkit.schema import ModelSchema, read_schema
from pmmlkit.scorer import ERROR_COLUMN, Model, RowError, VerificationReport, load

__version__ = "0.1.0"

__all__ = [
    "ERROR_COLUMN",
    "BackendError",
    "ConfigurationError",
    "ConversionError",
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
    "TooManyRejectsError",
    "UnsafeDocumentError",
    "VerificationError",
    "VerificationReport",
    "__version__",
    "export_pmml",
    "export_sklearn",
    "export_spark",
    "load",
    "read_schema",
    "score_file",
]

"""Load PMML models and score records through a JVM evaluator."""

from pmmlkit.scorer.model import (
    ERROR_COLUMN,
    Model,
    VerificationFailure,
    VerificationReport,
    load,
)
from pmmlkit.scorer.validation import RowError

__all__ = ["ERROR_COLUMN", "Model", "RowError", "VerificationFailure", "VerificationReport",
           "load"]

"""Load PMML models and score records through a JVM evaluator."""

from pmmlkit.scorer.loading import load
from pmmlkit.scorer.model import ERROR_COLUMN, Model
from pmmlkit.scorer.validation import RowError
from pmmlkit.scorer.verification import VerificationFailure, VerificationReport

__all__ = ["ERROR_COLUMN", "Model", "RowError", "VerificationFailure", "VerificationReport",
           "load"]

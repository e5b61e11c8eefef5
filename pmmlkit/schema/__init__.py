"""Read a PMML document safely into a :class:`ModelSchema`.

The parser refuses any DOCTYPE, entity declaration or external reference (XXE and "billion
laughs") before looking at the content: PMML comes from shared storage and is untrusted.
"""

from pmmlkit.schema.contract import MULTI_TARGET, computes_probabilities, model_categories
from pmmlkit.schema.document import inner_models
from pmmlkit.schema.fields import (
    MODEL_ELEMENTS,
    NUMERIC_TYPES,
    Column,
    InputField,
    Interval,
    ModelSchema,
    OutputField,
    TargetField,
    VerificationRecords,
    is_missing,
    schema_from_dict,
    schema_to_dict,
)
from pmmlkit.schema.reading import cached_schema, parse, read_schema

__all__ = ["MODEL_ELEMENTS", "MULTI_TARGET", "NUMERIC_TYPES", "Column", "InputField",
           "Interval", "ModelSchema", "OutputField", "TargetField", "VerificationRecords",
           "cached_schema", "computes_probabilities", "inner_models", "is_missing",
           "model_categories", "parse", "read_schema", "schema_from_dict", "schema_to_dict"]

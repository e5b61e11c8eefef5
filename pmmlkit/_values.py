"""Small value conversions shared by the scorer, the converters and the reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A Python value for a NumPy scalar (``np.float64(1.5)`` -> ``1.5``), None for ``pd.NA``;
    anything else unchanged. For JSON reports and messages."""
    if isinstance(value, np.generic):
        return value.item()
    return None if type(value).__name__ == "NAType" else value


def json_value(value: Any) -> Any:
    """:func:`plain`, with NaN as None (null): JSON has no NaN."""
    value = plain(value)
    return None if isinstance(value, float) and value != value else value


def pmml_text(value: Any) -> str:
    """A value as PMML writes it in text: integral numbers without ``.0`` (``1.0`` -> ``"1"``),
    booleans as ``true``/``false``."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def cell_text(value: Any) -> str | None:
    """A value as the text a rejects file shows (None and NaN: no value)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


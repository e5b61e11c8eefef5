"""Which columns a model takes: one rule for every path (records, frames, files, Spark, the
server).

Every model input must be present as a column (a key of a record, a header of a file, a
field of a request): an absent one is an error naming it and the closest name given
(``did you mean 'age'?``), because scoring it as missing on every row would silently give
the model's missing-value treatment instead of the data. A present column may hold a
missing value on any row; that is the evaluator's to treat. ``allow_missing_columns=True``
(``--allow-missing-columns``) scores absent inputs as missing on every row, for those who
mean it. Other columns are ignored (ids, labels...), unless ``strict=True``, which refuses
any column that is not a model input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pmmlkit._names import closest
from pmmlkit.errors import InvalidInputError

_SHOW = 12


def check_columns(inputs: Sequence[str], given: Iterable[str], *, where: str,
                  allow_missing_columns: bool = False, strict: bool = False,
                  what: str = "columns") -> list[str]:
    """Check the ``given`` column names against the model's ``inputs``; return the absent
    inputs (only when allowed). ``what`` names the columns in messages (``columns``,
    ``fields``, ``header``...)."""
    names = list(dict.fromkeys(given))
    present = set(names)
    absent = [name for name in inputs if name not in present]
    if strict:
        unknown = [name for name in names if name not in set(inputs)]
        if unknown:
            raise InvalidInputError(
                f"{where}: unknown {what} {unknown[:_SHOW]} (strict mode); the model's inputs "
                f"are {list(inputs)}", field=unknown[0], reason="unknown field")
    if absent and not allow_missing_columns:
        others = [name for name in names if name not in set(inputs)]
        hints = [f"{name!r} for {wanted!r}" for wanted in absent
                 if (name := closest(wanted, others)) is not None]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        shown = names[:_SHOW] + (["..."] if len(names) > _SHOW else [])
        raise InvalidInputError(
            f"{where}: the model's inputs {absent[:_SHOW]} are not among the {what}"
            f"{hint}; {what}: {shown}. Give every input (a missing value in a row is fine), "
            "or pass allow_missing_columns=True (--allow-missing-columns) to score absent "
            "inputs as missing on every row",
            field=absent[0], reason="missing column",
            problems=[{"field": name, "value": None, "reason": "missing column"}
                      for name in absent])
    return absent

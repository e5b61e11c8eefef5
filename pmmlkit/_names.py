"""The closest of a set of names to a name given: for "did you mean" hints."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def closest(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``name``: the same name in another case first, else the
    closest spelling (difflib), else None."""
    folded = {c.casefold(): c for c in candidates}
    if name.casefold() in folded:
        return folded[name.casefold()]
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None

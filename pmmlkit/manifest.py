"""A version's manifest as pmmlkit reads it: a JSON object whose known fields have their
types (checked once, where it is read, so no reader meets a malformed one)."""

from __future__ import annotations

from typing import Any

from pmmlkit.errors import ModelLoadError

#: the manifest's fields pmmlkit reads, and the JSON type each must have when present
_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "sha256": (str,), "parity": (dict,), "source": (dict,), "converter": (dict,),
    "schema": (dict,), "tags": (dict,), "metrics": (dict,), "description": (str,),
    "created_at": (str,), "name": (str,), "version": (int,),
}


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """A manifest is a JSON object whose known fields have their types, and whose parity
    report (when present) has per-evaluator objects; anything else is a
    :class:`ModelLoadError` naming the field, never an error deeper in a reader."""
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{where}: the manifest must be a JSON object, not "
                             f"{_json_kind(manifest)}")
    if not isinstance(manifest.get("sha256"), str):
        raise ModelLoadError(f"{where}: the manifest has no 'sha256' string (it has "
                             f"{_json_kind(manifest.get('sha256'))})")
    for key, kinds in _MANIFEST_TYPES.items():
        value = manifest.get(key)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise ModelLoadError(f"{where}: the manifest's {key!r} must be "
                                 f"{' or '.join(_KIND_NAMES[k] for k in kinds)}, not "
                                 f"{_json_kind(value)}")
    backends = (manifest.get("parity") or {}).get("backends")
    if backends is not None and (not isinstance(backends, dict) or not all(
            isinstance(r, dict) for r in backends.values())):
        raise ModelLoadError(f"{where}: the manifest's parity 'backends' must be an object "
                             "of evaluator -> report object")
    return manifest


_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string",
                                int: "an integer"}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, text in _KIND_NAMES.items():
        if isinstance(value, kind):
            return text
    return "a number" if isinstance(value, float) else type(value).__name__


__all__ = ["check_manifest"]

"""Loading a model: PMML from a repository reference, a file, a URL or bytes, its schema,
its evaluator (``backend``), its verification records, and what a manifest recorded."""


from __future__ import annotations

import hashlib
import warnings
from typing import TYPE_CHECKING, Any, Literal

from pmmlkit import cache
from pmmlkit._boundary import storage
from pmmlkit.errors import ModelLoadError, VerificationError
from pmmlkit.schema import ModelSchema, cached_schema
from pmmlkit.scorer.backends import AUTO, AUTO_ORDER, get_backend, resolve_name
from pmmlkit.scorer.backends.base import Handle
from pmmlkit.scorer.verification import (
    VerificationReport,
    record_precision,
    unmeetable_records,
)

if TYPE_CHECKING:
    pass

#: Name of the column :meth:`Model.score_batch` adds: None for a scored row, else the reason.
from pmmlkit.scorer.model import Model


def read_model(name: str) -> tuple[bytes, dict[str, Any] | None, str]:
    """PMML bytes, manifest and display name: a repository reference or a plain file."""
    from pmmlkit.repository import Repository, resolve, unknown_model

    if not name.lower().endswith((".pmml", ".xml")):
        version = resolve(name)
        if version is not None:
            data = Repository(version.root).read_pmml(version)
            return data, version.manifest, version.ref
        problem = unknown_model(name)  # a repository, but no such model in it
        if problem is not None:
            raise problem
    return read_source(name), None, name


def _recorded_difference(manifest: dict[str, Any] | None, backend: str) -> str | None:
    """How ``backend`` differed from the native model in the export's parity check, or None
    (it passed, or there is no record of it)."""
    parity = (manifest or {}).get("parity")
    report = parity.get("backends", {}).get(backend) if isinstance(parity, dict) else None
    if not isinstance(report, dict) or report.get("passed", True):
        return None
    if report.get("checked") is False:
        return str(report.get("reason", "not checked at export"))
    if report.get("error"):
        return str(report["error"])
    return (f"max |difference| per output {report.get('max_abs_difference', {})} beyond the "
            f"tolerance {parity.get('tolerance') if isinstance(parity, dict) else None}")


def _warn_on_recorded_difference(manifest: dict[str, Any], backend: str, name: str) -> None:
    differed = _recorded_difference(manifest, backend)
    if differed is not None:
        warnings.warn(f"{name}: at export, backend {backend!r} differed from the native model: "
                      f"{differed}; prefer the default backend", stacklevel=3)


def _unmeetable_hint(schema: ModelSchema, report: VerificationReport) -> str:
    """Why the records failed when they ask for more precision than the model's float
    outputs have, and what to do; "" otherwise."""
    unmeetable = set(unmeetable_records(schema))
    if not unmeetable or any(f.field not in unmeetable for f in report.failures):
        return ""
    relative = [f.difference / max(abs(float(f.expected)), 1e-300) for f in report.failures
                if f.difference is not None and f.expected not in (None, "")]
    float_precision = record_precision("float")[0]
    if len(relative) < len(report.failures) or max(relative) > float_precision:
        return ""
    asked = min(schema.verification.fields[n]["precision"] for n in unmeetable)  # type: ignore[union-attr]
    return (f"\nThe records ask for a relative precision of {asked:g} on "
            f"{', '.join(sorted(unmeetable))}, which the document computes with 32-bit floats "
            "(fields of dataType=\"float\"): no evaluator can meet that (the values agree to "
            f"{max(relative):.2g}, within float precision). sklearn2pmml writes records so "
            f"by default; pmmlkit's export writes them at {float_precision:g}. Re-export the "
            "model with pmmlkit.export_sklearn (or pmmlkit export sklearn), or load it with "
            "verify=False.")


def read_source(uri: str) -> bytes:
    """Read a PMML file from a local path or any fsspec URL."""
    from pmmlkit.storage import open_input

    with storage(uri, "read the PMML file", missing=ModelLoadError):
        handle = open_input(uri)  # an unknown protocol: ConfigurationError, as everywhere
        with handle as fh:
            data: bytes = fh.read()
    return data


def _load_handle(data: bytes, schema: ModelSchema, name: str, backend: str,
                 options: dict[str, Any], manifest: dict[str, Any] | None
                 ) -> tuple[str, Handle, str | None]:
    """Build the evaluator: the named backend, or for ``auto`` the first that accepts the
    document. Returns the backend's name, the handle, and why an earlier one refused.

    ``auto`` never falls back to an evaluator that the export's parity check found to differ
    from the native model (``manifest``): that would hide a wrong number behind a warning."""
    if backend != AUTO:
        return backend, get_backend(backend).load(data, schema, source=name, options=options), None
    refusals: list[ModelLoadError] = []
    for candidate in AUTO_ORDER:
        differed = _recorded_difference(manifest, candidate) if refusals else None
        if differed is not None:
            refusals.append(ModelLoadError(
                f"{name}: {candidate} differed from the native model at export ({differed}), "
                "so it is not used in place of the default evaluator"))
            continue
        try:
            handle = get_backend(candidate).load(data, schema, source=name, options=options)
        except ModelLoadError as exc:
            refusals.append(exc)
            continue
        reason = None
        if refusals:
            reason = "; ".join(str(r) for r in refusals)
            warnings.warn(f"{reason}. Scoring with {candidate} instead "
                          f"({handle.description}).", stacklevel=4)
        return candidate, handle, reason
    raise ModelLoadError("no evaluator can load the model:\n" + "\n".join(
        f"  {b}: {r}" for b, r in zip(AUTO_ORDER, refusals, strict=True))) from refusals[-1]


def load(source: str | bytes | Any, *, backend: str | None = None,
         verify: bool | Literal["warn"] = True, strict: bool = False,
         allow_missing_columns: bool = False, transpile: bool | None = None,
         name: str | None = None) -> Model:
    """Load a PMML model from a path, an fsspec URL, or bytes.

    ``backend`` is ``"auto"`` (default, or ``PMMLKIT_BACKEND``): JPMML-Evaluator, the exact
    evaluator, and PMML4S for a document JPMML refuses, with a warning saying why
    (``model.fallback_reason``); ``"jpmml"`` or ``"pypmml"`` use that one only. With
    ``verify`` (default) the PMML's ModelVerification records are replayed and a mismatch
    raises :class:`VerificationError` (``"warn"`` warns instead). ``strict`` makes unknown
    input fields an error, ``allow_missing_columns`` lets absent inputs be missing on every
    row (the model's defaults of :mod:`pmmlkit.scorer.matching`). ``transpile`` (jpmml
    only) compiles the model to bytecode; the default does so when the JVM is a JDK.
    ``name`` is how messages name a model given as bytes (default ``<bytes>``).
    """
    manifest: dict[str, Any] | None = None
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<bytes>"
    else:
        name = str(source)
        data, manifest, name = read_model(name)
    sha256 = hashlib.sha256(data).hexdigest()
    schema = cached_schema(data, sha256, source=name)
    if schema.model_element == "AssociationModel":
        raise ModelLoadError(
            f"{name}: an AssociationModel scores a basket (a collection of items per record); "
            "pmmlkit's inputs are one value per field, so association rules are not supported "
            "yet. Score them with JPMML-Evaluator or PMML4S directly.")
    chosen, handle, fallback = _load_handle(data, schema, name, resolve_name(backend),
                                            {"transpile": transpile}, manifest)
    model = Model(schema, handle, source=name, backend=chosen, sha256=sha256, strict=strict,
                  allow_missing_columns=allow_missing_columns)
    model.manifest = manifest
    model.fallback_reason = fallback
    model.pmml = data
    if manifest is not None:
        _warn_on_recorded_difference(manifest, chosen, name)
    if verify and not cache.is_verified(model.sha256, model.evaluator):
        report = model.verify()
        if report.passed:
            cache.mark_verified(model.sha256, model.evaluator)
        else:
            message = f"{name} (backend {chosen}): {report.summary()}" + _unmeetable_hint(
                schema, report)
            if verify == "warn":
                warnings.warn(message, stacklevel=2)
            else:
                raise VerificationError(message + "\nPass verify=False to load it anyway.")
    return model


__all__ = ["load", "read_model", "read_source"]

"""Versioned model storage on a local path, ``s3://`` or ``memory://``.

Layout (like TensorFlow Serving's model base path)::

    <root>/<name>/<version>/model.pmml
    <root>/<name>/<version>/manifest.json

A version is a positive integer (ASCII digits, no leading zero) claimed by creating
``<name>/<version>/.claim`` exclusively (see :func:`pmmlkit.storage.create_exclusive`: a hard
link on a local disk, ``If-None-Match: *`` on S3), so concurrent exporters, threads or
processes, always get different versions. Storage that cannot create exclusively is refused.
``model.pmml`` is written next, then ``manifest.json`` last: a version
exists for readers only once its manifest is present and the PMML's sha256 matches it. Nothing
is ever overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pmmlkit._boundary import storage
from pmmlkit._names import closest
from pmmlkit.errors import (
    ConfigurationError,
    ModelLoadError,
    ModelNotFoundError,
    PmmlkitError,
    StorageError,
)
from pmmlkit.manifest import check_manifest
from pmmlkit.storage import check_repository_protocol, create_exclusive, url_to_fs

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: a version folder: a positive integer in ASCII digits, as written (``isdigit()`` would also
#: accept "²" or "١")
VERSION_PATTERN = re.compile(r"^[1-9][0-9]{0,17}$")
PMML_FILE = "model.pmml"
MANIFEST_FILE = "manifest.json"
CLAIM_FILE = ".claim"
#: a version's markers, beside its (never modified) files: deprecated, or deleted
DEPRECATED_FILE = "deprecated"
#: a model's labels (``stable`` -> 3): the one file of the repository that changes
LABELS_FILE = "labels.json"
LABEL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
DEFAULT_ROOT = "models"
_MAX_CLAIM_ATTEMPTS = 1000


def check_name(name: str) -> str:
    """A model name is one path segment of letters, digits, ``.``, ``_`` and ``-``."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in (".", ".."):
        raise ConfigurationError(
            f"invalid model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..')")
    return name


def parse_version(text: str) -> int | None:
    """The version a folder name stands for, or None when it is not a version folder."""
    return int(text) if VERSION_PATTERN.match(text) else None


@dataclass(frozen=True)
class ModelVersion:
    """One published version: where its PMML is and what its manifest says."""

    root: str
    name: str
    version: int
    uri: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.root.rstrip('/')}/{self.name}/{self.version}"


class Repository:
    """Models in shared storage. ``root`` defaults to ``PMMLKIT_REPO`` or ``./models``."""

    def __init__(self, root: str | None = None):
        self.root = (root or os.environ.get("PMMLKIT_REPO") or DEFAULT_ROOT).rstrip("/")
        check_repository_protocol(self.root)
        self._fs, self._path = url_to_fs(self.root)

    def __repr__(self) -> str:
        return f"Repository({self.root!r})"

    def _p(self, *parts: str | int) -> str:
        return "/".join([self._path.rstrip("/"), *(str(p) for p in parts)])

    def _uri(self, *parts: str | int) -> str:
        return "/".join([self.root, *(str(p) for p in parts)])

    # -- reading ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget the file system's cached listings (s3fs, gcsfs and others cache directory
        listings for the life of the instance): the next read sees the store as it is now.
        A poller calls this before every listing."""
        with storage(self.root, "refresh the listing cache"):
            self._fs.invalidate_cache()

    def check_present(self) -> None:
        """Raise :class:`StorageError` when the repository's root is not there (a bucket or
        folder that vanished), which a listing alone reports as an empty repository."""
        with storage(self.root, "look for the repository"):
            present = self._fs.exists(self._p()) or self._fs.isdir(self._p())
        if not present:
            raise StorageError(f"{self.root}: the repository is not there (a folder or bucket "
                               "that was removed, renamed or never created)")

    def names(self) -> list[str]:
        """Names that have at least one published version."""
        return sorted(n for n in self._children(self._p()) if NAME_PATTERN.match(n)
                      and self.versions(n))

    def _children(self, path: str) -> list[str]:
        with storage(self.root, "list the repository"):
            try:
                entries = self._fs.ls(path, detail=False)
            except (FileNotFoundError, NotADirectoryError):
                return []
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def _claimed(self, name: str) -> list[int]:
        found = (parse_version(v) for v in self._children(self._p(name)))
        return sorted(v for v in found if v is not None)

    def versions(self, name: str, *, deprecated: bool = True) -> list[int]:
        """Published versions of ``name`` (manifest present), ascending; without the
        deprecated ones when ``deprecated`` is False."""
        check_name(name)
        with storage(self._uri(name), "list the versions"):
            found = [v for v in self._claimed(name)
                     if self._fs.exists(self._p(name, v, MANIFEST_FILE))]
            if not deprecated:
                found = [v for v in found if not self.is_deprecated(name, v)]
            return found

    def is_deprecated(self, name: str, version: int) -> bool:
        with storage(self._uri(name, version), "look for the deprecation mark"):
            return bool(self._fs.exists(self._p(name, version, DEPRECATED_FILE)))

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """A published version (the latest when ``version`` is None), checksum verified."""
        check_name(name)
        if version is None:
            return self.latest(name)
        manifest_path = self._p(name, version, MANIFEST_FILE)
        try:
            with storage(self._uri(name, version, MANIFEST_FILE), "read the manifest"):
                try:
                    with self._fs.open(manifest_path, "rb") as fh:
                        text = fh.read()
                except FileNotFoundError as exc:
                    known = self.versions(name)
                    raise ModelNotFoundError(
                        f"{self._uri(name, version)}: no such model version "
                        f"(published versions of {name!r}: {known or 'none'})") from exc
            manifest = json.loads(text)
        except ValueError as exc:
            raise ModelLoadError(f"{self._uri(name, version, MANIFEST_FILE)}: unreadable "
                                 f"manifest: {exc}") from exc
        check_manifest(manifest, self._uri(name, version, MANIFEST_FILE))
        return ModelVersion(self.root, name, int(version), self._uri(name, version, PMML_FILE),
                            manifest)

    def latest(self, name: str) -> ModelVersion:
        """The highest published version of ``name`` that is not deprecated."""
        published = self.versions(name, deprecated=False)
        if not published:
            raise ModelNotFoundError(f"{self._uri(name)}: no published version of {name!r} "
                                     f"(models here: {self.names() or 'none'})")
        return self.get(name, published[-1])

    def read_pmml(self, version: ModelVersion) -> bytes:
        """The PMML bytes of a version, after checking them against the manifest's sha256."""
        with storage(version.uri, "read the model", missing=ModelNotFoundError), \
                self._fs.open(self._p(version.name, version.version, PMML_FILE), "rb") as fh:
            data: bytes = fh.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != version.manifest.get("sha256"):
            raise ModelLoadError(f"{version.uri}: sha256 {digest} does not match the manifest's "
                                 f"{version.manifest.get('sha256')}; the file was altered")
        return data

    def describe(self) -> list[dict[str, Any]]:
        """One summary per published version: name, version, created, source, parity."""
        rows = []
        for name in self.names():
            labels = self.labels(name)
            for v in self.versions(name):
                try:
                    manifest = self.get(name, v).manifest
                except ModelLoadError as exc:  # one broken version is listed, as broken
                    rows.append({"name": name, "version": v, "created_at": None,
                                 "labels": [], "deprecated": False, "description": str(exc),
                                 "tags": {}, "framework": None, "estimator": None,
                                 "parity": "BROKEN", "backends": {}, "error": str(exc)})
                    continue
                parity = manifest.get("parity", {})
                backends = parity.get("backends", {})
                rows.append({
                    "name": name, "version": v, "created_at": manifest.get("created_at"),
                    "labels": [k for k, lv in labels.items() if lv == v],
                    "deprecated": self.is_deprecated(name, v),
                    "description": manifest.get("description"),
                    "tags": manifest.get("tags") or {},
                    "framework": manifest.get("source", {}).get("framework"),
                    "estimator": manifest.get("source", {}).get("estimator"),
                    "parity": "pass" if parity.get("passed") else "FAIL",
                    "backends": {b: ("pass" if r.get("passed") else "not checked"
                                     if r.get("checked") is False else "differs")
                                 for b, r in backends.items()},
                })
        return rows

    # -- the registry: labels, deprecation, deletion ---------------------------------------
    def labels(self, name: str) -> dict[str, int]:
        """The model's labels (``{"stable": 3}``), as :meth:`set_label` stored them."""
        check_name(name)
        path = self._p(name, LABELS_FILE)
        with storage(self._uri(name, LABELS_FILE), "read the labels"):
            try:
                with self._fs.open(path, "rb") as fh:
                    data = json.loads(fh.read())
            except FileNotFoundError:
                return {}
            except ValueError as exc:
                raise ModelLoadError(f"{self._uri(name, LABELS_FILE)}: unreadable labels: "
                                     f"{exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"{self._uri(name, LABELS_FILE)}: labels must be an object "
                                 "of label -> version")
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}

    def set_label(self, name: str, label: str, version: int) -> dict[str, int]:
        """Point ``label`` at a published, not deprecated ``version`` of ``name``; returns
        the labels. The file is replaced atomically; two writers at once: the last wins."""
        if not LABEL_PATTERN.match(label) or parse_version(label) is not None:
            raise ConfigurationError(f"label {label!r}: use a letter, then letters, digits, "
                                     "'_' or '-' (up to 64)")
        if version not in self.versions(name):
            raise ModelNotFoundError(f"{self._uri(name, version)}: no such version to label "
                                     f"(published: {self.versions(name) or 'none'})")
        if self.is_deprecated(name, version):
            raise ConfigurationError(f"{self._uri(name, version)} is deprecated: undo that "
                                     "first (pmmlkit deprecate --undo) to label it")
        return self._write_labels(name, {**self.labels(name), label: int(version)})

    def remove_label(self, name: str, label: str) -> dict[str, int]:
        labels = self.labels(name)
        if label not in labels:
            raise ModelNotFoundError(f"{self._uri(name)}: no label {label!r} (labels: "
                                     f"{sorted(labels) or 'none'})")
        del labels[label]
        return self._write_labels(name, labels)

    def _write_labels(self, name: str, labels: dict[str, int]) -> dict[str, int]:
        from pmmlkit.storage import atomic_write

        with atomic_write(self._uri(name, LABELS_FILE)) as fh:
            fh.write(json.dumps(labels, indent=2, sort_keys=True).encode())
        return labels

    def deprecate(self, name: str, version: int, *, undo: bool = False) -> None:
        """Mark a version deprecated (``undo``: unmark it): neither ``latest`` nor the
        server's latest-versions policy takes it; it still loads by its number, and a label
        pointing at it is refused until undone."""
        if version not in self.versions(name):
            raise ModelNotFoundError(f"{self._uri(name, version)}: no such version "
                                     f"(published: {self.versions(name) or 'none'})")
        held = [k for k, v in self.labels(name).items() if v == version]
        if held and not undo:
            raise ConfigurationError(f"{self._uri(name, version)} has the labels {held}: move "
                                     "or remove them first")
        path = self._p(name, version, DEPRECATED_FILE)
        with storage(self._uri(name, version), "mark the version"):
            if undo:
                if self._fs.exists(path):
                    self._fs.rm(path)
            else:
                self._fs.pipe_file(path, b"")

    def delete(self, name: str, version: int) -> None:
        """Delete a version's PMML and manifest (its number is never claimed again: the
        claim stays). Refused while a label points at it."""
        if version not in self.versions(name):
            raise ModelNotFoundError(f"{self._uri(name, version)}: no such version "
                                     f"(published: {self.versions(name) or 'none'})")
        held = [k for k, v in self.labels(name).items() if v == version]
        if held:
            raise ConfigurationError(f"{self._uri(name, version)} has the labels {held}: move "
                                     "or remove them first")
        with storage(self._uri(name, version), "delete the version"):
            # the manifest first: from then on the version does not exist for readers
            self._fs.rm(self._p(name, version, MANIFEST_FILE))
            self._fs.rm(self._p(name, version, PMML_FILE))
            if self._fs.exists(self._p(name, version, DEPRECATED_FILE)):
                self._fs.rm(self._p(name, version, DEPRECATED_FILE))

    # -- writing ---------------------------------------------------------------------------
    def publish(self, pmml: bytes, manifest: dict[str, Any], *, name: str) -> ModelVersion:
        """Publish a new version of ``name``; returns it. Concurrent publishers never collide."""
        check_name(name)
        digest = hashlib.sha256(pmml).hexdigest()
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            version = self._claim(name)
            try:
                # exclusive too: a store whose conditional writes race (moto's S3 server
                # granted one claim twice under load) loses no version, the second publisher
                # moves on to the next number
                self._create(pmml, name, version, PMML_FILE)
                break
            except _Exists:
                continue
        else:
            raise PmmlkitError(f"{self._uri(name)}: could not claim a new version")
        full = {**manifest, "name": name, "version": version, "sha256": digest}
        self._create(json.dumps(full, indent=2, sort_keys=True, default=str).encode(),
                     name, version, MANIFEST_FILE)
        return ModelVersion(self.root, name, version, self._uri(name, version, PMML_FILE), full)

    def _claim(self, name: str) -> int:
        candidate = (self._claimed(name) or [0])[-1] + 1
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            try:
                self._create(b"", name, candidate, CLAIM_FILE)
                return candidate
            except _Exists:
                candidate += 1
        raise PmmlkitError(f"{self._uri(name)}: could not claim a new version")

    def _create(self, data: bytes, *parts: str | int) -> None:
        """Create the file at ``parts`` with ``data``; FileExistsError if it exists. Complete
        or absent."""
        with storage(self._uri(*parts), "publish a file"):
            try:
                create_exclusive(self._fs, self._p(*parts), data)
            except FileExistsError as exc:
                raise _Exists(self._uri(*parts)) from exc


class _Exists(PmmlkitError):
    """A file to create exclusively exists already (internal: claims retry on it)."""


def parse_ref(ref: str) -> tuple[str, str, int | str | None] | None:
    """Split ``root/name``, ``root/name/3``, ``root/name@latest`` or ``root/name@stable`` (a
    stored label) into root, name and the version number or label (None: the latest)."""
    text = ref.rstrip("/")
    head, _, last = text.rpartition("/")
    label: str | None = None
    if "@" in last:
        last, _, label = last.partition("@")
        if label == "latest":
            label = None
        elif not LABEL_PATTERN.match(label):
            return None
    version = parse_version(last)
    if version is not None:
        if label is not None:
            return None
        head, _, last = head.rpartition("/")
    if not head or not NAME_PATTERN.match(last):
        return None
    return head, last, label if label is not None else version


def unknown_model(ref: str) -> ModelNotFoundError | None:
    """The error for a reference to a model its repository does not hold (naming the models
    it holds and the closest name), or None when ``ref`` is no such reference: no
    repository there, or a file of that name."""
    from pmmlkit.storage import exists, local_path

    parts = parse_ref(ref)
    if parts is None:
        return None
    root, name, _ = parts
    path = local_path(ref)
    if path is not None and os.path.exists(path):
        return None
    try:
        if not exists(root):
            return None
        names = Repository(root).names()
    except PmmlkitError:
        return None
    if not names:
        return None
    guess = closest(name, names)
    hint = f"; did you mean {guess!r}?" if guess else ""
    return ModelNotFoundError(f"{ref}: the repository {root} has no model {name!r} (models "
                              f"there: {', '.join(names)}){hint}")


def resolve(ref: str) -> ModelVersion | None:
    """The published version a repository reference points to; None when it is not one."""
    parts = parse_ref(ref)
    if parts is None:
        return None
    root, name, wanted = parts
    repo = Repository(root)
    if not repo._claimed(name):
        return None
    if isinstance(wanted, str):
        labels = repo.labels(name)
        if wanted not in labels:
            raise ModelNotFoundError(f"{ref}: {name!r} has no label {wanted!r} (labels: "
                                     f"{', '.join(sorted(labels)) or 'none'})")
        wanted = labels[wanted]
    return repo.get(name, wanted)

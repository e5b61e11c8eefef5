"""``pmmlkit label``, ``pmmlkit deprecate``, ``pmmlkit delete``: the repository as a
registry. Each is one :class:`pmmlkit.Repository` call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pmmlkit.cli._common import JsonOption, print_json
from pmmlkit.errors import ConfigurationError

if TYPE_CHECKING:
    from pmmlkit.repository import Repository

VersionRef = Annotated[str, typer.Argument(
    metavar="ROOT/NAME/VERSION",
    help="A published version, e.g. models/churn/3.")]


def _version(ref: str) -> tuple[Repository, str, int]:
    from pmmlkit.repository import Repository, parse_ref

    parts = parse_ref(ref)
    if parts is None or not isinstance(parts[2], int):
        raise ConfigurationError(f"{ref}: give a version as ROOT/NAME/VERSION, e.g. "
                                 "models/churn/3")
    root, name, version = parts
    assert isinstance(version, int)
    return Repository(root), name, version


def label(
    ref: VersionRef,
    name: Annotated[str, typer.Argument(metavar="LABEL",
    help="The label, e.g. stable.")],
    remove: Annotated[bool, typer.Option(
        "--remove", help="Remove the label instead (the version is not changed).")] = False,
    json: JsonOption = False,
) -> None:
    """Point a label (stable, canary...) at a version; pmmlkit serve and ROOT/NAME@LABEL
    references follow it."""
    repo, model, version = _version(ref)
    labels = (repo.remove_label(model, name) if remove
              else repo.set_label(model, name, version))
    if json:
        print_json(labels)
    else:
        typer.echo(f"{model}: " + (", ".join(f"{k} -> {v}" for k, v in sorted(labels.items()))
                                   or "no labels"))


def deprecate(
    ref: VersionRef,
    undo: Annotated[bool, typer.Option("--undo", help="Undeprecate the version.")] = False,
) -> None:
    """Deprecate a version: 'latest' and the server's latest-versions policy pass over it; it
    still loads by its number."""
    repo, model, version = _version(ref)
    repo.deprecate(model, version, undo=undo)
    typer.echo(f"{ref}: {'no longer ' if undo else ''}deprecated")


def delete(
    ref: VersionRef,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete (no question asked).")]
    = False,
) -> None:
    """Delete a version's PMML and manifest; its number is never published again."""
    if not yes:
        raise ConfigurationError(f"deleting {ref} cannot be undone: pass --yes")
    repo, model, version = _version(ref)
    repo.delete(model, version)
    typer.echo(f"{ref}: deleted")


def register(app: typer.Typer) -> None:
    app.command(short_help="Point a label (stable, canary) at a version.")(label)
    app.command(short_help="Deprecate a version: latest passes over it.")(deprecate)
    app.command(short_help="Delete a version; its number is never reused.")(delete)

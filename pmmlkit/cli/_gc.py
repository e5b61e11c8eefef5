"""``pmmlkit gc``: remove what killed jobs left (temporary files, unpublished Redis runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from pmmlkit.cli._common import JsonOption, print_json


def gc(
    target: Annotated[str, typer.Argument(
        metavar="TARGET",
        help="A folder (local path or fsspec URL) where jobs write outputs, or a Redis URL.")],
    older_than: Annotated[float, typer.Option(
        "--older-than", min=0, metavar="SECONDS",
        help="Only leftovers older than this (a running job's look the same).")] = 3600.0,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed; remove nothing.")] = False,
    json: JsonOption = False,
) -> None:
    """Remove the temporary files (.NAME.pmmlkit-tmp-*) under a folder, or the unpublished
    runs in Redis, that jobs killed with SIGKILL left behind. A job that fails, is
    interrupted or terminated cleans up by itself."""
    from pmmlkit.gc import collect

    found = collect(target, older_than=older_than, dry_run=dry_run)
    if json:
        print_json(found.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for path in found.files:
        typer.echo(f"{verb} {path}")
    for run in found.runs:
        typer.echo(f"{verb} {run['kind']} run {run['run']} of {run['name']} "
                   f"({run['keys']:,} keys)")
    typer.echo(f"{verb} {len(found.files)} temporary files and {len(found.runs)} Redis runs")


def register(app: typer.Typer) -> None:
    app.command(short_help="Remove what killed jobs left behind.")(gc)

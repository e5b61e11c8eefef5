"""The ``pmmlkit`` command line: each command is a thin shell over one library call."""

from __future__ import annotations

import sys

import typer

from pmmlkit.cli import _export, _model, _score
from pmmlkit.cli._common import run

app = typer.Typer(
    name="pmmlkit",
    help="Put scikit-learn and Spark ML models into production through PMML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_model.register(app)
_score.register(app)
_export.register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(app))


__all__ = ["app", "main"]

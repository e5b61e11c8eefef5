"""The ``pmmlkit`` command line: each command is a thin shell over one library call."""

from __future__ import annotations

import sys

import typer

from pmmlkit.cli import _export, _gc, _model, _online, _registry, _score, _serve
from pmmlkit.cli._common import run

app = typer.Typer(
    name="pmmlkit",
    help="Put scikit-learn and Spark ML models into production through PMML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help text: Typer's rich formatter costs ~80 ms of imports on every invocation
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from pmmlkit._version import __version__

        typer.echo(f"pmmlkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(
        False, "--version", help="Print pmmlkit's version and exit.", callback=_version,
        is_eager=True)) -> None:
    """Put scikit-learn and Spark ML models into production through PMML."""


_model.register(app)
_score.register(app)
_export.register(app)
_serve.register(app)
_online.register(app)
_registry.register(app)
_gc.register(app)


def main() -> None:
    """Console-script entry point. A command that started the JVM ends the process at once
    (:func:`pmmlkit.scorer.backends.exit_process`): its work is done and flushed."""
    from pmmlkit import _runtime

    _runtime.command_line = True
    code = run(app)
    if "jpype" not in sys.modules:
        sys.exit(code)
    from pmmlkit.scorer.backends import exit_process

    exit_process(code)


__all__ = ["app", "main"]

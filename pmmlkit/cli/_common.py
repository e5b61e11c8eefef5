"""Shared CLI plumbing: error translation, JSON printing and common options."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from pmmlkit.errors import PmmlkitError

BackendOption = Annotated[
    str | None,
    typer.Option("--backend", metavar="auto|jpmml|pypmml",
    help="Evaluator: auto (default: jpmml, or pypmml for a document "
                                   "jpmml refuses), jpmml or pypmml; env PMMLKIT_BACKEND."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def run(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the app; print a PmmlkitError as one clean message and return its exit code."""
    interrupted = "interrupted: nothing was published under the output's name"
    given = sys.argv[1:] if args is None else args
    try:
        code = app(args=args, standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into exit code 130
            print(interrupted, file=sys.stderr)
    except PmmlkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if "--json" in given:  # a script reading stdout gets the error there too
            print(json.dumps({**exc.to_dict(), "exit_code": exc.exit_code}, default=str))
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print(interrupted, file=sys.stderr)
        return 130
    except Exception as exc:  # usage errors: Typer raises its own (vendored) click's
        if isinstance(exc, typer.Exit) or type(exc).__name__ == "Exit":
            return int(getattr(exc, "exit_code", 0))
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            return exit_code
        raise
    return code if isinstance(code, int) else 0


def console() -> Any:
    """A rich console for stdout: terminal width on a terminal, 160 columns in a pipe."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def print_json(data: Any, *, err: bool = False) -> None:
    typer.echo(json.dumps(data, indent=2, default=str), err=err)

"""Shared CLI plumbing: error translation, JSON printing and common options."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
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


class Terminated(KeyboardInterrupt):
    """SIGTERM during a job: unwinds like Ctrl-C, so every clean-up runs."""


#: exit code of a job stopped by SIGTERM (128 + 15, as a shell reports it)
EXIT_TERMINATED = 143
TERMINATED = "terminated (SIGTERM): nothing was published under the output's name"
_terminated = threading.Event()  # Typer turns any KeyboardInterrupt into exit code 130


@contextlib.contextmanager
def stop_cleanly_on_sigterm() -> Iterator[None]:
    """For commands that write (score, export, embeddings put): SIGTERM raises
    :class:`Terminated` in the main thread, so temporary files are removed and a Redis run
    is deleted as on Ctrl-C, and the command exits 143. (SIGKILL cannot be caught: then
    ``pmmlkit gc`` removes what the job left.)"""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        _terminated.set()
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the app; print a PmmlkitError as one clean message and return its exit code."""
    interrupted = "interrupted: nothing was published under the output's name"
    given = sys.argv[1:] if args is None else args
    command = next((a for a in given if not a.startswith("-")), None)
    # the server handles SIGTERM itself (uvicorn drains, then re-raises it)
    signals = contextlib.nullcontext() if command == "serve" else stop_cleanly_on_sigterm()
    try:
        with signals:
            code = app(args=args, standalone_mode=False)
        if code == 130 and _terminated.is_set():
            print(TERMINATED, file=sys.stderr)
            return EXIT_TERMINATED
        if code == 130:  # typer turns Ctrl-C into exit code 130
            print(interrupted, file=sys.stderr)
    except PmmlkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if "--json" in given:  # a script reading stdout gets the error there too
            print(json.dumps({**exc.to_dict(), "exit_code": exc.exit_code}, default=str))
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        if _terminated.is_set():
            print(TERMINATED, file=sys.stderr)
            return EXIT_TERMINATED
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

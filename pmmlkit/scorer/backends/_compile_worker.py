"""The compiler process (``python -m pmmlkit.scorer.backends._compile_worker SHA256
BUDGET``, started by :mod:`pmmlkit.scorer.backends._compiled`): its own module, so that the
compile cache never imports the evaluator it compiles for."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

from pmmlkit.scorer.backends import _jars


def main(argv: list[str]) -> int:
    """The compiler process: compile the PMML on stdin into the cache, then release the lock.

    javac cannot be interrupted, so the compile runs in a thread and the process ends itself
    at the budget. A failure or a timeout is remembered in the cache: later processes do not
    try again (until :func:`clear_cache`).
    """
    sha256, budget = argv[0], float(argv[1])
    outcome: list[str] = []

    def compile_it(jpype: Any, pmml: bytes, schema: Any) -> None:
        from pmmlkit.scorer.backends import jpmml

        thread = jpype.JClass("java.lang.Thread")
        thread.attachAsDaemon()
        # javac looks up the context class loader, unset on a thread attached from Python
        thread.currentThread().setContextClassLoader(
            jpype.JClass("java.lang.ClassLoader").getSystemClassLoader())
        try:
            _jars.compile_jar(jpype, jpmml.prepared_pmml(jpype, pmml, schema), sha256)
            outcome.append("")
        except Exception as exc:
            outcome.append(_jars._describe(exc))

    slot = _jars.compile_slot()
    held = contextlib.ExitStack()  # the slot is released when this process ends
    try:
        from pmmlkit.schema import read_schema
        from pmmlkit.scorer.backends import _jvm

        pmml = sys.stdin.buffer.read()
        held.enter_context(slot)
        _jars._running_path(sha256).touch()
        jpype = _jvm.ensure_jvm()
        worker = threading.Thread(target=compile_it, args=(jpype, pmml,
                                                           read_schema(pmml, source="<compile>")),
                                  daemon=True)
        worker.start()
        worker.join(budget)
        reason = (outcome[0] if outcome else
                  f"compiling took longer than its budget of {budget:g} s "
                  "(PMMLKIT_COMPILE_TIMEOUT)")
    except Exception as exc:
        reason = _jars._describe(exc)
    if reason:
        if ":" not in reason:  # javac printed the details (e.g. "code too large") above
            reason += f" (see {_jars._log_path(sha256)})"
        print(f"{_jars._ERROR_MARK} {reason}", file=sys.stderr)
        with contextlib.suppress(OSError):
            _jars._failed_path(sha256).write_text(reason + "\n")
    _jars._running_path(sha256).unlink(missing_ok=True)
    _jars._lock_path(sha256).unlink(missing_ok=True)
    sys.stderr.flush()
    os._exit(1 if reason else 0)  # never wait for a compile still running (the slot goes too)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``pmmlkit inspect``, ``pmmlkit verify`` and ``pmmlkit doctor``."""

from __future__ import annotations

from typing import Annotated

import typer

from pmmlkit.cli._common import BackendOption, JsonOption, console, print_json
from pmmlkit.errors import PmmlkitError, VerificationError

ModelArg = Annotated[str, typer.Argument(
    metavar="MODEL",
    help="PMML file (local path or fsspec URL) or repository reference ROOT/NAME[/VERSION].")]


def inspect(model: ModelArg, backend: BackendOption = None, json: JsonOption = False) -> None:
    """Show a model's inputs, targets and output columns."""
    from pmmlkit.scorer import load

    loaded = load(model, backend=backend, verify=False)
    schema = loaded.schema
    if json:
        print_json({"source": loaded.source, "sha256": loaded.sha256,
                    "evaluator": loaded.evaluator, "plan": loaded.plan,
                    "schema": schema.to_dict()})
        return
    from rich.table import Table

    out_console = console()
    out_console.print(f"[bold]{loaded.source}[/bold]: {schema.model_element} "
                  f"({schema.function_name}), {schema.algorithm or 'no algorithm name'}, "
                  f"PMML {schema.pmml_version}, made by {schema.application or 'unknown'}")
    out_console.print(f"evaluator: {loaded.evaluator}; columnar plan: {loaded.plan}",
                      markup=False)
    table = Table("input", "data type", "op type", "valid values", "an invalid value",
                  "a missing value")
    for f in schema.inputs:
        valid = ", ".join(f.valid_values[:8]) + (" …" if len(f.valid_values) > 8 else "")
        if f.intervals:
            valid = ", ".join(f"{iv.closure}[{iv.left}, {iv.right}]" for iv in f.intervals)
        table.add_row(f.name, f.data_type, f.op_type, valid, schema.describe_invalid(f.name),
                      schema.describe_missing(f.name))
    out_console.print(table)
    out = Table("output column", "kind", "data type")
    for c in schema.columns:
        out.add_row(c.name, c.kind, c.data_type)
    out_console.print(out)


def verify(model: ModelArg, backend: BackendOption = None, json: JsonOption = False) -> None:
    """Replay the PMML's ModelVerification records; exit 8 when they are not reproduced."""
    from pmmlkit.scorer import load

    loaded = load(model, backend=backend, verify=False)
    report = loaded.verify()
    if json:
        print_json(report.to_dict())
        if not report.passed:  # the JSON above is the answer: nothing more on stdout
            raise typer.Exit(VerificationError.exit_code)
    else:
        typer.echo(f"{loaded.source} ({loaded.evaluator}): {report.summary()}")
    if not report.passed:
        raise VerificationError(f"{loaded.source}: verification failed")


def doctor(json: JsonOption = False) -> None:
    """Check Java, both backends and converter versions; exit 1 when something is wrong."""
    from pmmlkit.doctor import run_doctor

    report = run_doctor()
    if json:
        print_json(report.to_dict())
        if not report.ok:  # the JSON above is the answer: nothing more on stdout
            raise typer.Exit(PmmlkitError.exit_code)
    else:
        for check in report.checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            console().print(f"{mark} {check.name}: {check.detail}", highlight=False)
    if not report.ok:
        raise PmmlkitError("some checks failed (see above)")


def register(app: typer.Typer) -> None:
    app.command(short_help="Show a model's inputs, outputs and input treatments.")(inspect)
    app.command(short_help="Replay the PMML's verification records.")(verify)
    app.command(short_help="Check Java, the evaluators and the converters.")(doctor)

"""``pmmlkit export sklearn|spark`` and ``pmmlkit list``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pmmlkit.cli._common import JsonOption, console, print_json

export_app = typer.Typer(help="Export a trained model to PMML in a repository, parity-checked.",
                         no_args_is_help=True)

RepoOption = Annotated[str | None, typer.Option(
    "--repo", metavar="ROOT",
    help="Repository root: local path or fsspec URL (default: PMMLKIT_REPO or "
         "./models).")]
NameOption = Annotated[str, typer.Option("--name", metavar="NAME",
help="Model name (letters, digits, . _ -).")]
ToleranceOption = Annotated[float, typer.Option(
    "--tolerance", metavar="X",
    help="Max |difference| allowed between the PMML and the native model.")]
RowsOption = Annotated[int, typer.Option(
    "--verification-rows", metavar="N",
    help="Sample rows embedded as PMML verification records.")]
DescriptionOption = Annotated[str | None, typer.Option(
    "--description", metavar="TEXT",
    help="What this version is, recorded in its manifest.")]
TagOption = Annotated[list[str] | None, typer.Option(
    "--tag", metavar="KEY=VALUE",
    help="A tag recorded in the manifest (repeat).")]
MetricOption = Annotated[list[str] | None, typer.Option(
    "--metric", metavar="NAME=NUMBER",
    help="A metric recorded in the manifest, e.g. auc=0.91 "
         "(repeat).")]
BudgetOption = Annotated[float, typer.Option(
    "--parity-budget", min=0, metavar="SECONDS",
    help="Seconds the parity check may spend on each evaluator "
         "but the default (a slower one is reported 'not checked "
         "(budget)'); the default evaluator is always checked.")]


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from pmmlkit.errors import ConfigurationError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"{what} {item!r}: use KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _metrics(items: list[str] | None) -> dict[str, float]:
    from pmmlkit.errors import ConfigurationError

    out = {}
    for key, value in _pairs(items, "--metric").items():
        try:
            out[key] = float(value)
        except ValueError as exc:
            raise ConfigurationError(f"--metric {key}={value}: the value must be a number"
                                     ) from exc
    return out


def _options(items: list[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE``: the value read as JSON (true, 3, "x"), else as text."""
    import json as json_module

    out: dict[str, Any] = {}
    for key, value in _pairs(items, "--option").items():
        try:
            out[key] = json_module.loads(value)
        except ValueError:
            out[key] = value
    return out


def _print_version(ref: Any, json: bool) -> None:
    if json:
        print_json({"name": ref.name, "version": ref.version, "uri": ref.uri,
                    "manifest": ref.manifest})
        return
    parity = ref.manifest["parity"]
    typer.echo(f"published {ref.name} version {ref.version}: {ref.uri}")
    probes = parity.get("probes") or []
    for outcome, say in (("pmml refuses", "the PMML refuses what the native model scores"),
                         ("pmml scores", "the PMML scores what the native model refuses")):
        found = [f"{p['column']} {p['case']}" for p in probes if p["outcome"] == outcome]
        if found:
            typer.echo(f"  note: {say}: {', '.join(found[:6])}"
                       + (f" (and {len(found) - 6} more)" if len(found) > 6 else ""))
    for backend, report in parity["backends"].items():
        if report.get("checked") is False:
            typer.echo(f"  parity {backend}: {report.get('reason', 'not checked')}")
            continue
        worst = report.get("max_abs_difference", {})
        status = "pass" if report.get("passed") else "DIFFERS"
        typer.echo(f"  parity {backend}: {status}, max |difference| {worst} over "
                   f"{parity['rows']} rows")


@export_app.command("sklearn")
def sklearn(
    model_file: Annotated[str, typer.Argument(
        metavar="MODEL_FILE",
        help="Fitted estimator saved with joblib or pickle. These formats run code when "
             "loaded: load only files you trust.")],
    sample: Annotated[str, typer.Option("--sample", metavar="PATH",
    help="CSV or Parquet sample of the "
         "training data.")],
    name: NameOption,
    repo: RepoOption = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="COLUMN",
        help="Label column of the sample (dropped from the features).")] = None,
    tolerance: ToleranceOption = 1e-6,
    verification_rows: RowsOption = 100,
    parity_budget: BudgetOption = 60.0,
    option: Annotated[list[str] | None, typer.Option(
        "--option", metavar="KEY=VALUE",
        help="An sklearn2pmml conversion option "
             "(PMMLPipeline.configure), e.g. compact=false "
             "(repeat).")] = None,
    description: DescriptionOption = None,
    tag: TagOption = None,
    metric: MetricOption = None,
    probe: Annotated[bool, typer.Option(
        "--probe/--no-probe", help="Also compare rows the sample lacks (each input missing, "
                                   "each category unseen, numbers beyond its range).")] = True,
    json: JsonOption = False,
) -> None:
    """Export a scikit-learn model (joblib/pickle; trusted files only) to PMML and publish it."""
    import warnings

    from pmmlkit.converter import export_sklearn_file

    # a model fitted on arrays is given the sample's named columns: scikit-learn says so on
    # every predict (this process only exports)
    warnings.filterwarnings("ignore", message="X has feature names, but")
    ref = export_sklearn_file(model_file, sample, name=name, repo=repo, target=target,
                              tolerance=tolerance, verification_rows=verification_rows,
                              parity_budget=parity_budget, options=_options(option),
                              description=description, tags=_pairs(tag, "--tag"),
                              metrics=_metrics(metric), probe=probe)
    _print_version(ref, json)


@export_app.command("spark")
def spark(
    pipeline_model_dir: Annotated[str, typer.Argument(
        metavar="PIPELINE_DIR",
        help="A fitted PipelineModel saved with model.save(path).")],
    sample: Annotated[str, typer.Option("--sample", metavar="PATH",
    help="CSV or Parquet sample with the "
         "input columns.")],
    name: NameOption,
    repo: RepoOption = None,
    tolerance: ToleranceOption = 1e-6,
    verification_rows: RowsOption = 100,
    parity_budget: BudgetOption = 60.0,
    description: DescriptionOption = None,
    tag: TagOption = None,
    metric: MetricOption = None,
    json: JsonOption = False,
) -> None:
    """Export a saved Spark ML PipelineModel to PMML and publish it."""
    from pmmlkit.converter import export_spark_dir

    ref = export_spark_dir(pipeline_model_dir, sample, name=name, repo=repo,
                           tolerance=tolerance, verification_rows=verification_rows,
                           parity_budget=parity_budget, description=description,
                           tags=_pairs(tag, "--tag"), metrics=_metrics(metric))
    _print_version(ref, json)


def list_models(
    root: Annotated[str | None, typer.Argument(
        metavar="ROOT",
        help="Repository root (default: PMMLKIT_REPO or ./models).")] = None,
    json: JsonOption = False,
) -> None:
    """List the published models: name, version, created, framework, parity status."""
    from rich.table import Table

    from pmmlkit.repository import Repository

    rows = Repository(root).describe()
    if json:
        print_json(rows)
        return
    table = Table("name", "version", "labels", "created", "framework", "estimator", "parity",
                  "backends", "description")
    for r in rows:
        version = str(r["version"]) + (" (deprecated)" if r["deprecated"] else "")
        table.add_row(r["name"], version, ", ".join(r["labels"]), r["created_at"] or "",
                      r["framework"] or "", r["estimator"] or "", r["parity"],
                      ", ".join(f"{b} {s}" for b, s in r["backends"].items()),
                      r["description"] or "")
    console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export", short_help="Export a trained model to PMML, parity-checked.")
    app.command("list", short_help="List the repository's models and versions.")(list_models)

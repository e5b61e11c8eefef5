"""``pmmlkit score``: streaming batch scoring of CSV and Parquet files."""

from __future__ import annotations

from typing import Annotated

import typer

from pmmlkit.cli._common import BackendOption, JsonOption, print_json


def score(
    model: Annotated[str, typer.Argument(
        metavar="MODEL",
        help="PMML file (local path or fsspec URL) or repository reference ROOT/NAME[/VERSION].")],
    input: Annotated[str, typer.Argument(
        metavar="INPUT",
        help="CSV (.csv, .tsv, .txt with its delimiter read from the header; each may be .gz) "
             "or Parquet (.parquet, .pq) file, local or fsspec URL; '-' reads CSV from stdin.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", "--to",
        metavar="PATH",
        help="Where to write results: CSV or Parquet by extension, '-' = stdout, or "
             "redis://HOST:PORT/DB (with --key). Default: INPUT with .scored before the "
             "extension.")] = None,
    keep: Annotated[list[str] | None, typer.Option(
        "--keep", metavar="COLUMN",
        help="Input column to copy to the output (repeat, or comma-separate).")] = None,
    rejects: Annotated[str | None, typer.Option(
        "--rejects", metavar="PATH",
        help="Write rejected rows (row, field, value, reason, kept columns) "
             "here.")] = None,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, metavar="ROWS",
        help="Rows per chunk; bounds memory.")] = 50_000,
    backend: BackendOption = None,
    max_rejects: Annotated[int | None, typer.Option(
        "--max-rejects", min=0, metavar="N",
        help="Stop with exit 11, publishing nothing, once more rows "
             "than this are rejected. Default: no limit.")] = None,
    na_values: Annotated[list[str] | None, typer.Option(
        "--na-values", metavar="MARKER",
        help="CSV cells read as missing in model inputs (repeat, or "
             "comma-separate). Default: NA, N/A, NULL, NaN, null, None, #N/A "
             "and the other pandas/pyarrow markers; --na-values '' keeps only "
             "the empty cell.")] = None,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="COLUMN",
        help="With a redis:// output: the input column each result is stored "
             "under.")] = None,
    ttl: Annotated[int | None, typer.Option(
        "--ttl", min=1, metavar="SECONDS",
        help="With a redis:// output: seconds each result lives.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME",
        help="With a redis:// output: the model name to store results under "
             "(default: the repository model's name; needed for a PMML file).")
    ] = None,
    spark: Annotated[bool, typer.Option(
        "--spark", help="Score on Spark: INPUT is any path Spark reads (a file or a folder); "
                        "OUTPUT and --rejects are written as folders of part files.")] = False,
    master: Annotated[str | None, typer.Option(
        "--master", metavar="URL",
        help="With --spark: the Spark master URL (spark://HOST:PORT, local[N], "
             "...). Default: local[*].")] = None,
    delimiter: Annotated[str | None, typer.Option(
        "--delimiter", metavar="CHAR",
        help="The CSV delimiter, in place of the one the "
             "extension implies (';' for European files).")
    ] = None,
    decimal: Annotated[str, typer.Option(
        "--decimal", metavar="CHAR",
        help="The decimal separator of numbers in the CSV: '.' "
             "or ',' (no thousands separators).")] = ".",
    all_rows: Annotated[bool, typer.Option(
        "--all-rows", help="Write every input row, in order, with an 'error' column (outputs "
                           "empty where rejected): results line up with the input without "
                           "an id column.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an OUTPUT or --rejects file that exists (never the "
                            "input).")] = False,
    allow_missing_columns: Annotated[bool, typer.Option(
        "--allow-missing-columns", help="Score model inputs absent from INPUT as missing on "
                                        "every row (default: an absent input is an error "
                                        "naming it).")] = False,
    json: JsonOption = False,
) -> None:
    """Score a CSV or Parquet file in chunks; exit 0 if every row scored, 10 if some were
    rejected, 11 if rejects exceeded --max-rejects."""
    from pmmlkit.batch import EXIT_ROWS_REJECTED
    from pmmlkit.jobs import score as run

    columns = [c.strip() for item in keep or [] for c in item.split(",") if c.strip()]
    markers = (None if na_values is None else
               [m.strip() for item in na_values for m in item.split(",") if m.strip()])
    summary = run(model, input, output, spark=spark, master=master, keep=columns,
                  rejects=rejects, chunk_size=chunk_size, backend=backend,
                  max_rejects=max_rejects, na_values=markers, key=key, ttl=ttl, name=name,
                  allow_missing_columns=allow_missing_columns, overwrite=overwrite,
                  delimiter=delimiter, decimal=decimal, all_rows=all_rows)
    if json:  # on stderr when the results go to stdout, so the two never mix
        print_json(summary.to_dict(), err=summary.output == "-")
    else:
        from pmmlkit.online import redacted

        target = "stdout" if summary.output == "-" else redacted(summary.output)
        if summary.rows_written is not None:
            target += f" ({summary.rows_written:,} results stored)"
        typer.echo(f"read {summary.rows_read:,} rows: {summary.rows_scored:,} scored, "
                   f"{summary.rows_rejected:,} rejected, {summary.rows_per_second:,.0f} rows/s "
                   f"-> {target}" + (f" (rejects: {summary.rejects})" if summary.rejects else ""),
                   err=summary.output == "-")
        for item in summary.first_rejects[:5]:
            where = "" if item["row"] is None else f"row {item['row']}: "
            typer.echo(f"  {where}{item['reason']}"
                       + (f" [field {item['field']!r}]" if item["field"] else ""), err=True)
    if summary.rows_rejected:
        raise typer.Exit(EXIT_ROWS_REJECTED)


def register(app: typer.Typer) -> None:
    app.command(short_help="Score a CSV or Parquet file into results and rejects.")(score)

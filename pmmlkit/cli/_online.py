"""``pmmlkit embeddings put`` and ``pmmlkit lookup``: the Redis online store."""

from __future__ import annotations

from typing import Annotated

import typer

from pmmlkit.cli._common import JsonOption, print_json

embeddings = typer.Typer(help="Embedding sets in Redis, looked up by served models.",
                         no_args_is_help=True)

UrlArg = Annotated[str, typer.Argument(metavar="URL", help="Redis URL: redis://[:PASSWORD@]HOST:PORT/DB.")]


@embeddings.command("put")
def put(
    url: UrlArg,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The embedding set's name (e.g. users).")],
    file: Annotated[str, typer.Argument(
        metavar="FILE",
        help="Parquet (the key column and one list column, or numeric columns) or NumPy .npz "
             "(the key array and one 2-D array); one row per entity.")],
    key: Annotated[str, typer.Option("--key", metavar="COLUMN",
    help="The column (or .npz array) of ids.")] = "id",
    grace: Annotated[int, typer.Option(
        "--grace", min=0, metavar="SECONDS",
        help="Seconds the previous version stays readable after the "
             "switch.")] = 300,
    ttl: Annotated[int | None, typer.Option(
        "--ttl", min=1, metavar="SECONDS",
        help="Seconds each vector lives. Default: until replaced.")] = None,
    json: JsonOption = False,
) -> None:
    """Write vectors as packed float32 into a new version of the set; readers switch to it
    in one step once every vector is written."""
    from pmmlkit.online import put_embeddings

    summary = put_embeddings(url, name, file, key=key, grace=grace, ttl=ttl)
    if json:
        print_json(summary.to_dict())
        return
    typer.echo(f"put {summary.count:,} vectors of {summary.dim} float32 into {name} "
               f"(run {summary.run}) in {summary.seconds:.2f} s"
               + (f"; the previous run {summary.previous} expires in {grace} s"
                  if summary.previous else ""))


def lookup(
    url: UrlArg,
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="The model's name (its repository name, or the --name given to "
                              "`pmmlkit score --to`).")],
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Keys to read.")],
    json: JsonOption = False,
) -> None:
    """Read pre-computed results by key (written by `pmmlkit score ... --to redis://`);
    exit 10 when some keys have no result."""
    from pmmlkit._values import json_value
    from pmmlkit.online import lookup as read

    frame = read(url, model, keys)
    if json:
        print_json({"model": model, "version": frame.attrs.get("version"),
                    "run": frame.attrs.get("run"),
                    "results": [{k: json_value(v) for k, v in row.items()}
                                for row in frame.to_dict("records")]})
    else:
        typer.echo(frame.to_string(index=False))
    if frame["error"].notna().any():
        raise typer.Exit(10)


def register(app: typer.Typer) -> None:
    app.add_typer(embeddings, name="embeddings")
    app.command(short_help="Read pre-computed results from Redis by key.")(lookup)

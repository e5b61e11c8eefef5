"""``pmmlkit serve``: the HTTP server (uvicorn running :func:`pmmlkit.server.create_app`)."""

from __future__ import annotations

from typing import Annotated

import typer

from pmmlkit.cli._common import BackendOption

LOOPBACK = "127.0.0.1"


def serve(
    repo: Annotated[str | None, typer.Argument(
        metavar="REPO",
        help="Repository to serve: local path or s3:// URL (default: PMMLKIT_REPO or "
             "./models).")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      metavar="PORT",
                                      help="TCP port of the REST API (TF Serving's REST "
                                           "port).")] = 8501,
    grpc_port: Annotated[int, typer.Option(
        "--grpc-port", min=0, max=65535, metavar="PORT",
        help="TCP port of TF Serving's gRPC API (PredictionService, ModelService); 0: "
             "off.")] = 8500,
    v2_grpc_port: Annotated[int, typer.Option(
        "--v2-grpc-port", min=0, max=65535, metavar="PORT",
        help="TCP port of the Open Inference Protocol's gRPC API (KServe V2); 0: "
             "off.")] = 8081,
    host: Annotated[str, typer.Option(
        "--host", metavar="ADDRESS",
        help="Address to bind. Anything but loopback needs --api-key.")] = LOOPBACK,
    model: Annotated[list[str] | None, typer.Option(
        "--model", metavar="NAME",
        help="Serve only this model (repeat); default: every model.")] = None,
    poll: Annotated[float, typer.Option(
        "--poll", min=0, metavar="SECONDS",
        help="Seconds between repository polls for new versions (0: load "
             "once).")] = 10.0,
    versions: Annotated[str, typer.Option(
        "--versions", metavar="POLICY",
        help="Version policy: latest, latest:N, all, or a list like 3,4.")
    ] = "latest",
    label: Annotated[list[str] | None, typer.Option(
        "--label", metavar="NAME:LABEL=VERSION",
        help="NAME:LABEL=VERSION, e.g. churn:stable=3 (repeat); the version is "
                        "served too.")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="PMMLKIT_API_KEY",
        metavar="KEY",
        help="Require this key (Authorization: Bearer KEY or X-API-Key) on every endpoint "
             "but /v2/health/*; needed beyond loopback.")] = None,
    max_body_mb: Annotated[float, typer.Option(
        "--max-body-mb", min=0.001, metavar="MIB",
        help="Largest request body (after gunzip), MiB; 413 "
             "beyond.")] = 16.0,
    batch_wait_ms: Annotated[float, typer.Option(
        "--batch-wait-ms", min=0, metavar="MS",
        help="Under load, how long a request may wait for others "
             "to share its JVM call.")] = 1.0,
    max_batch_rows: Annotated[int, typer.Option(
        "--max-batch-rows", min=1, metavar="ROWS",
        help="Most rows in one coalesced JVM call.")] = 256,
    queue_rows: Annotated[int, typer.Option(
        "--queue-rows", min=1, metavar="ROWS",
        help="Most rows waiting per model version; 429 beyond.")] = 8192,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.001, metavar="SECONDS",
        help="Seconds a request may take; 504 beyond.")] = 30.0,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, metavar="N",
        help="Scoring threads (default: usable cores).")] = None,
    backend: BackendOption = None,
    redis: Annotated[str | None, typer.Option(
        "--redis", metavar="URL",
        help="Redis URL for pre-computed results (POST /v1/results/MODEL:lookup) "
             "and embedding lookups; env PMMLKIT_REDIS.")] = None,
    lookups: Annotated[str | None, typer.Option(
        "--lookups", metavar="PATH",
        help="TOML file declaring each model's embedding lookups (request "
             "field, embedding set, input prefix, default); see "
             "docs/online.md.")] = None,
    lookup_cache: Annotated[int, typer.Option(
        "--lookup-cache", min=0, metavar="VECTORS",
        help="Embedding vectors kept in memory (exact: a run's "
             "vectors never change); 0 reads every id from Redis.")
    ] = 100_000,
    allow_missing_columns: Annotated[bool, typer.Option(
        "--allow-missing-columns", help="Score a model input that a request does not give "
                                        "as missing (default: 400 naming it).")] = False,
    redis_timeout: Annotated[float, typer.Option(
        "--redis-timeout", min=0.001, metavar="SECONDS",
        help="Seconds a Redis call may take before it fails (503); five failures in a row "
             "fail Redis calls at once for 5 s.")] = 1.0,
    load_workers: Annotated[int | None, typer.Option(
        "--load-workers", min=1, metavar="N",
        help="Model versions loaded at once (default: cores, 2 to 8).")] = None,
    header_timeout: Annotated[float, typer.Option(
        "--header-timeout", min=0.001, metavar="SECONDS",
        help="Seconds a request's headers may take to arrive; 408 and close "
             "beyond.")] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        "--body-timeout", min=0.001, metavar="SECONDS",
        help="Seconds a request's body may take to arrive after its headers; 408 and "
             "close beyond.")] = 60.0,
    access_log: Annotated[bool, typer.Option(
        "--access-log", help="Log every request on stderr, in uvicorn's format.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", metavar="LEVEL",
    help="uvicorn's log level.")
                         ] = "info",
) -> None:
    """Serve a repository's models over HTTP and gRPC: TF Serving's REST and gRPC APIs, the
    Open Inference Protocol (REST and gRPC), CSV; new versions are loaded and swapped in
    without downtime."""
    from pmmlkit.server.serve import serve as run_server

    run_server(repo, host=host, port=port, grpc_port=grpc_port, v2_grpc_port=v2_grpc_port,
               model=model, poll=poll, versions=versions,
               label=label or (), api_key=api_key, max_body_mb=max_body_mb,
               batch_wait_ms=batch_wait_ms, max_batch_rows=max_batch_rows,
               queue_rows=queue_rows, timeout=timeout, workers=workers, backend=backend,
               redis=redis, lookups=lookups, lookup_cache=lookup_cache,
               allow_missing_columns=allow_missing_columns, redis_timeout=redis_timeout,
               load_workers=load_workers, header_timeout=header_timeout,
               body_timeout=body_timeout, access_log=access_log, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command(short_help="Serve the repository's models over HTTP and gRPC (TF Serving, "
                           "KServe V2).")(serve)

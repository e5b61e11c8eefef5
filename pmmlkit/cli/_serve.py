"""``pmmlkit serve``: the HTTP server (uvicorn running :func:`pmmlkit.server.create_app`)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

from pmmlkit.cli._common import BackendOption
from pmmlkit.errors import ConfigurationError

LOOPBACK = "127.0.0.1"


def _labels(items: list[str]) -> dict[str, dict[str, int]]:
    labels: dict[str, dict[str, int]] = {}
    for item in items:
        name, _, rest = item.partition(":")
        label, _, version = rest.partition("=")
        if not (name and label and version.isascii() and version.isdigit()):
            raise ConfigurationError(f"--label {item!r}: use NAME:LABEL=VERSION, e.g. "
                                     "churn:stable=3")
        labels.setdefault(name, {})[label] = int(version)
    return labels


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    repo: Annotated[str | None, typer.Argument(
        help="Repository to serve: local path or s3:// URL (default: PMMLKIT_REPO or "
             "./models).")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="TCP port (TF Serving's REST port).")] = 8501,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind. Anything but loopback needs --api-key (a warning "
                       "otherwise).")] = LOOPBACK,
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Serve only this model (repeat); default: every model.")] = None,
    poll: Annotated[float, typer.Option(
        "--poll", min=0, help="Seconds between repository polls for new versions (0: load "
                              "once).")] = 10.0,
    versions: Annotated[str, typer.Option(
        "--versions", help="Version policy: latest, latest:N, all, or a list like 3,4.")
    ] = "latest",
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="NAME:LABEL=VERSION, e.g. churn:stable=3 (repeat); the version is "
                        "served too.")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="PMMLKIT_API_KEY",
        help="Require this key (Authorization: Bearer KEY or X-API-Key) on every endpoint "
             "but /v2/health/*; env PMMLKIT_API_KEY.")] = None,
    max_body_mb: Annotated[float, typer.Option(
        "--max-body-mb", min=0.001, help="Largest request body (after gunzip), MiB; 413 "
                                         "beyond.")] = 16.0,
    batch_wait_ms: Annotated[float, typer.Option(
        "--batch-wait-ms", min=0, help="Under load, how long a request may wait for others "
                                       "to share its JVM call.")] = 1.0,
    max_batch_rows: Annotated[int, typer.Option(
        "--max-batch-rows", min=1, help="Most rows in one coalesced JVM call.")] = 256,
    queue_rows: Annotated[int, typer.Option(
        "--queue-rows", min=1, help="Most rows waiting per model version; 429 beyond.")] = 8192,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.001, help="Seconds a request may take; 504 beyond.")] = 30.0,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Scoring threads (default: usable cores).")] = None,
    backend: BackendOption = None,
    redis: Annotated[str | None, typer.Option(
        "--redis", help="Redis URL for pre-computed results (POST /v1/results/MODEL:lookup) "
                        "and embedding lookups; env PMMLKIT_REDIS.")] = None,
    lookups: Annotated[str | None, typer.Option(
        "--lookups", help="TOML file declaring each model's embedding lookups (request "
                          "field, embedding set, input prefix, default); see "
                          "docs/online.md.")] = None,
    lookup_cache: Annotated[int, typer.Option(
        "--lookup-cache", min=0, help="Embedding vectors kept in memory (exact: a run's "
                                      "vectors never change); 0 reads every id from Redis.")
    ] = 100_000,
    allow_missing_columns: Annotated[bool, typer.Option(
        "--allow-missing-columns", help="Score a model input that a request does not give "
                                        "as missing (default: 400 naming it).")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")
                         ] = "info",
) -> None:
    """Serve a repository's models over HTTP: TF Serving REST API, Open Inference Protocol,
    CSV; new versions are loaded and swapped in without downtime."""
    import uvicorn

    from pmmlkit.server import ServerConfig, VersionPolicy, create_app

    try:
        policy = VersionPolicy.parse(versions)
    except ValueError as exc:
        raise ConfigurationError(f"--versions: {exc}") from exc
    config = ServerConfig(
        repo=repo or os.environ.get("PMMLKIT_REPO") or "models", models=model or None,
        poll=poll, policy=policy, labels=_labels(label or []), backend=backend,
        api_key=api_key or None, max_body_bytes=int(max_body_mb * 1024 * 1024),
        batch_wait_ms=batch_wait_ms, max_batch_rows=max_batch_rows, queue_rows=queue_rows,
        timeout=timeout, redis=redis or os.environ.get("PMMLKIT_REDIS") or None,
        allow_missing_columns=allow_missing_columns)
    if lookups:
        from pmmlkit.server.lookups import read_config

        config.lookups = read_config(lookups)
        config.lookup_cache = lookup_cache
    if workers:
        config.workers = workers
    if not _is_loopback(host) and not config.api_key:
        typer.echo(f"warning: serving on {host} without --api-key: anyone who can reach "
                   "this address can use the models", err=True)
    _log_to_stderr(log_level)
    app = create_app(config=config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=30)


def _log_to_stderr(level: str) -> None:
    """Model loads, swaps and failures on stderr, in uvicorn's format."""
    import logging

    logger = logging.getLogger("pmmlkit.server")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping()
                    else "INFO")
    logger.propagate = False


def register(app: typer.Typer) -> None:
    app.command()(serve)

"""``pmmlkit.server.serve``: run the server (uvicorn over :func:`create_app`), with the
start-up checks of what was asked for; what ``pmmlkit serve`` calls.

Before anything binds a port: the repository must exist, each named model must be in it
(an error naming the models there and the closest one), and an address beyond loopback
needs an API key (``--api-key`` or ``PMMLKIT_API_KEY``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Sequence

from pmmlkit._names import closest
from pmmlkit.errors import ConfigurationError, ModelNotFoundError
from pmmlkit.server.app import create_app
from pmmlkit.server.core import DEFAULT_MAX_BODY, ServerConfig
from pmmlkit.server.http import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, protocol
from pmmlkit.server.registry import VersionPolicy

LOOPBACK = "127.0.0.1"


def parse_labels(items: Sequence[str]) -> dict[str, dict[str, int]]:
    """``NAME:LABEL=VERSION`` items (``churn:stable=3``) as ``{name: {label: version}}``."""
    labels: dict[str, dict[str, int]] = {}
    for item in items:
        name, _, rest = item.partition(":")
        label, _, version = rest.partition("=")
        if not (name and label and version.isascii() and version.isdigit()):
            raise ConfigurationError(f"label {item!r}: use NAME:LABEL=VERSION, e.g. "
                                     "churn:stable=3")
        labels.setdefault(name, {})[label] = int(version)
    return labels


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_start(config: ServerConfig, host: str) -> None:
    """What must hold before serving: the API-key rule, the repository, the named models."""
    from pmmlkit.repository import Repository
    from pmmlkit.storage import exists

    if not is_loopback(host) and not config.api_key:
        raise ConfigurationError(
            f"serving on {host} needs an API key: anyone who can reach this address could "
            "use the models. Give --api-key KEY (or PMMLKIT_API_KEY), or bind to "
            f"{LOOPBACK}")
    repository = Repository(config.repo)
    if not exists(repository.root):
        raise ConfigurationError(f"{config.repo}: no repository there (no such folder or "
                                 "bucket); publish a model with pmmlkit export, or give the "
                                 "repository's path")
    if config.models:
        names = repository.names()
        for name in config.models:
            if name not in names:
                guess = closest(name, names)
                raise ModelNotFoundError(
                    f"{config.repo}: no model {name!r} to serve (models there: "
                    f"{', '.join(names) or 'none'})"
                    + (f"; did you mean {guess!r}?" if guess else ""))


def serve(repo: str | None = None, *, host: str = LOOPBACK, port: int = 8501,
          grpc_port: int = 8500, v2_grpc_port: int = 8081,
          model: Sequence[str] | None = None, poll: float = 10.0, versions: str = "latest",
          label: Sequence[str] = (), api_key: str | None = None, max_body_mb: float = 16.0,
          batch_wait_ms: float = 1.0, max_batch_rows: int = 256, queue_rows: int = 8192,
          timeout: float = 30.0, workers: int | None = None, backend: str | None = None,
          redis: str | None = None, lookups: str | None = None, lookup_cache: int = 100_000,
          allow_missing_columns: bool = False, redis_timeout: float = 1.0,
          load_workers: int | None = None, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
          body_timeout: float = DEFAULT_BODY_TIMEOUT, access_log: bool = False,
          log_level: str = "info") -> None:
    """Serve a repository's models until the process is stopped (SIGTERM drains in-flight
    requests): REST on ``port``, TF Serving's gRPC API on ``grpc_port`` and the Open Inference
    Protocol's on ``v2_grpc_port`` (0: off), all on ``host``. The keywords are
    ``pmmlkit serve``'s options; ``repo`` defaults to
    ``PMMLKIT_REPO`` or ``./models``, ``api_key`` to ``PMMLKIT_API_KEY``, ``redis`` to
    ``PMMLKIT_REDIS``."""
    import uvicorn

    try:
        policy = VersionPolicy.parse(versions)
    except ValueError as exc:
        raise ConfigurationError(f"--versions: {exc}") from exc
    config = ServerConfig(
        repo=repo or os.environ.get("PMMLKIT_REPO") or "models",
        models=list(model) if model else None, poll=poll, policy=policy,
        labels=parse_labels(label),
        backend=backend, api_key=api_key or os.environ.get("PMMLKIT_API_KEY") or None,
        max_body_bytes=int(max_body_mb * 1024 * 1024) if max_body_mb else DEFAULT_MAX_BODY,
        batch_wait_ms=batch_wait_ms, max_batch_rows=max_batch_rows, queue_rows=queue_rows,
        timeout=timeout, redis=redis or os.environ.get("PMMLKIT_REDIS") or None,
        allow_missing_columns=allow_missing_columns, redis_timeout=redis_timeout,
        load_workers=load_workers, grpc_port=grpc_port, v2_grpc_port=v2_grpc_port,
        grpc_host=host)
    if lookups:
        from pmmlkit.server.lookups import read_config

        config.lookups = read_config(lookups)
        config.lookup_cache = lookup_cache
    if workers:
        config.workers = workers
    check_start(config, host)
    log_to_stderr(log_level)
    import copy

    from uvicorn.config import LOGGING_CONFIG

    logging_config = copy.deepcopy(LOGGING_CONFIG)  # the access log on stderr too
    logging_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    uvicorn.run(create_app(config=config), host=host, port=port, log_level=log_level,
                access_log=access_log, log_config=logging_config,
                timeout_graceful_shutdown=30,
                http=protocol(header_timeout, body_timeout))


def log_to_stderr(level: str) -> None:
    """Model loads, swaps and failures on stderr, in uvicorn's format."""
    logger = logging.getLogger("pmmlkit.server")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping()
                    else "INFO")
    logger.propagate = False


__all__ = ["check_start", "is_loopback", "parse_labels", "serve"]

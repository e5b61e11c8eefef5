"""The server's core: its configuration and :class:`Server`, the state every protocol's
requests go through (model resolution, the queue, lookups, the deadline, the API key,
model status)."""


from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from pmmlkit.errors import ConfigurationError, PmmlkitError
from pmmlkit.repository import NAME_PATTERN, parse_version
from pmmlkit.scorer.matching import check_columns
from pmmlkit.scorer.model import Model
from pmmlkit.server import protocol
from pmmlkit.server.batching import Batcher, QueueFull, Result
from pmmlkit.server.breaker import DEFAULT_FAILURES, DEFAULT_RESET, CircuitBreaker
from pmmlkit.server.lookups import LookupStore
from pmmlkit.server.metrics import Metrics
from pmmlkit.server.protocol import HTTPError
from pmmlkit.server.registry import LABEL_PATTERN, LoadedVersion, Registry, VersionPolicy

log = logging.getLogger("pmmlkit.server")

DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: paths that answer without the API key (liveness and readiness probes)
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})


@dataclass
class ServerConfig:
    """Everything ``create_app`` and ``pmmlkit serve`` can set."""

    repo: str = "models"
    models: list[str] | None = None
    poll: float = 10.0
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    backend: str | None = None
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_instances: int = 100_000
    batch_wait_ms: float = 1.0
    max_batch_rows: int = 256
    queue_rows: int = 8192
    timeout: float = 30.0
    workers: int = field(default_factory=lambda: len(os.sched_getaffinity(0))
                         if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    csv_chunk_rows: int = 10_000
    #: Redis for pre-computed results (/v1/results) and embedding lookups
    redis: str | None = None
    #: model name -> its embedding lookups (pmmlkit.server.lookups.read_config)
    lookups: dict[str, list[Any]] = field(default_factory=dict)
    #: embedding vectors cached in memory (0: read every id from Redis)
    lookup_cache: int = 100_000
    #: score a model input absent from a request as missing (default: a 400 naming it)
    allow_missing_columns: bool = False
    #: versions loaded at once (None: pmmlkit.server.registry.default_load_workers())
    load_workers: int | None = None
    #: seconds a Redis call may take (connect or answer) before it counts as a failure
    redis_timeout: float = 1.0
    #: Redis failures in a row that open the circuit breaker, and seconds it stays open
    redis_breaker_failures: int = DEFAULT_FAILURES
    redis_breaker_reset: float = DEFAULT_RESET
    #: gRPC ports on ``grpc_host``, each started with the app (0: off): TensorFlow Serving's
    #: PredictionService and ModelService, and the Open Inference Protocol's service
    grpc_port: int = 0
    v2_grpc_port: int = 0
    grpc_host: str = "127.0.0.1"


class Server:
    """The state behind the routes: the registry, the executor, metrics, limits."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(max_workers=config.workers,
                                           thread_name_prefix="pmmlkit-score")
        self.registry = Registry(
            config.repo, names=config.models, policy=config.policy, labels=config.labels,
            backend=config.backend, make_batcher=self._batcher,
            on_load=self.metrics.loaded, on_storage=self.metrics.storage,
            load_workers=config.load_workers)
        #: Redis calls of the results endpoint wait here, never on the scoring threads
        self.io_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pmmlkit-io")
        self.lookups: LookupStore | None = None
        self._results_client: Any = None
        self.redis_breaker: CircuitBreaker | None = None
        if config.redis:
            from pmmlkit.online import redacted

            self.redis_breaker = CircuitBreaker(
                f"Redis {redacted(config.redis)}", failures=config.redis_breaker_failures,
                reset=config.redis_breaker_reset)
        if config.lookups:
            if not config.redis or self.redis_breaker is None:
                raise ConfigurationError("embedding lookups need Redis: give --redis URL")
            self.lookups = LookupStore(config.redis, config.lookups,
                                       cache_size=config.lookup_cache,
                                       timeout=config.redis_timeout,
                                       breaker=self.redis_breaker)

    def results_client(self) -> Any:
        """One redis-py client (a connection pool) for the results endpoint."""
        if self._results_client is None:
            from pmmlkit.online import connect

            self._results_client = connect(str(self.config.redis),
                                           timeout=self.config.redis_timeout)
        return self._results_client

    def request_fields(self, name: str, schema: Any) -> list[str] | None:
        """The fields a request gives (None: the model's inputs)."""
        return None if self.lookups is None else self.lookups.request_fields(name, schema)

    def _batcher(self, name: str, model: Model) -> Batcher:
        return Batcher(model, self.executor, workers=self.config.workers,
                       wait=self.config.batch_wait_ms / 1000.0,
                       max_rows=self.config.max_batch_rows, queue_rows=self.config.queue_rows,
                       on_batch=lambda jobs, rows: self.metrics.batch(name, rows))

    # -- request plumbing ------------------------------------------------------------------
    async def body(self, request: Request) -> bytes:
        """The request body, gunzipped if sent so, refused (413) beyond the size limit."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPError(413, f"the body is {declared} bytes; the limit is {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"the body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflater.decompress(data, limit + 1)
            except zlib.error as exc:
                raise HTTPError(400, f"the gzip body is corrupt: {exc}") from exc
            if len(data) > limit or inflater.unconsumed_tail:
                raise HTTPError(413, f"the body exceeds the limit of {limit} bytes once "
                                     "decompressed")
        elif encoding not in ("", "identity"):
            raise HTTPError(415, f"Content-Encoding {encoding!r} is not supported (gzip is)")
        return data

    async def json_body(self, request: Request) -> dict[str, Any]:
        data = await self.body(request)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            try:  # TF Serving accepts NaN and Infinity tokens; Python's parser does too
                parsed = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise HTTPError(400, f"the body is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise HTTPError(400, "the body must be a JSON object")
        return parsed

    def resolve(self, name: str, version: str | None, label: str | None) -> LoadedVersion:
        if not NAME_PATTERN.match(name) or name in (".", ".."):
            raise HTTPError(404, f"Servable not found for request: no model named {name!r}")
        number = None
        if version is not None:
            number = parse_version(version)
            if number is None:
                raise HTTPError(404, f"Servable not found for request: version {version!r} "
                                     "is not a version number")
        if label is not None and not LABEL_PATTERN.match(label):
            raise HTTPError(404, f"Servable not found for request: no label {label!r}")
        served = self.registry.models.get(name)
        if served is None:
            if not self.registry.first_sync.is_set():
                raise HTTPError(503, "the server is still loading its models")
            raise HTTPError(404, f"Servable not found for request: Latest({name})")
        loaded = self.registry.resolve(name, number, label)
        if loaded is None:
            if label is not None and label not in self.registry.labels.get(name, {}):
                raise HTTPError(404, f"Servable not found for request: label {label!r} of "
                                     f"{name!r}")
            wanted = number if number is not None else self.registry.labels.get(
                name, {}).get(label or "")
            status = served.status.get(wanted) if wanted is not None else None
            if status is not None and status.state in ("START", "LOADING"):
                raise HTTPError(503, f"{name} version {wanted} is loading")
            if number is None and label is None:
                raise HTTPError(503, f"{name} has no version available yet")
            raise HTTPError(404, f"Servable not found for request: Specific({name}, "
                                 f"{wanted})")
        return loaded

    async def score(self, loaded: LoadedVersion, request: protocol.Request,
                    protocol_name: str, *, timeout: float | None = None,
                    prepared: dict[str, Any] | None = None) -> Result:
        """Lookups, the queue and the deadline (``timeout``, at most the server's), then the
        scores; every protocol's requests come here. ``prepared``: the request's inputs in
        the evaluator's columnar form already (a CSV chunk of a model without lookups)."""
        columns, rows = request.columns, request.rows
        deadline = self.config.timeout if timeout is None else min(timeout,
                                                                   self.config.timeout)
        expected = self.request_fields(loaded.name, loaded.model.schema)
        try:
            check_columns(expected or loaded.model.schema.input_names, request.given,
                          where=f"{loaded.name}", what="fields of the request",
                          allow_missing_columns=self.config.allow_missing_columns)
        except PmmlkitError as exc:
            raise HTTPError(exc.http_status, str(exc)) from exc
        if self.lookups is not None:
            try:
                columns, missing = await self.lookups.fill(loaded.name, loaded.model.schema,
                                                           columns, rows)
            except PmmlkitError as exc:
                raise HTTPError(exc.http_status, str(exc)) from exc
            if missing:
                raise HTTPError(400, protocol.row_error_message(
                    missing, "row" if protocol_name == "v2" else "instance"))
        try:
            result = await asyncio.wait_for(loaded.batcher.submit(columns, rows,
                                                                  prepared=prepared),
                                            timeout=max(deadline, 0.0))
        except QueueFull as exc:
            raise HTTPError(429, f"{loaded.name} is at capacity: {exc}; retry later") from exc
        except TimeoutError as exc:
            raise HTTPError(504, "deadline exceeded: " + (
                f"the server's limit is {self.config.timeout:g} s a request" if timeout is None
                or timeout >= self.config.timeout else
                f"{max(timeout, 0.0):.3g} s were left of the request's time")) from exc
        except PmmlkitError as exc:
            raise HTTPError(exc.http_status, str(exc)) from exc
        self.metrics.scored(loaded.name, protocol_name, rows, len(result.errors),
                            result.queued_seconds)
        return result

    def authorized(self, request: Request) -> bool:
        if request.url.path in OPEN_PATHS:
            return True
        return self.key_ok(request.headers.get("x-api-key"),
                           request.headers.get("authorization", ""))

    def key_ok(self, api_key: str | None, authorization: str) -> bool:
        """Whether a request carries the API key (``X-API-Key``, or ``Authorization: Bearer``;
        headers over HTTP, metadata over gRPC); always, when the server has none."""
        key = self.config.api_key
        if not key:
            return True
        given = api_key
        if given is None and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), key.encode())

    def model_status(self, name: str, version: str | None, label: str | None
                     ) -> list[dict[str, Any]]:
        """TF Serving's model status: every version of ``name``, or the one asked for."""
        if not NAME_PATTERN.match(name):
            raise HTTPError(404, f"Could not find any versions of model {name!r}")
        served = self.registry.models.get(name)
        if served is None:
            raise HTTPError(404, f"Could not find any versions of model {name}")
        wanted: int | None = None
        if version is not None:
            wanted = parse_version(version)
        elif label is not None:
            wanted = self.registry.labels.get(name, {}).get(label)
        if (version is not None or label is not None) and (wanted is None
                                                            or wanted not in served.status):
            raise HTTPError(404, f"Could not find version {version or label} of model {name}")
        versions = [wanted] if wanted is not None else sorted(served.status, reverse=True)
        return [version_status(self, served.status[v], v) for v in versions]


def version_status(server: Server, status: Any, version: int) -> dict[str, Any]:
    """A version's status; while the repository cannot be read, an available version says
    so (it serves from memory, and no newer version can arrive)."""
    out: dict[str, Any] = status.to_dict(version)
    health = server.registry.storage
    if not health.ok and status.state == "AVAILABLE":
        out["status"] = {"error_code": "UNAVAILABLE", "error_message": (
            f"serving the loaded version; the repository cannot be read since "
            f"{health.to_dict()['since']}: {health.error}")}
    return out


__all__ = ["DEFAULT_MAX_BODY", "OPEN_PATHS", "Server", "ServerConfig", "version_status"]

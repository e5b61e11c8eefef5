"""The ASGI app: TF Serving's REST API, the Open Inference Protocol, CSV, health, metrics.

``create_app(repo, ...)`` returns a Starlette app; ``pmmlkit serve`` runs it under uvicorn,
and users may mount it in their own process manager. See ``docs/serving.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import io
import json
import logging
import os
import re
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmmlkit._values import json_value
from pmmlkit._version import __version__
from pmmlkit.errors import ConfigurationError, PmmlkitError, StorageError
from pmmlkit.repository import NAME_PATTERN, parse_version
from pmmlkit.scorer.matching import check_columns
from pmmlkit.scorer.model import Model
from pmmlkit.server import protocol
from pmmlkit.server.batching import Batcher, QueueFull, Result
from pmmlkit.server.breaker import DEFAULT_FAILURES, DEFAULT_RESET, CircuitBreaker
from pmmlkit.server.lookups import LookupStore
from pmmlkit.server.metrics import Metrics
from pmmlkit.server.protocol import BadRequest, HTTPError
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


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


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
        return [_status(self, served.status[v], v) for v in versions]


Handler = Callable[[Server, Request], Awaitable[Response]]


def _endpoint(server: Server, handler: Handler, protocol_name: str, method: str
              ) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: the API key, error mapping and metrics, once for every route."""
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        model = "-"
        try:
            if not server.authorized(request):
                response = _error(401, "a valid API key is required (Authorization: Bearer "
                                       "KEY or X-API-Key)")
            else:
                response = await handler(server, request)
                model = request.scope.get("pmmlkit.model", "-")
        except HTTPError as exc:
            response = _error(exc.status, exc.message)
            model = request.scope.get("pmmlkit.model", "-")
        except BadRequest as exc:
            response = _error(400, str(exc))
            model = request.scope.get("pmmlkit.model", "-")
        except Exception as exc:  # the server must answer, and say what went wrong
            log.exception("unexpected error on %s", request.url.path)
            response = _error(500, f"internal error: {type(exc).__name__}: {exc}")
        server.metrics.request(model, protocol_name,
                               request.scope.get("pmmlkit.method", method),
                               response.status_code, time.perf_counter() - started)
        return response

    return endpoint


# -- TensorFlow Serving REST API -------------------------------------------------------------
_TF_PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress|score))?$")


def _route(request: Request, pattern: re.Pattern[str]) -> re.Match[str]:
    """The parts of a model path, or 404; notes the model for the metrics."""
    match = pattern.match(request.path_params["rest"])
    if match is None:
        raise HTTPError(404, f"Malformed request: {request.method} {request.url.path}")
    name = match["name"]
    request.scope["pmmlkit.model"] = name if NAME_PATTERN.match(name) else "-"
    return match


async def tf_models(server: Server, request: Request) -> Response:
    match = _route(request, _TF_PATH)
    name, version, label = match["name"], match["version"], match["label"]
    verb = match["verb"]
    request.scope["pmmlkit.method"] = verb or ("metadata" if match["metadata"] else "status")
    if request.method == "GET":
        if verb is not None:
            raise HTTPError(405, f"use POST for :{verb}")
        if match["metadata"]:
            loaded = server.resolve(name, version, label)
            return _json(protocol.tf_metadata(name, loaded.version, loaded.model.schema))
        return _tf_status(server, name, version, label)
    if verb is None:
        raise HTTPError(405, "POST needs a verb: :predict, :classify, :regress or :score")
    loaded = server.resolve(name, version, label)
    schema = loaded.model.schema
    limit = server.config.max_instances
    if verb == "score":
        return await _csv(server, request, loaded)
    body = await server.json_body(request)
    if verb == "predict":
        if "instances" in body and "inputs" in body:
            raise BadRequest("give either 'instances' (row format) or 'inputs' (columnar "
                             "format), not both")
        if "instances" not in body and "inputs" not in body:
            raise BadRequest(f"the body has neither 'instances' (row format) nor 'inputs' "
                             f"(columnar format); it has {sorted(body)[:10]}")
        row_format = "instances" in body
        names = server.request_fields(name, schema)
        parsed = (protocol.instances_to_columns(body["instances"], schema, limit=limit,
                                                names=names)
                  if row_format else
                  protocol.inputs_to_columns(body["inputs"], schema, limit=limit, names=names))
    else:
        wanted = "classification" if verb == "classify" else "regression"
        if schema.function_name != wanted:
            other = ":regress" if verb == "classify" else ":classify"
            raise HTTPError(400, f"{name} is a {schema.function_name} model; use {other} "
                                 "or :predict")
        parsed = protocol.examples_to_columns(body, schema, limit=limit,
                                              names=server.request_fields(name, schema))
    result = await server.score(loaded, parsed, "tfserving")
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(
            result.errors, "instance" if verb == "predict" else "example"))
    if verb == "predict":
        key = "predictions" if row_format else "outputs"
        return _json({key: protocol.predictions(result.columns, row_format)})
    if verb == "classify":
        return _json({"results": protocol.classify_results(result.columns, schema)})
    return _json({"results": protocol.regress_results(result.columns, schema)})


def _tf_status(server: Server, name: str, version: str | None, label: str | None) -> Response:
    return _json({"model_version_status": server.model_status(name, version, label)})


def _status(server: Server, status: Any, version: int) -> dict[str, Any]:
    """A version's status; while the repository cannot be read, an available version says
    so (it serves from memory, and no newer version can arrive)."""
    out: dict[str, Any] = status.to_dict(version)
    health = server.registry.storage
    if not health.ok and status.state == "AVAILABLE":
        out["status"] = {"error_code": "UNAVAILABLE", "error_message": (
            f"serving the loaded version; the repository cannot be read since "
            f"{health.to_dict()['since']}: {health.error}")}
    return out


async def _csv(server: Server, request: Request, loaded: LoadedVersion) -> Response:
    """CSV in (header line first), CSV out: one row per record, in order, with the kept
    columns (``?keep=a,b``), the output columns and ``error`` (empty when scored). Each chunk
    goes through the core like any request: lookups, the queue, the deadline, the metrics."""
    from pmmlkit.batch.sources import DEFAULT_NA_VALUES, CsvSource

    started = time.monotonic()
    data = await server.body(request)
    model = loaded.model
    schema = model.schema
    keep = [c for c in request.query_params.get("keep", "").split(",") if c]
    fields = server.request_fields(loaded.name, schema)
    expected = fields or schema.input_names
    wanted = list(dict.fromkeys([*keep, *expected]))
    try:
        source = CsvSource(f"request body ({loaded.name})", wanted, schema=schema,
                           na_values=DEFAULT_NA_VALUES, stream=io.BytesIO(data))
    except PmmlkitError as exc:
        raise HTTPError(400, str(exc)) from exc
    absent = [c for c in keep if c not in source.columns]
    if absent:
        raise HTTPError(400, f"the kept columns {absent} are not in the header "
                             f"({source.columns})")
    try:
        check_columns(expected, source.columns, where=loaded.name,
                      what="columns of the CSV header",
                      allow_missing_columns=server.config.allow_missing_columns)
    except PmmlkitError as exc:
        raise HTTPError(exc.http_status, str(exc)) from exc
    loop = asyncio.get_running_loop()

    def read_all() -> list[tuple[Any, Any]]:
        from pmmlkit.scorer.arrow import arrow_inputs

        # the body is in memory (bounded by max_body_bytes): every chunk is read, and the
        # whole answer made, before the status is sent; a failure is a clear status, never
        # a cut stream
        return [(chunk, None if fields is not None else arrow_inputs(schema, chunk.table))
                for chunk in source.chunks(server.config.csv_chunk_rows)]

    try:
        chunks = await loop.run_in_executor(server.executor, read_all)
        parts = []
        for i, (chunk, prepared) in enumerate(chunks):
            n = chunk.table.num_rows
            given = {c: chunk.table.column(c).to_pylist() for c in expected
                     if c in chunk.table.column_names} if prepared is None else {}
            result = await server.score(
                loaded, protocol.Request(given, n, source.columns), "csv",
                timeout=server.config.timeout - (time.monotonic() - started),
                prepared=prepared)
            parts.append(await loop.run_in_executor(server.executor, functools.partial(
                _csv_part, schema, chunk, result, keep, header=i == 0)))
    except PmmlkitError as exc:
        raise HTTPError(exc.http_status, str(exc)) from exc
    if not parts:  # no records at all: the header alone
        parts = [",".join([*keep, *(c.name for c in schema.columns), "error"]).encode() + b"\n"]
    return Response(b"".join(parts), media_type="text/csv")


def _csv_part(schema: Any, chunk: Any, result: Result, keep: list[str], *,
              header: bool) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = chunk.table.num_rows
    numbers = chunk.record_numbers(list(range(n)))
    messages: list[str | None] = [None] * n
    for e in result.errors:
        messages[e.row] = protocol.row_reason(e)
    columns: dict[str, list[Any]] = {k: chunk.table.column(k).to_pylist() for k in keep}
    for c in schema.columns:
        columns[c.name] = list(result.columns[c.name])
    columns["error"] = messages
    record = list(numbers)
    for bad in chunk.malformed:  # unparseable lines and non-UTF-8 cells, in their place
        for values in columns.values():
            values.append(None)
        columns["error"][-1] = bad.reason + (f" (field {bad.field!r})" if bad.field else "")
        record.append(bad.row)
    order = sorted(range(len(record)), key=record.__getitem__)
    table = pa.table({k: pa.array([v[i] for i in order]) if any(
        x is not None for x in v) else pa.array([None] * len(order), pa.string())
        for k, v in columns.items()})
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=header))
    return sink.getvalue()


# -- Open Inference Protocol (KServe V2) -------------------------------------------------------
_V2_PATH = re.compile(r"^(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
                      r"(?:/(?P<verb>ready|infer))?$")


async def v2_models(server: Server, request: Request) -> Response:
    match = _route(request, _V2_PATH)
    name, version, verb = match["name"], match["version"], match["verb"]
    request.scope["pmmlkit.method"] = verb or "metadata"
    if request.method == "GET":
        if verb == "infer":
            raise HTTPError(405, "use POST for /infer")
        if verb == "ready":
            try:
                loaded = server.resolve(name, version, None)
            except HTTPError as exc:
                if exc.status == 503:
                    return _json({"name": name, "ready": False}, 503)
                raise
            return _json({"name": name, "ready": True, "version": str(loaded.version)})
        loaded = server.resolve(name, version, None)
        served = server.registry.models[name]
        return _json(protocol.v2_metadata(name, sorted(served.versions), loaded.model.schema))
    if verb != "infer":
        raise HTTPError(405, "POST .../infer")
    loaded = server.resolve(name, version, None)
    schema = loaded.model.schema
    body = await server.json_body(request)
    parsed = protocol.v2_inputs_to_columns(body, schema, limit=server.config.max_instances,
                                           names=server.request_fields(name, schema))
    requested = body.get("outputs")
    wanted = None
    if requested is not None:
        if not isinstance(requested, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested):
            raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
        wanted = [o["name"] for o in requested]
        unknown = [w for w in wanted if w not in schema.column_names]
        if unknown:
            raise BadRequest(f"unknown outputs {unknown}; the model's outputs are "
                             f"{schema.column_names}")
    result = await server.score(loaded, parsed, "v2")
    if result.errors:
        raise HTTPError(400, protocol.row_error_message(result.errors, "row"))
    answer: dict[str, Any] = {"model_name": name, "model_version": str(loaded.version),
                              "outputs": protocol.v2_outputs(result.columns, schema, wanted)}
    if "id" in body:
        answer["id"] = body["id"]
    return _json(answer)


_RESULTS_PATH = re.compile(r"^(?P<name>[^/:]+):lookup$")


async def results(server: Server, request: Request) -> Response:
    """Pre-computed results by key: ``POST /v1/results/MODEL:lookup {"keys": [...]}``."""
    from pmmlkit.online import lookup

    match = _route(request, _RESULTS_PATH)
    name = match["name"]
    if not NAME_PATTERN.match(name):
        raise HTTPError(404, f"no results for {name!r}")
    if server.config.redis is None:
        raise HTTPError(404, "this server has no Redis for pre-computed results (pmmlkit serve "
                             "--redis URL)")
    body = await server.json_body(request)
    keys = body.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) and not isinstance(
            k, bool) for k in keys):
        raise BadRequest("'keys' must be a list of strings or integers")
    if len(keys) > server.config.max_instances:
        raise BadRequest(f"{len(keys)} keys; at most {server.config.max_instances} per request")
    breaker = server.redis_breaker
    assert breaker is not None
    try:
        breaker.before()
        try:
            frame = await asyncio.get_running_loop().run_in_executor(
                server.io_executor, lambda: lookup(str(server.config.redis), name,
                                                   [str(k) for k in keys],
                                                   client=server.results_client()))
        except StorageError as exc:
            breaker.failure(exc)
            raise
        breaker.success()  # Redis answered, with results or with "none"
    except PmmlkitError as exc:
        if not isinstance(exc, StorageError):
            breaker.success()
        raise HTTPError(exc.http_status, str(exc)) from exc
    rows = []
    for record in frame.to_dict("records"):
        error = record.pop("error")
        rows.append({k: json_value(v) for k, v in record.items()} if error is None else
                    {frame.columns[0]: record[frame.columns[0]], "error": error})
    return _json({"model": name, "version": frame.attrs.get("version"),
                  "run": frame.attrs.get("run"), "results": rows})


async def tf_model_list(server: Server, request: Request) -> Response:
    """The served models and their versions (TF Serving has no listing; this is pmmlkit's,
    in the shape of its model status)."""
    models = []
    for name in sorted(server.registry.models):
        served = server.registry.models[name]
        models.append({"name": name, "versions": [str(v) for v in sorted(served.versions)],
                       "model_version_status": [_status(server, served.status[v], v)
                                                for v in sorted(served.status)]})
    return _json({"models": models})


async def v2_repository_index(server: Server, request: Request) -> Response:
    """KServe's repository index: every model version and its state."""
    states = {"AVAILABLE": "READY", "LOADING": "LOADING", "START": "LOADING", "END": "UNAVAILABLE"}
    health = server.registry.storage
    stale = None if health.ok else f"the repository cannot be read: {health.error}"
    return _json([{**row, "state": states.get(row["state"], row["state"]),
                   "reason": row["reason"] or (stale if row["state"] == "AVAILABLE" else "")
                   or ""} for row in server.registry.index()])


async def v2_live(server: Server, request: Request) -> Response:
    return _json({"live": True})


async def v2_ready(server: Server, request: Request) -> Response:
    """Ready while what was asked is served. A repository that cannot be read does not make
    a serving server unready (every replica would leave the load balancer at once over one
    storage outage); the answer says so, as do the model status and the metrics."""
    registry = server.registry
    ready = registry.ready()
    body: dict[str, Any] = {"ready": ready}
    if not registry.storage.ok:
        body["storage"] = registry.storage.to_dict()
    if not registry.loader_alive():
        body["loader"] = registry.loader_error
    return _json(body, 200 if ready else 503)


async def v2_server(server: Server, request: Request) -> Response:
    return _json({"name": "pmmlkit", "version": __version__, "extensions": []})


async def metrics(server: Server, request: Request) -> Response:
    data, content_type = server.metrics.render(server.registry, server.redis_breaker)
    return Response(data, media_type=content_type)


def create_app(repo: str | None = None, *, config: ServerConfig | None = None,
               **options: Any) -> Starlette:
    """The ASGI app serving the models of ``repo`` (a local path or ``s3://`` URL).

    ``options`` are :class:`ServerConfig` fields (``models``, ``poll``, ``api_key``,
    ``max_body_bytes``, ``batch_wait_ms``, ...). Models load in the background when the app
    starts (its lifespan); ``/v2/health/ready`` answers 200 once every model has a version.
    """
    if config is None:
        config = ServerConfig(**options)
        if repo:
            config.repo = repo
    server = Server(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rpc = None
        if config.grpc_port or config.v2_grpc_port:  # a port taken fails the start at once
            from pmmlkit.server.rpc import start

            rpc = await start(server)
        server.registry.start(asyncio.get_running_loop(), config.poll)
        try:
            yield
        finally:
            if rpc is not None:
                await rpc.stop(grace=config.timeout)
            await asyncio.get_running_loop().run_in_executor(None, server.registry.stop)
            if server.lookups is not None:
                await server.lookups.close()
            server.executor.shutdown(wait=True, cancel_futures=False)
            server.io_executor.shutdown(wait=False, cancel_futures=True)

    def route(path: str, handler: Handler, name: str, method: str, methods: list[str]
              ) -> Route:
        return Route(path, _endpoint(server, handler, name, method), methods=methods)

    app = Starlette(routes=[
        route("/v1/models", tf_model_list, "tfserving", "list", ["GET"]),
        route("/v2/repository/index", v2_repository_index, "v2", "index", ["POST"]),
        route("/v1/models/{rest:path}", tf_models, "tfserving", "status", ["GET", "POST"]),
        route("/v2/health/live", v2_live, "v2", "live", ["GET"]),
        route("/v2/health/ready", v2_ready, "v2", "ready", ["GET"]),
        route("/v2", v2_server, "v2", "server_metadata", ["GET"]),
        route("/v2/models/{rest:path}", v2_models, "v2", "metadata", ["GET", "POST"]),
        route("/v1/results/{rest:path}", results, "results", "lookup", ["POST"]),
        route("/monitoring/prometheus/metrics", metrics, "metrics", "metrics", ["GET"]),
    ], lifespan=lifespan)
    app.state.server = server
    return app


__all__ = ["ServerConfig", "create_app"]

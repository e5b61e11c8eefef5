"""The ASGI app: TF Serving's REST API, the Open Inference Protocol, CSV, health, metrics;
its lifespan starts the gRPC servers (:mod:`pmmlkit.server.rpc`) when asked.

``create_app(repo, ...)`` returns a Starlette app; ``pmmlkit serve`` runs it under uvicorn,
and users may mount it in their own process manager. See ``docs/serving.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmmlkit.server.core import Server, ServerConfig
from pmmlkit.server.rest import Handler, endpoint
from pmmlkit.server.results import results
from pmmlkit.server.tf_rest import tf_model_list, tf_models
from pmmlkit.server.v2_rest import v2_live, v2_models, v2_ready, v2_repository_index, v2_server


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
        return Route(path, endpoint(server, handler, name, method), methods=methods)

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


__all__ = ["Server", "ServerConfig", "create_app"]

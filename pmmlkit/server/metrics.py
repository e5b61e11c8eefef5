"""Prometheus metrics at TF Serving's path, ``/monitoring/prometheus/metrics``.

One registry per app (several apps in one process, as in tests, never collide).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pmmlkit_requests", "Requests by model, protocol, method and "
                                "status code (HTTP status, or gRPC status name)",
                                ["model", "protocol", "method", "code"], registry=r)
        self.latency = Histogram("pmmlkit_request_seconds", "Request latency (seconds)",
                                 ["model", "protocol", "method"], buckets=_LATENCY, registry=r)
        self.queued = Histogram("pmmlkit_queue_seconds", "Time a request waited for its "
                                "batch (seconds)", ["model"], buckets=_LATENCY, registry=r)
        self.batch_rows = Histogram("pmmlkit_batch_rows", "Rows per JVM call (coalesced "
                                    "requests)", ["model"], buckets=_ROWS, registry=r)
        self.rows = Counter("pmmlkit_rows", "Rows scored or rejected", ["model", "outcome"],
                            registry=r)
        self.loads = Counter("pmmlkit_model_loads", "Model version loads by outcome",
                             ["model", "outcome"], registry=r)
        self.versions = Gauge("pmmlkit_model_versions_loaded", "Versions being served",
                              ["model"], registry=r)
        self.storage_up = Gauge("pmmlkit_storage_up", "1 if the last listing of the "
                                "repository succeeded, else 0", registry=r)
        self.storage_failures = Counter("pmmlkit_storage_failures", "Listings of the "
                                        "repository that failed", registry=r)
        self.loader_up = Gauge("pmmlkit_model_loader_up", "1 while the model loader runs "
                               "(0: no new version loads until a restart)", registry=r)
        self.redis_open = Gauge("pmmlkit_redis_circuit_open", "1 while the Redis circuit "
                                "breaker fails calls at once, else 0", registry=r)
        self.storage_up.set(1)
        self.loader_up.set(1)

    def request(self, model: str, protocol: str, method: str, code: int | str,
                seconds: float) -> None:
        self.requests.labels(model, protocol, method, str(code)).inc()
        self.latency.labels(model, protocol, method).observe(seconds)

    def scored(self, model: str, protocol: str, rows: int, rejected: int,
               queued: float) -> None:
        self.rows.labels(model, "scored").inc(rows - rejected)
        if rejected:
            self.rows.labels(model, "rejected").inc(rejected)
        self.queued.labels(model).observe(queued)

    def batch(self, model: str, rows: int) -> None:
        self.batch_rows.labels(model).observe(rows)

    def loaded(self, model: str, version: int, ok: bool) -> None:
        self.loads.labels(model, "ok" if ok else "failed").inc()

    def storage(self, ok: bool) -> None:
        self.storage_up.set(1 if ok else 0)
        if not ok:
            self.storage_failures.inc()

    def render(self, registry: Any, breaker: Any = None) -> tuple[bytes, str]:
        for name, served in list(registry.models.items()):
            self.versions.labels(name).set(len(served.versions))
        self.loader_up.set(1 if registry.loader_alive() else 0)
        if breaker is not None:
            self.redis_open.set(1 if breaker.state == "open" else 0)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

"""Connections to Redis and what its errors mean in pmmlkit's words
(:func:`redis_errors`, the one place Redis errors are translated), and the
namespace operations every run uses (delete, expire, flip the pointer)."""


from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import (
    ConfigurationError,
    InvalidInputError,
    StorageError,
)
from pmmlkit.online.keys import WRITE_BATCH, is_redis_url, redacted

if TYPE_CHECKING:
    pass

# -- connections and errors ------------------------------------------------------------------
def connect(url: str, *, timeout: float = 10.0) -> Any:
    """A redis-py client for ``url`` (``redis://[:password@]host:port/db``), checked with PING."""
    import redis

    if not is_redis_url(url):
        raise ConfigurationError(f"{url}: not a Redis URL (use redis://HOST:PORT/DB, "
                                 "rediss://... for TLS, or unix:///path.sock)")
    with redis_errors(url, "connect"):
        client = redis.Redis.from_url(url, socket_timeout=timeout,
                                      socket_connect_timeout=timeout)
        client.ping()
    return client


@contextlib.contextmanager
def redis_errors(url: str, action: str) -> Iterator[None]:
    """redis-py's errors as pmmlkit's, naming the server (password hidden) and what to do."""
    import redis

    where = redacted(url)
    try:
        yield
    except redis.AuthenticationError as exc:
        raise StorageError(f"{where}: Redis refused the credentials ({exc}); put the right "
                           "password in the URL (redis://:PASSWORD@host:port/db)") from exc
    except redis.ConnectionError as exc:
        raise StorageError(f"{where}: cannot {action}: Redis is unreachable ({exc}); start "
                           "it or check the host and port") from exc
    except redis.TimeoutError as exc:
        raise StorageError(f"{where}: cannot {action}: Redis did not answer in time "
                           f"({exc})") from exc
    except redis.ResponseError as exc:
        text = str(exc)
        if text.startswith("WRONGTYPE"):
            raise InvalidInputError(f"{where}: cannot {action}: a key pmmlkit uses holds "
                                    f"another type of value ({text}); pmmlkit's keys start "
                                    "with 'pmmlkit:': delete the foreign key") from exc
        if text.startswith(("MOVED", "ASK ", "CLUSTERDOWN", "CROSSSLOT")) or \
                isinstance(exc, getattr(redis.exceptions, "ClusterError", ())):
            raise ConfigurationError(
                f"{where}: cannot {action}: the server is a Redis Cluster node ({text}); "
                "pmmlkit speaks to one Redis server (a primary, or a proxy in front of a "
                "cluster): Redis Cluster is not supported") from exc
        if text.startswith(("NOAUTH", "WRONGPASS")):
            raise StorageError(f"{where}: Redis refused the credentials ({text}); put the "
                               "password in the URL (redis://:PASSWORD@host:port/db)") from exc
        raise StorageError(f"{where}: cannot {action}: {text}") from exc


def as_text(value: Any) -> str | None:
    """A Redis reply (bytes or text) as text; None stays None."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def delete_namespace(client: Any, namespace: str) -> int:
    """Delete every key of a namespace (a failed run's partial writes)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def _expire_namespace(client: Any, namespace: str, seconds: int) -> None:
    pipe = client.pipeline(transaction=False)
    for n, key in enumerate(client.scan_iter(match=f"{namespace}:*", count=1000), 1):
        pipe.expire(key, seconds)
        if n % WRITE_BATCH == 0:
            pipe.execute()
    pipe.execute()


def _flip(client: Any, pointer: str, namespace_of: Any, run: str, grace: int) -> str | None:
    """Point readers at ``run``; the previous run's keys expire after ``grace`` seconds."""
    previous = as_text(client.set(pointer, run, get=True))
    if previous and previous != run:
        _expire_namespace(client, namespace_of(previous), grace)
    return previous

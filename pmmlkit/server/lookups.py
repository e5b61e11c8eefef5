"""Embedding lookups at request time: a request names entities by id, the server reads their
vectors from Redis (one round trip per request) and fills the model inputs they stand for.

Declared per model in a TOML file given to ``pmmlkit serve --lookups``::

    [[recommender]]            # the served model's name
    key = "user_id"            # the request field holding the id
    embeddings = "users"       # the embedding set (``pmmlkit embeddings put``)
    prefix = "u_"              # the vector fills inputs u_0, u_1, ... u_{dim-1}
    default = "zeros"          # optional: a missing id gets this vector (cold start);
                               # "zeros" or a list of numbers. Without it: an error.
"""

from __future__ import annotations

import time
import tomllib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pmmlkit.errors import ConfigurationError, DataNotFoundError, PmmlkitError, StorageError
from pmmlkit.online import (
    decode_vectors,
    embeddings_namespace,
    embeddings_pointer,
    redacted,
)
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.validation import RowError
from pmmlkit.server.breaker import CircuitBreaker

#: seconds a set's live run (its pointer) is cached before it is read again
POINTER_TTL = 1.0
#: vectors kept in the server's memory (exact: keyed by run; see LookupStore._cached_read)
DEFAULT_CACHE = 100_000


@dataclass(frozen=True)
class Lookup:
    key: str
    embeddings: str
    prefix: str
    default: tuple[float, ...] | str | None = None

    def inputs(self, dim: int) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(dim)]


def read_config(path: str) -> dict[str, list[Lookup]]:
    """The lookups of each model from a TOML file (see the module's documentation)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the lookups file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    out: dict[str, list[Lookup]] = {}
    for model, entries in data.items():
        if not isinstance(entries, list):
            raise ConfigurationError(f"{path}: [{model}] must be an array of tables: write "
                                     f"[[{model}]] for each lookup")
        for k, entry in enumerate(entries):
            where = f"{path}: {model} lookup {k + 1}"
            unknown = set(entry) - {"key", "embeddings", "prefix", "default"}
            missing = {"key", "embeddings", "prefix"} - set(entry)
            if unknown or missing:
                raise ConfigurationError(f"{where}: " + "; ".join(
                    ([f"unknown settings {sorted(unknown)}"] if unknown else [])
                    + ([f"missing {sorted(missing)}"] if missing else [])))
            default = entry.get("default")
            if default is not None and default != "zeros" and not (
                    isinstance(default, list) and all(isinstance(v, (int, float))
                                                      for v in default)):
                raise ConfigurationError(f"{where}: default must be \"zeros\" or a list of "
                                         f"numbers, got {default!r}")
            out.setdefault(model, []).append(Lookup(
                str(entry["key"]), str(entry["embeddings"]), str(entry["prefix"]),
                tuple(float(v) for v in default) if isinstance(default, list) else default))
    return out


class LookupStore:
    """Reads vectors for requests, asynchronously (redis.asyncio), one pipeline per request."""

    def __init__(self, url: str, lookups: dict[str, list[Lookup]], *,
                 cache_size: int = DEFAULT_CACHE, timeout: float = 1.0,
                 breaker: CircuitBreaker | None = None):
        import redis.asyncio

        self.url = url
        self.lookups = lookups
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout,
                                                   socket_connect_timeout=timeout)
        self.breaker = breaker or CircuitBreaker(f"Redis {redacted(url)}")
        self._live: dict[str, tuple[float, str, int]] = {}  # set -> (read at, run, dim)
        self._names: dict[tuple[Any, ...], list[str]] = {}
        self.cache_size = cache_size
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cluster: bool | None = None  # Redis Cluster: one MGET per set (slot), else one

    async def _is_cluster(self) -> bool:
        if self._cluster is None:
            info = await self.client.info("cluster")
            self._cluster = bool(info.get("cluster_enabled"))
        return self._cluster

    def request_fields(self, model: str, schema: ModelSchema) -> list[str] | None:
        """What a request to ``model`` gives: the lookup keys instead of the inputs their
        vectors fill (None: the model's inputs, no lookups)."""
        lookups = self.lookups.get(model)
        if not lookups:
            return None
        filled = tuple(lk.prefix for lk in lookups)
        fields = [n for n in schema.input_names if not any(
            n.startswith(p) and n[len(p):].isdigit() for p in filled)]
        return fields + [lk.key for lk in lookups if lk.key not in fields]

    async def _meta(self, name: str) -> tuple[str, int]:
        now = time.monotonic()
        cached = self._live.get(name)
        if cached is not None and now - cached[0] < POINTER_TTL:
            return cached[1], cached[2]
        raw = await self.client.get(embeddings_pointer(name))
        if raw is None:
            raise DataNotFoundError(f"{redacted(self.url)}: no embedding set {name!r}; put it "
                                    "with `pmmlkit embeddings put`")
        run = raw.decode() if isinstance(raw, bytes) else str(raw)
        dim = await self.client.hget(f"{embeddings_namespace(name, run)}:_meta", "dim")
        if dim is None:
            raise ConfigurationError(f"embeddings {name} (run {run}) have no metadata; put the "
                                     "set again")
        self._live[name] = (now, run, int(dim))
        return run, int(dim)

    async def fill(self, model: str, schema: ModelSchema, columns: dict[str, list[Any]],
                   n: int) -> tuple[dict[str, list[Any]], list[RowError]]:
        """Replace each lookup key column by the vector's input columns; rows whose id has no
        vector (and no default) come back as errors naming the set and the id."""
        from pmmlkit.online import redis_errors

        lookups = self.lookups.get(model)
        if not lookups:
            return columns, []
        self.breaker.before()
        try:
            with redis_errors(self.url, "read embeddings"):
                metas = [await self._meta(lk.embeddings) for lk in lookups]
                keys, redis_keys = [], []
                for lk, (run, _dim) in zip(lookups, metas, strict=True):
                    ids = columns.get(lk.key) or [None] * n
                    keys.append(ids)
                    prefix = f"{embeddings_namespace(lk.embeddings, run)}:k:"
                    redis_keys.append([prefix + _id_text(i) for i in ids])
                answers = await self._cached_read(redis_keys) if n else [[] for _ in lookups]
        except StorageError as exc:
            self.breaker.failure(exc)
            raise
        except PmmlkitError:
            self.breaker.success()  # Redis answered ("no such set")
            raise
        self.breaker.success()
        errors: dict[int, RowError] = {}
        out = {k: v for k, v in columns.items() if k not in {lk.key for lk in lookups}}
        for lk, (run, dim), ids, values in zip(lookups, metas, keys, answers, strict=True):
            names = self._inputs(model, schema, lk, dim)
            matrix, missing = decode_vectors(lk.embeddings, run, dim, ids, values)
            for row in missing:
                if ids[row] is not None and lk.default is not None:
                    if lk.default != "zeros":
                        if len(lk.default) != dim:
                            raise ConfigurationError(
                                f"lookup {lk.key}: the default vector has {len(lk.default)} "
                                f"entries; the set {lk.embeddings} has {dim}")
                        matrix[row] = lk.default
                    continue
                reason = (f"no {lk.key} given" if ids[row] is None else
                          f"no vector for {lk.key} {ids[row]!r} in embeddings {lk.embeddings!r}")
                errors.setdefault(row, RowError(row, lk.key, ids[row], reason))
            out.update(zip(names, matrix.T.tolist(), strict=True))
        return out, sorted(errors.values(), key=lambda e: e.row)

    def _inputs(self, model: str, schema: ModelSchema, lookup: Lookup, dim: int) -> list[str]:
        """The inputs a vector fills, checked against the model once per set size."""
        key = (model, id(schema), lookup, dim)
        names = self._names.get(key)
        if names is None:
            names = lookup.inputs(dim)
            inputs = set(schema.input_names)
            absent = [m for m in names if m not in inputs]
            if absent:
                raise ConfigurationError(
                    f"lookup {lookup.key} -> {lookup.embeddings}: the vectors have {dim} "
                    f"entries but {model} has no inputs {absent[:3]}...; fix the prefix or "
                    "the set")
            self._names[key] = names
        return names

    async def _cached_read(self, names: list[list[str]]) -> list[list[Any]]:
        """Values from the in-process cache, the rest read in one round trip.

        The cache is exact, not approximate: a key names its run, and a run's vectors never
        change after its pointer flip (a new ``embeddings put`` is a new run, new keys). Only
        found vectors are kept, least recently used evicted beyond ``cache_size``."""
        if self.cache_size <= 0:
            return await self._read(names)
        cache = self._cache
        wanted = [[k for k in group if k not in cache] for group in names]
        if any(wanted):
            fetched = await self._read(wanted)
            for group, values in zip(wanted, fetched, strict=True):
                for key, value in zip(group, values, strict=True):
                    if value is not None:
                        cache[key] = value
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        out = []
        for group in names:
            values = []
            for key in group:
                value = cache.get(key)
                if value is not None:
                    cache.move_to_end(key)
                values.append(value)
            out.append(values)
        return out

    async def _read(self, names: list[list[str]]) -> list[list[Any]]:
        """Every key of a request in one round trip: one MGET on a single server (cheaper than
        a pipeline of one MGET per set), a pipeline of one MGET per set (its own hash slot)
        on Redis Cluster."""
        if len(names) > 1 and await self._is_cluster():
            pipe = self.client.pipeline(transaction=False)
            for group in names:
                pipe.mget(group)
            return list(await pipe.execute())
        values = await self.client.mget([k for group in names for k in group])
        out, start = [], 0
        for group in names:
            out.append(values[start:start + len(group)])
            start += len(group)
        return out

    async def close(self) -> None:
        await self.client.aclose()


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a JSON number id 42.0 is the entity "42"
    return "" if value is None else str(value)


__all__ = ["Lookup", "LookupStore", "read_config"]

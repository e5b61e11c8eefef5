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
from dataclasses import dataclass
from typing import Any

from pmmlkit.errors import ConfigurationError
from pmmlkit.online import (
    decode_vectors,
    embeddings_namespace,
    embeddings_pointer,
    redacted,
)
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.validation import RowError

#: seconds a set's live run (its pointer) is cached before it is read again
POINTER_TTL = 1.0


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

    def __init__(self, url: str, lookups: dict[str, list[Lookup]]):
        import redis.asyncio

        self.url = url
        self.lookups = lookups
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=5.0,
                                                   socket_connect_timeout=5.0)
        self._live: dict[str, tuple[float, str, int]] = {}  # set -> (read at, run, dim)

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
            raise ConfigurationError(f"{redacted(self.url)}: no embedding set {name!r}; put it "
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
        with redis_errors(self.url, "read embeddings"):
            metas = [await self._meta(lk.embeddings) for lk in lookups]
            pipe = self.client.pipeline(transaction=False)
            keys = []
            for lk, (run, _dim) in zip(lookups, metas, strict=True):
                ids = columns.get(lk.key) or [None] * n
                keys.append(ids)
                prefix = f"{embeddings_namespace(lk.embeddings, run)}:k:"
                pipe.mget([prefix + _id_text(i) for i in ids])
            answers = await pipe.execute() if n else [[] for _ in lookups]
        errors: dict[int, RowError] = {}
        out = {k: v for k, v in columns.items() if k not in {lk.key for lk in lookups}}
        inputs = set(schema.input_names)
        for lk, (run, dim), ids, values in zip(lookups, metas, keys, answers, strict=True):
            names = lk.inputs(dim)
            absent = [m for m in names if m not in inputs]
            if absent:
                raise ConfigurationError(
                    f"lookup {lk.key} -> {lk.embeddings}: the vectors have {dim} entries but "
                    f"{model} has no inputs {absent[:3]}...; fix the prefix or the set")
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
            for i, name in enumerate(names):
                out[name] = matrix[:, i].tolist()
        return out, sorted(errors.values(), key=lambda e: e.row)

    async def close(self) -> None:
        await self.client.aclose()


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a JSON number id 42.0 is the entity "42"
    return "" if value is None else str(value)


__all__ = ["Lookup", "LookupStore", "read_config"]

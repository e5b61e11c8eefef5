"""Embedding sets: vectors written from a file (:func:`put_embeddings`) and read
by id (:class:`EmbeddingSet`, :func:`decode_vectors`)."""


from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import (
    DataNotFoundError,
    InvalidInputError,
)
from pmmlkit.online.connection import _flip, as_text, connect, delete_namespace, redis_errors
from pmmlkit.online.keys import (
    DEFAULT_GRACE,
    DTYPE,
    WRITE_BATCH,
    _new_run,
    embeddings_namespace,
    embeddings_pointer,
    redacted,
)

if TYPE_CHECKING:
    import numpy as np

# -- embeddings ------------------------------------------------------------------------------
@dataclass
class EmbeddingsSummary:
    url: str
    name: str
    run: str
    count: int
    dim: int
    previous: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_vectors(path: str, key: str) -> tuple[list[str], np.ndarray]:
    """Ids and a (n, dim) float32 matrix from Parquet (the key column, and a list column or
    the numeric columns) or NumPy ``.npz`` (the key array and one 2-D array)."""
    import numpy as np

    from pmmlkit._boundary import storage

    if path.lower().endswith(".npz"):
        with storage(path, "read the vectors", missing=InvalidInputError,
                     corrupt=InvalidInputError), np.load(path, allow_pickle=False) as data:
            if key not in data.files:
                raise InvalidInputError(f"{path}: no array {key!r} (arrays: {data.files})",
                                        field=key, reason="missing column")
            others = [n for n in data.files if n != key and data[n].ndim == 2]
            if len(others) != 1:
                raise InvalidInputError(f"{path}: expected one 2-D array of vectors beside "
                                        f"{key!r}, found {others or 'none'}")
            ids, matrix = data[key], data[others[0]]
        return [str(i) for i in ids.tolist()], _float32(matrix, path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    with storage(path, "read the vectors", missing=InvalidInputError,
                 corrupt=InvalidInputError):
        table = pq.read_table(path)
    if key not in table.column_names:
        raise InvalidInputError(f"{path}: no column {key!r} (columns: {table.column_names})",
                                field=key, reason="missing column")
    ids = [None if v is None else str(v) for v in table.column(key).to_pylist()]
    rest = [n for n in table.column_names if n != key]
    lists = [n for n in rest if pa.types.is_list(table.schema.field(n).type)
             or pa.types.is_fixed_size_list(table.schema.field(n).type)
             or pa.types.is_large_list(table.schema.field(n).type)]
    if len(lists) == 1:
        rows = table.column(lists[0]).to_pylist()
        dims = {len(r) for r in rows if r is not None}
        if len(dims) != 1 or any(r is None for r in rows):
            bad = next(i for i, r in enumerate(rows) if r is None or len(r) != len(rows[0] or []))
            raise InvalidInputError(f"{path}: the vector of {key} {ids[bad]!r} (row {bad}) has "
                                    f"{'no value' if rows[bad] is None else len(rows[bad])} "
                                    f"entries; the others have {len(rows[0] or [])}",
                                    field=lists[0], reason="wrong vector length")
        matrix = np.array(rows, dtype=np.float64)
    else:
        numeric = [n for n in rest if pa.types.is_integer(table.schema.field(n).type)
                   or pa.types.is_floating(table.schema.field(n).type)]
        if not numeric or len(numeric) != len(rest):
            raise InvalidInputError(f"{path}: give the vectors as one list column or as "
                                    f"numeric columns beside {key!r} (columns: {rest})")
        matrix = np.column_stack([table.column(n).to_numpy(zero_copy_only=False)
                                  .astype(np.float64) for n in numeric])
    if any(i is None or i == "" for i in ids):
        bad = next(i for i, v in enumerate(ids) if v is None or v == "")
        raise InvalidInputError(f"{path}: row {bad} has no {key}", field=key,
                                reason="missing key")
    return [str(i) for i in ids], _float32(matrix, path, ids)


def _float32(matrix: Any, path: str, ids: Sequence[Any] | None = None) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.dtype.kind not in "fiu":
        raise InvalidInputError(f"{path}: vectors must be a 2-D array of numbers, got "
                                f"{matrix.dtype} with shape {matrix.shape}")
    bad = np.flatnonzero(~np.isfinite(matrix.astype(np.float64)).all(axis=1))
    if bad.size:
        which = repr(ids[bad[0]]) if ids is not None else f"row {bad[0]}"
        raise InvalidInputError(f"{path}: the vector of {which} holds NaN or infinity",
                                reason="not finite")
    return np.ascontiguousarray(matrix, dtype=DTYPE)


def put_embeddings(url: str, name: str, source: str, *, key: str = "id",
                   grace: int = DEFAULT_GRACE, ttl: int | None = None) -> EmbeddingsSummary:
    """Write one vector per entity as packed float32 into a new run of embedding set
    ``name`` and make it live when all are written (readers never see a partial set)."""
    started = time.perf_counter()
    ids, matrix = read_vectors(source, key)
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise InvalidInputError(f"{source}: {key} {dup!r} appears more than once",
                                field=key, value=dup, reason="duplicate key")
    client = connect(url)
    run = _new_run()
    namespace = embeddings_namespace(name, run)
    try:
        with redis_errors(url, f"write embeddings {name}"):
            pipe = client.pipeline(transaction=False)
            prefix = f"{namespace}:k:"
            for i, entity in enumerate(ids):
                pipe.execute_command("SET", prefix + entity, matrix[i].tobytes())
                if ttl:
                    pipe.execute_command("EXPIRE", prefix + entity, ttl)
                if (i + 1) % WRITE_BATCH == 0:
                    pipe.execute()
            pipe.execute()
            client.hset(f"{namespace}:_meta", mapping={
                "dim": str(matrix.shape[1]), "dtype": DTYPE, "count": str(len(ids)),
                "key": key, "source": source, "created": str(time.time())})
            previous = _flip(client, embeddings_pointer(name),
                             lambda r: embeddings_namespace(name, r), run, grace)
    except BaseException:
        with contextlib.suppress(Exception):
            delete_namespace(client, namespace)
        raise
    return EmbeddingsSummary(redacted(url), name, run, len(ids), int(matrix.shape[1]),
                             previous, time.perf_counter() - started)


def decode_vectors(name: str, run: str, dim: int, keys: Sequence[Any],
                   values: Sequence[bytes | None]) -> tuple[np.ndarray, list[int]]:
    """Unpack MGET's answers into an (n, dim) float64 matrix; returns it and the positions of
    missing keys. A value of the wrong size is an error naming the key."""
    import numpy as np

    out = np.zeros((len(keys), dim), dtype=np.float64)
    missing = []
    size = dim * 4
    for i, value in enumerate(values):
        if value is None:
            missing.append(i)
        elif len(value) != size:
            raise InvalidInputError(
                f"embeddings {name} (run {run}): the value of {keys[i]!r} has {len(value)} "
                f"bytes, not {size} ({dim} float32); it was not written by `pmmlkit "
                "embeddings put`: put the set again", value=keys[i], reason="wrong vector size")
        else:
            out[i] = np.frombuffer(value, dtype=DTYPE)
    return out, missing


class EmbeddingSet:
    """A live embedding set, read synchronously (tests, batch) — the server has its own
    asynchronous reader (:mod:`pmmlkit.server.lookups`)."""

    def __init__(self, url: str, name: str, *, client: Any = None):
        self.url, self.name = url, name
        self.client = client or connect(url)

    def meta(self) -> tuple[str, dict[str, str]]:
        with redis_errors(self.url, f"read embeddings {self.name}"):
            run = as_text(self.client.get(embeddings_pointer(self.name)))
            if run is None:
                raise DataNotFoundError(f"{redacted(self.url)}: no embedding set "
                                        f"{self.name!r}; put it with `pmmlkit embeddings put`")
            raw = self.client.hgetall(f"{embeddings_namespace(self.name, run)}:_meta")
        return run, {as_text(k) or "": as_text(v) or "" for k, v in raw.items()}

    def get(self, keys: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        """Vectors of ``keys`` (one MGET) and the positions of the missing ones."""
        run, meta = self.meta()
        prefix = f"{embeddings_namespace(self.name, run)}:k:"
        with redis_errors(self.url, f"read embeddings {self.name}"):
            values = self.client.mget([prefix + str(k) for k in keys]) if keys else []
        return decode_vectors(self.name, run, int(meta["dim"]), keys, values)

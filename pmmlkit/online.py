"""Online stores on Redis: pre-computed results read by key, embeddings looked up at serve time.

Layout (every key of one result set or embedding set shares a hash tag, so multi-key reads
would stay in one slot of a Redis Cluster; pmmlkit itself speaks to one server and refuses a
cluster node clearly)::

    pmmlkit:res:{MODEL}:current          -> the id of the live run (a string)
    pmmlkit:res:{MODEL}:RUN:_meta        -> hash: model, version, sha256, key, columns, rows...
    pmmlkit:res:{MODEL}:RUN:k:KEY        -> hash: the output contract's columns (as text),
                                            kept columns, _model, _version
    pmmlkit:emb:{NAME}:current           -> the id of the live run
    pmmlkit:emb:{NAME}:RUN:_meta         -> hash: dim, dtype (<f4), count, key, source
    pmmlkit:emb:{NAME}:RUN:k:ID          -> the vector, packed little-endian float32

A run writes into its own namespace and flips the ``current`` pointer when it has finished,
so readers never see a half-written or mixed set; the previous run's keys expire after a
grace period (default 300 s, for readers that resolved the old pointer). A run that fails
deletes what it wrote and leaves the pointer untouched.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pmmlkit.errors import (
    ConfigurationError,
    DataNotFoundError,
    InvalidInputError,
    StorageError,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_GRACE = 300
#: commands per pipeline round trip when writing
WRITE_BATCH = 2_000
DTYPE = "<f4"


def is_redis_url(url: str | None) -> bool:
    return url is not None and url.lower().startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


# -- keys -------------------------------------------------------------------------------------
def _check_name(kind: str, name: str) -> str:
    if not name or any(c in name for c in "{}") or any(c.isspace() for c in name):
        raise ConfigurationError(f"{kind} name {name!r}: use letters, digits, '.', '_', '-' "
                                 "(no braces or spaces: the name is the key's hash tag)")
    return name


def results_pointer(model: str) -> str:
    return f"pmmlkit:res:{{{_check_name('model', model)}}}:current"


def results_namespace(model: str, run: str) -> str:
    return f"pmmlkit:res:{{{_check_name('model', model)}}}:{run}"


def embeddings_pointer(name: str) -> str:
    return f"pmmlkit:emb:{{{_check_name('embedding set', name)}}}:current"


def embeddings_namespace(name: str, run: str) -> str:
    return f"pmmlkit:emb:{{{_check_name('embedding set', name)}}}:{run}"


def _new_run() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


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


# -- pre-computed results --------------------------------------------------------------------
class ResultWriter:
    """Writes scored rows under their keys into a new run; :meth:`commit` flips the pointer.

    Used as the output of :func:`pmmlkit.score_file` for a ``redis://`` output.
    """

    def __init__(self, url: str, model: str, *, key: str, version: int | None, sha256: str,
                 columns: Sequence[tuple[str, str]], ttl: int | None = None,
                 grace: int = DEFAULT_GRACE):
        self.url, self.model, self.key = url, model, key
        self.client = connect(url)
        self.run = _new_run()
        self.namespace = results_namespace(model, self.run)
        self.version, self.sha256, self.columns = version, sha256, list(columns)
        self.ttl, self.grace = ttl, grace
        self.rows_written = 0

    def write(self, table: pa.Table) -> None:
        """Write a table holding the key column and the fields to store: one HSET per row
        (and EXPIRE with a TTL), sent in batches of :data:`WRITE_BATCH` rows."""
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        fields = [n for n in table.column_names if n != self.key]
        with redis_errors(self.url, f"write results of {self.model}"):
            for start in range(0, table.num_rows, WRITE_BATCH):
                part = table.slice(start, WRITE_BATCH)
                if any(pc.any(pc.is_null(part.column(n))).as_py() for n in fields):
                    self._write_rows(part, fields)
                else:
                    self._send(_hset_commands(part, self.key, f"{self.namespace}:k:", fields,
                                              self._common(), self.ttl), part.num_rows)
        self.rows_written += table.num_rows

    def _common(self) -> list[tuple[str, str]]:
        return [("_model", self.model), ("_version", str(self.version or ""))]

    def _send(self, payload: bytes, rows: int) -> None:
        """Send packed commands on one connection and read every reply (an error reply
        raises; the connection is then dropped, never reused half-read)."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([payload], check_health=False)
            for _ in range(rows * (2 if self.ttl else 1)):
                conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def _write_rows(self, table: pa.Table, fields: list[str]) -> None:
        """Rows with missing values (an output the model did not give): the fields present,
        one command per row through a pipeline."""
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = pc.cast(table.column(self.key), pa.string()).to_pylist()
        values = [pc.cast(table.column(n), pa.string()).to_pylist() for n in fields]
        common = [x for pair in self._common() for x in pair]
        prefix = f"{self.namespace}:k:"
        pipe = self.client.pipeline(transaction=False)
        for i, key in enumerate(keys):
            args: list[Any] = ["HSET", prefix + key]
            for name, column in zip(fields, values, strict=True):
                if column[i] is not None:
                    args += [name, column[i]]
            pipe.execute_command(*args, *common)
            if self.ttl:
                pipe.execute_command("EXPIRE", prefix + key, self.ttl)
        pipe.execute()

    def close(self, schema: Any) -> None:
        """Nothing to finish per table; :meth:`commit` publishes the run."""

    def commit(self) -> str | None:
        """Record the run's metadata and make it the live one; returns the previous run."""
        meta = {"model": self.model, "version": str(self.version or ""), "sha256": self.sha256,
                "key": self.key, "columns": json.dumps(self.columns),
                "rows": str(self.rows_written), "created": str(time.time())}
        with redis_errors(self.url, f"publish the results of {self.model}"):
            self.client.hset(f"{self.namespace}:_meta", mapping=meta)
            if self.ttl:
                self.client.expire(f"{self.namespace}:_meta", self.ttl)
            return _flip(self.client, results_pointer(self.model),
                         lambda run: results_namespace(self.model, run), self.run, self.grace)

    def abort(self) -> None:
        """Delete what this run wrote (best effort: the pointer was never moved)."""
        with contextlib.suppress(Exception):
            delete_namespace(self.client, self.namespace)


def _hset_commands(table: pa.Table, key: str, prefix: str, fields: list[str],
                   common: list[tuple[str, str]], ttl: int | None) -> bytes:
    """The Redis protocol (RESP) of one ``HSET prefix+key field value ...`` per row (and an
    ``EXPIRE``), built column-wise by Arrow: the rows' commands are one string column whose
    data buffer is the payload. 2x redis-py pipelining written by hand, measured (its Python
    packing of every argument is the cost)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def bulk(column: Any) -> list[Any]:  # $<byte length>\r\n<bytes>\r\n
        return ["$", pc.cast(pc.binary_length(column), pa.string()), "\r\n", column, "\r\n"]

    def text(value: str) -> str:
        return f"${len(value.encode())}\r\n{value}\r\n"

    keys = pc.binary_join_element_wise(prefix, pc.cast(table.column(key), pa.string()), "")
    pieces: list[Any] = [f"*{2 + 2 * (len(fields) + len(common))}\r\n$4\r\nHSET\r\n",
                         *bulk(keys)]
    for name in fields:
        pieces += [text(name), *bulk(pc.cast(table.column(name), pa.string()))]
    pieces += [text(name) + text(value) for name, value in common]
    if ttl:
        pieces += ["*3\r\n$6\r\nEXPIRE\r\n", *bulk(keys), text(str(ttl))]
    n = table.num_rows
    columns = [pa.array([p] * n, pa.string()) if isinstance(p, str) else p for p in pieces]
    rows = pc.binary_join_element_wise(*columns, "")
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    width = np.int64 if pa.types.is_large_string(rows.type) else np.int32
    bounds = np.frombuffer(rows.buffers()[1], dtype=width)[rows.offset:rows.offset + n + 1]
    return bytes(memoryview(rows.buffers()[2])[bounds[0]:bounds[-1]])


def lookup(url: str, model: str, keys: Sequence[Any], *, client: Any = None) -> pd.DataFrame:
    """Pre-computed results for ``keys``: one row per key, in order, with the key column, the
    output contract's columns (typed as in :meth:`Model.score_batch`) and ``error`` (the
    reason a key has no result). ``model`` is the repository name of the model (or the
    ``--name`` given when a bare PMML file was scored)."""
    import pandas as pd

    from pmmlkit.scorer.contract import pandas_values

    client = client or connect(url)
    with redis_errors(url, f"read the results of {model}"):
        run = as_text(client.get(results_pointer(model)))
        if run is None:
            raise DataNotFoundError(f"{redacted(url)}: no results for model {model!r}; write "
                                     f"them with `pmmlkit score MODEL INPUT --to {redacted(url)}"
                                     " --key COLUMN`")
        namespace = results_namespace(model, run)
        meta = {as_text(k): as_text(v) for k, v in client.hgetall(f"{namespace}:_meta").items()}
        columns = [tuple(c) for c in json.loads(meta.get("columns") or "[]")]
        names = [c[0] for c in columns]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(f"{namespace}:k:{key}", names)
        found = pipe.execute()
    key_name = meta.get("key") or "key"
    rows: dict[str, list[Any]] = {name: [] for name in names}
    errors: list[str | None] = []
    for key, values in zip(keys, found, strict=True):
        missing = all(v is None for v in values)
        errors.append(f"no result for key {key!r} in {model} (run {run})" if missing else None)
        for name, value in zip(names, values, strict=True):
            rows[name].append(as_text(value))
    frame = pd.DataFrame({key_name: list(keys)})
    for name, data_type in columns:
        frame[name] = pandas_values(data_type, rows[name])
    frame["error"] = pd.Series(errors, dtype=object)
    frame.attrs.update(model=model, version=meta.get("version"), run=run)
    return frame


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


__all__ = ["DEFAULT_GRACE", "EmbeddingSet", "EmbeddingsSummary", "ResultWriter", "connect",
           "decode_vectors", "is_redis_url", "lookup", "put_embeddings", "read_vectors",
           "redacted"]

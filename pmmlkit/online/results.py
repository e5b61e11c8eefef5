"""Pre-computed results: a run of scored rows written under their keys
(:class:`ResultWriter`) and read back by key (:func:`lookup`)."""


from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import (
    DataNotFoundError,
)
from pmmlkit.online.connection import _flip, as_text, connect, delete_namespace, redis_errors
from pmmlkit.online.keys import (
    DEFAULT_GRACE,
    WRITE_BATCH,
    _new_run,
    redacted,
    results_namespace,
    results_pointer,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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

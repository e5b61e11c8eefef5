"""The CSV endpoint (``POST /v1/models/NAME:score``): CSV in, CSV out, each chunk a request
of the core."""


from __future__ import annotations

import asyncio
import functools
import io
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from pmmlkit.errors import PmmlkitError
from pmmlkit.scorer.matching import check_columns
from pmmlkit.server import protocol
from pmmlkit.server.batching import Result
from pmmlkit.server.core import Server
from pmmlkit.server.protocol import HTTPError
from pmmlkit.server.registry import LoadedVersion


async def csv_endpoint(server: Server, request: Request, loaded: LoadedVersion) -> Response:
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


__all__ = ["csv_endpoint"]

"""Coalescing concurrent requests into one JVM call per batch (adaptive batching).

Every request for a loaded model version becomes a :class:`Job` holding its input columns.
A dispatcher task per version hands queued jobs to a thread pool as one set of columns, scored
with :meth:`pmmlkit.Model.score_columns` (no pandas), and gives each job back exactly its own
rows, by position.

- A job never waits when the server is idle: with no other request in flight, it is scored at
  once. Under load, jobs that arrive while the workers are busy, or within ``wait`` seconds
  of the first one, go together, up to ``max_rows`` rows a batch.
- Backpressure: at most ``queue_rows`` rows wait; beyond that :meth:`Batcher.submit` raises
  :class:`QueueFull` at once (HTTP 429), so memory and latency stay bounded.
- Scoring runs in worker threads (JPype releases the GIL inside Java); the event loop only
  moves lists.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from pmmlkit.errors import InvalidInputError, ScoringError
from pmmlkit.scorer.contract import python_values
from pmmlkit.scorer.model import Model
from pmmlkit.scorer.validation import RowError, object_column, row_error_of

#: batches up to this many rows are scored record by record, larger ones through
#: Model.score_columns: the size where one columns call starts to cost less than the records
#: (docs/performance.md, "Defaults and what they rest on")
ROW_PATH_ROWS = 8


class QueueFull(Exception):
    """The version's queue holds its maximum number of rows."""


@dataclass
class Result:
    """A job's answer: output columns (lists, None = missing) and its rows' errors."""

    columns: dict[str, list[Any]]
    errors: list[RowError]
    queued_seconds: float


@dataclass
class Job:
    columns: dict[str, list[Any]]
    rows: int
    future: asyncio.Future[Result]
    queued_at: float = field(default_factory=time.perf_counter)
    #: inputs already in the evaluator's columnar form (a CSV chunk): scored alone, as they are
    prepared: dict[str, Any] | None = None


class Batcher:
    """The request queue of one loaded model version."""

    def __init__(self, model: Model, executor: Executor, *, workers: int, wait: float,
                 max_rows: int, queue_rows: int,
                 on_batch: Callable[[int, int], None] | None = None):
        self.model = model
        self._executor = executor
        self._workers = max(1, workers)
        self._wait = max(0.0, wait)
        self._max_rows = max(1, max_rows)
        self._queue_rows = max(1, queue_rows)
        self._on_batch = on_batch
        self._queue: deque[Job] = deque()
        self._queued = 0  # rows waiting
        self._busy = 0  # batches being scored
        self._wakeup = asyncio.Event()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(self._dispatch())
        self._inputs = model.schema.input_names

    @property
    def queued_rows(self) -> int:
        return self._queued

    async def submit(self, columns: dict[str, list[Any]], rows: int, *,
                     prepared: dict[str, Any] | None = None) -> Result:
        """Score ``rows`` rows given as columns (input name -> values), or as ``prepared``
        inputs (:func:`pmmlkit.scorer.arrow.arrow_inputs`, scored in one call of their own)."""
        if self._queued + rows > self._queue_rows and self._queued > 0:
            raise QueueFull(f"{self._queued} rows are waiting (limit {self._queue_rows})")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        job = Job(columns, rows, future, prepared=prepared)
        if not self._queue and self._busy == 0:
            # an idle version: straight to a worker, without waking the dispatcher
            self._busy += 1
            self._start(self._run([job]))
            return await future
        self._queue.append(job)
        self._queued += rows
        self._wakeup.set()
        if self._task.done():
            # a request that resolved this version just before it was swapped out arrives
            # after its dispatcher finished: it is still answered by the version it chose
            self._task = loop.create_task(self._dispatch())
        return await future

    def close(self) -> None:
        """Stop taking work; jobs already queued are still scored."""
        self._closed = True
        self._wakeup.set()

    async def _dispatch(self) -> None:
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if self._busy >= self._workers:
                self._wakeup.clear()
                await self._wakeup.wait()  # a batch finishing sets it
                continue
            if self._busy > 0 and self._wait > 0 and self._queued < self._max_rows:
                # under load: give concurrent requests a moment to join this batch
                deadline = self._queue[0].queued_at + self._wait
                delay = deadline - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            batch = self._take()
            if batch:
                self._busy += 1
                self._start(self._run(batch))

    def _start(self, work: Any) -> None:
        """Run a batch as a task, holding a reference until it ends (the event loop keeps
        only weak ones, and a collected task would never answer its callers)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[Job]:
        batch: list[Job] = []
        rows = 0
        while self._queue and (not batch or (rows + self._queue[0].rows <= self._max_rows
                                             and batch[0].prepared is None
                                             and self._queue[0].prepared is None)):
            job = self._queue.popleft()
            self._queued -= job.rows
            if job.future.done():  # the caller gave up (deadline): nothing to score
                continue
            batch.append(job)
            rows += job.rows
        return batch

    async def _run(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self._executor, self._score, batch)
        except BaseException as exc:  # an evaluator failure fails this batch's requests
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            columns, errors = outcome
            start = 0
            by_row: dict[int, RowError] = {e.row: e for e in errors}
            for job in batch:
                stop = start + job.rows
                mine = [e.at(r - start)
                        for r in range(start, stop) if (e := by_row.get(r)) is not None]
                if not job.future.done():
                    job.future.set_result(Result(
                        {name: values[start:stop] for name, values in columns.items()}, mine,
                        started - job.queued_at))
                start = stop
        finally:
            self._busy -= 1
            self._wakeup.set()
            if self._on_batch is not None:
                self._on_batch(len(batch), sum(job.rows for job in batch))

    def _score(self, batch: list[Job]) -> tuple[dict[str, list[Any]], list[RowError]]:
        """In a worker thread: the whole batch in one call. Up to :data:`ROW_PATH_ROWS` rows
        go record by record through :meth:`Model.score`; larger batches in one call of
        :meth:`Model.score_columns` (a fixed cost, then far less per row). Both give the same
        numbers (``tests/test_scorer_parity.py``)."""
        rows = sum(job.rows for job in batch)
        if batch[0].prepared is not None:  # always alone in its batch (see _take)
            out, errors = self.model.score_columns(batch[0].prepared, rows)
            return {c.name: python_values(c, values)
                    for c, values in zip(self.model.schema.columns, out, strict=True)}, errors
        if len(batch) == 1:
            data = batch[0].columns
        else:
            data = {name: [v for job in batch for v in job.columns.get(name, _nones(job.rows))]
                    for name in self._inputs}
        columns = {name: data.get(name) or _nones(rows) for name in self._inputs}
        if rows <= ROW_PATH_ROWS:
            return self._score_records(columns, rows)
        out, errors = self.model.score_columns(
            {name: object_column(values) for name, values in columns.items()}, rows)
        return {c.name: python_values(c, values)
                for c, values in zip(self.model.schema.columns, out, strict=True)}, errors

    def _score_records(self, columns: dict[str, list[Any]], rows: int
                       ) -> tuple[dict[str, list[Any]], list[RowError]]:
        names = self.model.schema.column_names
        out: dict[str, list[Any]] = {name: [] for name in names}
        errors: list[RowError] = []
        for i in range(rows):
            try:
                scored = self.model.score({name: values[i] for name, values in columns.items()})
            except InvalidInputError as exc:
                errors.append(row_error_of(exc, i))
                scored = {}
            except ScoringError as exc:
                errors.append(RowError(i, None, None, f"the evaluator failed: {exc}"))
                scored = {}
            for name in names:
                value = scored.get(name)
                out[name].append(None if isinstance(value, float) and value != value else value)
        return out, errors


def _nones(n: int) -> list[None]:
    return [None] * n

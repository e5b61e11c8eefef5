"""The backend interface: build a row scorer in the JVM, then score rows and column chunks.

A backend only decides how a PMML document becomes a ``pmmlkit.bridge.RowScorer`` (see
``bridge/src``). Moving data is shared: one call per row for :meth:`Handle.score_row`, and one
call per chunk for :meth:`Handle.score_columns`, with numeric columns as ``double[]`` and
string columns dictionary-coded as ``int[]`` + ``String[]``.
"""

from __future__ import annotations

import os
import threading
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmmlkit._boundary import environment_int, java
from pmmlkit.errors import ModelLoadError
from pmmlkit.schema import ModelSchema
from pmmlkit.scorer.backends import _jvm
from pmmlkit.scorer.validation import RawColumn

_NAN = float("nan")


@dataclass
class _RowCall:
    """A Java ``RowCall`` with its arrays, and Python staging lists, for one thread."""

    java: Any
    numbers: Any  # double[]
    objects: Any  # Object[]
    out_numbers: Any  # double[]
    out_texts: Any  # String[]
    numbers_py: list[float]
    objects_py: list[Any]
    #: the plan's categorical inputs (schema positions), each with the category index of
    #: every text seen (-1: the text travels raw), up to :data:`_CODES_PER_INPUT`
    coded: list[tuple[int, dict[str, int]]]


#: distinct texts remembered per categorical input of a single-row call
_CODES_PER_INPUT = 4096


@dataclass(frozen=True)
class Problem:
    """One input value the evaluator refused: the input's position in the schema's input
    order, the kind (:data:`pmmlkit.scorer.validation.MISSING` ...), the evaluator's text."""

    field: int
    kind: int
    text: str


class RowFailed(Exception):
    """:meth:`Handle.score_row`: the evaluator failed on the row (``problems`` names the
    values it refused; none when no single value is to blame)."""

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.message = message
        self.problems = problems


@dataclass
class ChunkResult:
    """Output columns in contract order, the rows the evaluator failed on, and per failed row
    the values it refused."""

    columns: list[np.ndarray]
    error_rows: np.ndarray
    error_messages: list[str]
    problems: dict[int, list[Problem]]


class Handle:
    """A model loaded into one backend: scores rows in the schema's input order."""

    def __init__(self, scorer: Any, schema: ModelSchema, *, source: str, description: str):
        self._scorer = scorer
        #: a faster evaluator being prepared (see :meth:`offer`), and how to wrap it
        self._compilation: Any = None
        self._wrap: Any = None
        self._swap_lock = threading.Lock()
        self._generation = 0
        self._schema = schema
        self.source = source
        self.description = description
        order = [str(n) for n in scorer.inputNames()]
        index = {name: i for i, name in enumerate(schema.input_names)}
        missing = [n for n in order if n not in index]
        if missing:
            raise ModelLoadError(f"{source}: the evaluator expects inputs {missing} that the "
                                 "MiningSchema does not list as active")
        #: position in the schema's input order of each evaluator input
        self._take = [index[n] for n in order]
        self._out_kinds = [0 if c.numeric else 1 for c in schema.columns]
        jpype = _jvm.ensure_jvm()
        self._jpype = jpype
        self._batch = jpype.JClass("pmmlkit.bridge.Batch")
        self._java_out_kinds = jpype.JArray(jpype.JInt)(self._out_kinds)
        self._object_array = jpype.JArray(jpype.JObject)
        self._input_column = jpype.JClass("pmmlkit.bridge.InputColumn")
        self._input_columns = jpype.JArray(self._input_column)
        #: score_row: evaluator input i reads schema input self._take[i]
        self._layout = jpype.JArray(jpype.JInt)(self._take)
        self._n_inputs = len(schema.inputs)
        self._local = threading.local()
        #: the columnar plan (``pmmlkit.bridge.Plan``) once it serves, a candidate until it
        #: has reproduced the evaluator on :data:`GATE_ROWS` rows it computes, and its state
        self._plan: Any = None
        self._plan_candidate: Any = None
        self._plan_reference: Any = None
        self._plan_needed = GATE_ROWS
        self._plan_calls = 0
        self.plan = "none: not offered"
        self._plan_summary = ""

    def score_row(self, numbers: list[float], objects: list[Any]) -> list[Any]:
        """Score one row given in schema input order as numbers (NaN = none) and raw values
        (None = none; both none: missing); contract order out. Raises :class:`RowFailed`.

        The row is copied into a per-thread ``RowCall``'s ``double[]`` and ``Object[]`` and
        scored with one argument-free JNI call; results come back the same way.
        """
        call = self._row_call()
        if call.coded:
            # a text of a plan's categorical input travels as its category's index (looked up
            # in the JVM once per distinct text): no string crosses into the JVM per record
            copied = False
            for k, known in call.coded:
                value = objects[k]
                if value.__class__ is str:
                    code = known.get(value)
                    if code is None:
                        code = int(call.java.category(k, value))
                        if len(known) < _CODES_PER_INPUT:
                            known[value] = code
                    if code >= 0:
                        if not copied:  # the caller's lists stay as they were
                            numbers, objects, copied = list(numbers), list(objects), True
                        numbers[k] = float(code)
                        objects[k] = None
        if numbers:
            call.numbers[:] = numbers
        staged = call.objects_py
        for k, value in enumerate(objects):
            if value is not staged[k]:
                call.objects[k] = value
                staged[k] = value
        error = call.java.run()
        if error is not None:
            problems = [Problem(self._take[int(p.field)], int(p.kind), str(p.text))
                        for p in call.java.problems]
            raise RowFailed(str(error), problems)
        out_numbers = memoryview(call.out_numbers).tolist()
        out: list[Any] = []
        for j, kind in enumerate(self._out_kinds):
            if kind == 0:
                x = out_numbers[j]
                out.append(None if x != x else x)
            else:
                t = call.out_texts[j]
                out.append(None if t is None else str(t))
        return out

    def _row_call(self) -> Any:
        call = getattr(self._local, "call", None)
        if call is None or getattr(self._local, "generation", -1) != self._generation:
            self._local.generation = self._generation
            java = self._jpype.JClass("pmmlkit.bridge.RowCall")(
                self._scorer, self._plan, self._n_inputs, self._layout, self._java_out_kinds)
            coded: list[tuple[int, dict[str, int]]] = [(int(k), {}) for k in java.codedInputs()]
            call = _RowCall(java, java.numbers, java.objects, java.outNumbers, java.outTexts,
                            [_NAN] * self._n_inputs, [None] * self._n_inputs, coded)
            self._local.call = call
        return call

    def score_columns(self, columns: list[RawColumn], nrows: int,
                      parallelism: int | None = None) -> ChunkResult:
        """Score a chunk given as raw columns in schema input order."""
        if self._compilation is not None:
            self._consider_compiled(columns, nrows)
        if self._plan_candidate is not None and nrows:
            self._consider_plan(columns, nrows)
        return self._run(self._scorer, self._java_columns(columns, nrows), nrows,
                         parallelism or default_parallelism(), self._plan)

    # -- a columnar plan serves only once it reproduces the evaluator bit for bit ----------
    def offer_plan(self, plan: Any, summary: str, reference: Any) -> None:
        """Score with ``plan`` once it has computed :data:`GATE_ROWS` rows of real chunks
        (the verification records count) exactly as ``reference`` (the interpreting
        evaluator, which a compiled model that scores meanwhile only stands in for) does;
        until then the evaluator scores, and for good when they differ in one bit."""
        if [str(n) for n in reference.inputNames()] != [str(n) for n in
                                                        self._scorer.inputNames()]:
            self.refuse_plan("the interpreter and the compiled model order their inputs "
                             "differently")
            return
        self._plan_reference = reference
        self._plan_candidate = plan
        self.plan = (f"pending: {summary} (serves once it has reproduced the evaluator on "
                     f"{GATE_ROWS} rows)")
        self._plan_summary = summary

    def refuse_plan(self, reason: str) -> None:
        self.plan = f"none: {reason}"

    def _consider_plan(self, columns: list[RawColumn], nrows: int) -> None:
        with self._swap_lock:
            plan = self._plan_candidate
            if plan is None:
                return
            rows = min(nrows, max(self._plan_needed, GATE_ROWS))
            java_columns = self._java_columns(columns, rows)
            current = self._run(self._plan_reference, java_columns, rows, 1)
            planned = self._run(self._plan_reference, java_columns, rows, 1, plan)
            disagreement = _first_difference(current, planned, exact=True)
            if disagreement is not None:
                self._plan_candidate = None
                self.plan = (f"refused: {self._plan_summary} differs from the evaluator "
                             f"({disagreement})")
                warnings.warn(f"{self.source}: the columnar plan differs from the evaluator "
                              f"({disagreement}); scoring with the evaluator", stacklevel=5)
                return
            self._plan_needed -= int(plan.count(java_columns, rows, self._java_out_kinds))
            self._plan_calls += 1
            if self._plan_needed > 0 and self._plan_calls >= GATE_CALLS:
                # rows the plan defers (missing values...) would be scored twice for ever
                self._plan_candidate = None
                self.plan = (f"none: {self._plan_summary} computed only "
                             f"{GATE_ROWS - self._plan_needed} of the {GATE_ROWS} rows its "
                             f"check needs in the first {GATE_CALLS} chunks (the others have "
                             "missing or unusual values, which the evaluator scores)")
                return
            if self._plan_needed <= 0:
                self._plan, self._plan_candidate = plan, None
                self._generation += 1  # each thread's single-row call takes the plan too
                self.plan = f"serving: {self._plan_summary}"

    def _java_columns(self, columns: list[RawColumn], stop: int) -> Any:
        """The chunk's first ``stop`` rows as ``InputColumn[]`` in the evaluator's input
        order: each array in one copy."""
        jpype = self._jpype
        out = []
        for i in self._take:
            col = columns[i]
            numbers = None if col.numbers is None else jpype.JArray(jpype.JDouble)(
                np.ascontiguousarray(col.numbers[:stop], np.float64))
            codes = values = None
            if col.codes is not None:
                codes = jpype.JArray(jpype.JInt)(np.ascontiguousarray(col.codes[:stop], np.int32))
                values = self._object_array(list(col.values or ()))
            out.append(self._input_column(numbers, codes, values))
        return self._input_columns(out)

    # -- a compiled evaluator replaces the interpreter only once it agrees with it ----------
    def offer(self, compilation: Any, wrap: Any) -> None:
        """Take ``compilation``'s evaluator (wrapped into a row scorer by ``wrap``) once it is
        ready and reproduces this handle's results on the next chunk scored (its first
        :data:`GATE_ROWS` rows). Until then, and for good if it disagrees, fails or runs out
        of time, the current evaluator scores."""
        self._compilation, self._wrap = compilation, wrap

    def wait_compiled(self, timeout: float | None = None) -> bool:
        compilation = self._compilation
        if compilation is None:
            return "(transpiled" in self.description
        compilation.wait(timeout)
        return compilation.evaluator is not None and compilation.error is None

    def _consider_compiled(self, columns: list[RawColumn], nrows: int) -> None:
        with self._swap_lock:
            compilation = self._compilation
            if compilation is None:
                return
            evaluator = compilation.poll()
            if evaluator is None:
                if compilation.abandoned:
                    self._compilation = None
                return
            self._compilation = None
            candidate = self._wrap(evaluator)
            rows = min(nrows, GATE_ROWS)
            java_columns = self._java_columns(columns, rows)
            current = self._run(self._scorer, java_columns, rows, 1)
            compiled = self._run(candidate, java_columns, rows, 1)
            # bit for bit: a compiled model stands in for the interpreter only where it gives
            # the interpreter's very numbers (JPMML-Transpiler may sum in another order)
            disagreement = _first_difference(current, compiled, exact=True)
            if disagreement is not None:
                compilation.mark_rejected(f"disagrees with the interpreter ({disagreement})")
                warnings.warn(f"{self.source}: the compiled (transpiled) model disagrees with "
                              f"the interpreter ({disagreement}); scoring with the "
                              "interpreting evaluator", stacklevel=5)
                return
            self._scorer = candidate
            self._generation += 1
            compilation.mark_verified()
            self.description = self.description.replace("(interpreted", "(transpiled", 1)

    def _run(self, scorer: Any, java_columns: Any, nrows: int, parallelism: int,
             plan: Any = None) -> ChunkResult:
        with java(f"{self.source}: the evaluator failed on a chunk of {nrows} rows"):
            result = self._batch.score(scorer, plan, java_columns, nrows,
                                       self._java_out_kinds, parallelism)
        ncols = len(self._out_kinds)
        out: list[np.ndarray] = []
        for j, kind in enumerate(self._out_kinds):
            if kind == 0:
                out.append(np.array(result[j], dtype=np.float64))
            else:
                codes = np.array(result[j], dtype=np.int64)
                labels = np.array([str(s) for s in result[ncols + 2 + j]] + [None], dtype=object)
                out.append(labels[codes])  # code -1 picks the trailing None
        rows = np.array(result[ncols], dtype=np.int64)
        messages = [str(m) for m in result[ncols + 1]]
        problems: dict[int, list[Problem]] = {}
        at = 2 * ncols + 2
        fields = np.array(result[at + 1], dtype=np.int64).tolist()
        kinds = np.array(result[at + 2], dtype=np.int64).tolist()
        texts = [str(t) for t in result[at + 3]]
        for row, field, kind, text in zip(np.array(result[at], dtype=np.int64).tolist(), fields,
                                          kinds, texts, strict=True):
            problems.setdefault(row, []).append(Problem(self._take[field], kind, text))
        return ChunkResult(out, rows, messages, problems)


#: rows of the first chunk on which a compiled model must reproduce the interpreter, and
#: rows a columnar plan must compute exactly as the evaluator before it serves
GATE_ROWS = 512
#: chunks a columnar plan has to find those rows; then the evaluator keeps scoring
GATE_CALLS = 16


def _first_difference(a: ChunkResult, b: ChunkResult, *, exact: bool = False) -> str | None:
    """Where two results of the same rows differ (beyond 1e-9 relative; with ``exact``, in
    one bit), or None."""
    if not np.array_equal(a.error_rows, b.error_rows):
        return "they fail on different rows"
    if exact and a.error_messages != b.error_messages:
        return "they fail with different messages"
    for j, (x, y) in enumerate(zip(a.columns, b.columns, strict=True)):
        if x.dtype.kind == "f" and exact:
            same = (x.view(np.int64) == y.view(np.int64)) | (np.isnan(x) & np.isnan(y))
        elif x.dtype.kind == "f":
            same = np.isclose(x, y, rtol=1e-9, atol=0.0, equal_nan=True)
        else:
            same = np.array([p == q for p, q in zip(x.tolist(), y.tolist(), strict=True)],
                            dtype=bool)
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            return f"output {j}, row {row}: {x[row]!r} vs {y[row]!r}"
    return None


def default_parallelism() -> int:
    """Threads per chunk: ``PMMLKIT_THREADS`` or the number of usable cores."""
    configured = os.environ.get("PMMLKIT_THREADS")
    if configured:
        return environment_int("PMMLKIT_THREADS", configured)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


class Backend(ABC):
    """Turns PMML bytes into a :class:`Handle`."""

    name: str = ""

    @abstractmethod
    def load(self, pmml: bytes, schema: ModelSchema, *, source: str,
             options: dict[str, Any]) -> Handle:
        """Build an evaluator for ``pmml``; raise ModelLoadError naming ``source`` on failure."""

    def version(self) -> str:
        """The evaluator's version, for reports."""
        return "unknown"

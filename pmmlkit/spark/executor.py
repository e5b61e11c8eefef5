"""The executor side: each Python worker's model cache, and the scoring of Arrow
batches (``mapInArrow``) with the in-process scorer."""


from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pmmlkit.spark.errors import on_executor
from pmmlkit.spark.job import _Job

if TYPE_CHECKING:
    import pyarrow as pa

    from pmmlkit.scorer.model import Model

# -- executor side ---------------------------------------------------------------------------
_models: dict[tuple[Any, ...], Model] = {}
_loads: dict[str, int] = {}
_models_lock = threading.Lock()


def worker_stats() -> dict[str, Any]:
    """This Python process's model cache: how many models it holds and how often each PMML
    (by sha256) was built. For tests and diagnostics on executors."""
    with _models_lock:
        return {"pid": os.getpid(), "models": len(_models), "loads": dict(_loads)}


def _value(payload: Any) -> Any:
    return payload.value if hasattr(payload, "value") else payload


def _model(job: _Job) -> Model:
    """The worker's model for this job: built on first use, then reused by every task."""
    key = (job.sha256, job.backend, job.transpile, job.verify)
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        from pmmlkit.errors import ModelLoadError
        from pmmlkit.scorer.loading import load

        data = bytes(_value(job.payload))
        actual = hashlib.sha256(data).hexdigest()
        if actual != job.sha256:
            raise ModelLoadError(f"{job.name}: the PMML that reached this executor has sha256 "
                                 f"{actual}, not the driver's {job.sha256}; it was damaged on "
                                 "the way. Run the job again.")
        if job.java_opts is not None:
            os.environ["PMMLKIT_JAVA_OPTS"] = job.java_opts  # before this worker's JVM starts
        if job.compiled is not None:
            _install_compiled(job.sha256, job.compiled[0], job.compiled[1])
        model = load(data, backend=job.backend, verify=job.verify, transpile=job.transpile,
                     name=job.name)
        _models[key] = model
        _loads[job.sha256] = _loads.get(job.sha256, 0) + 1
        return model


def _install_compiled(sha256: str, file_name: str, payload: Any) -> None:
    """Put the driver's verified compiled jar into this machine's cache, unless it has one."""
    from pmmlkit.scorer.backends import install_verified_jar

    install_verified_jar(sha256, file_name, bytes(_value(payload)))


@on_executor
def _partition(batches: Iterator[pa.RecordBatch], job: _Job) -> Iterator[pa.RecordBatch]:
    """mapInArrow's function: score each Arrow batch of a partition, one out per one in."""
    model = _model(job)
    parallelism = _task_cpus()
    for batch in batches:
        yield score_arrow(model, batch, job.keep, names=job.names, na_values=job.na_values,
                          file_rules=job.file_rules, detail=job.detail,
                          parallelism=parallelism, decimal=job.decimal)


def _task_cpus() -> int:
    """The cores Spark gave this task (``spark.task.cpus``, default 1): Spark runs one task
    per core, so a task's evaluator must not spread over the whole machine (measured: with
    the evaluator's default parallelism, local[2] scored no faster than local[1])."""
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        return max(1, int(context.cpus())) if context is not None else 1
    except Exception:
        return 1


def score_arrow(model: Model, batch: pa.RecordBatch, keep: Sequence[str], *,
                names: Sequence[str] | None = None, na_values: Sequence[str] = (),
                file_rules: bool = False, detail: bool = False,
                parallelism: int | None = None, decimal: str = ".") -> pa.RecordBatch:
    """Score one Arrow batch on an executor: :meth:`pmmlkit.Model.score_arrow`, with the
    file rules of text input (``na_values``, ``file_rules``, ``decimal``: see
    :func:`pmmlkit.scorer.arrow.apply_file_rules`) and Spark's column names."""
    from pmmlkit.scorer.arrow import score_record_batch

    return score_record_batch(model, batch, keep, names=names, na_values=na_values,
                              file_rules=file_rules, detail=detail, parallelism=parallelism,
                              decimal=decimal)

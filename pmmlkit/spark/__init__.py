"""Distributed scoring on Spark: the same model, the same output contract, on every executor.

:func:`score` turns a Spark DataFrame into one with the kept columns, the output contract's
columns (the names and types of :meth:`pmmlkit.Model.score_batch`) and the ``error`` column:
rows in = rows out, a bad row is never dropped. :func:`score_files` is ``pmmlkit score
--spark``: read files with Spark, score, write the scored rows and the rejects.

How it runs (measured in ``docs/performance.md``, design notes in ``docs/spark.md``): the PMML
travels with the job as bytes (a broadcast variable, checked by sha256 on arrival), so
executors need no access to the repository. Each Python worker scores Arrow batches through
``mapInArrow`` with pmmlkit's in-process JPMML scorer, exactly the code path of local scoring,
and keeps the model it built in :mod:`pmmlkit.spark.executor`'s cache (an importable module: a cloudpickled
closure would be rebuilt per task), so a worker builds a model once and reuses it across
tasks and jobs. A compiled (transpiled) model the driver has in its cache travels too, and a
worker finding one in its own cache loads it instead of compiling again.
"""

from pmmlkit.spark.errors import on_executor, translate
from pmmlkit.spark.executor import score_arrow, worker_stats
from pmmlkit.spark.files import score_files, session
from pmmlkit.spark.job import BATCH_ROWS
from pmmlkit.spark.plan import score

__all__ = ["BATCH_ROWS", "on_executor", "score", "score_arrow", "score_files", "session",
           "translate", "worker_stats"]

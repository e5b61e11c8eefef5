"""The driver side of :func:`score`: what the model is, what ships with the job, and
the ``mapInArrow`` plan."""


from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pmmlkit.errors import (
    ConfigurationError,
    InvalidInputError,
)
from pmmlkit.scorer.contract import spark_type
from pmmlkit.spark.executor import _partition
from pmmlkit.spark.job import _DETAIL, _Job

if TYPE_CHECKING:

    from pmmlkit.scorer.model import Model

# -- driver side -----------------------------------------------------------------------------
def _source(model: Model | str, backend: str | None) -> tuple[str, bytes, Any]:
    """Name, PMML bytes and schema of what the driver was given, without starting a JVM."""
    from pmmlkit.schema import read_schema
    from pmmlkit.scorer.loading import read_model
    from pmmlkit.scorer.model import Model

    if isinstance(model, Model):
        if backend is not None and backend != model.backend:
            raise ConfigurationError(f"{model.source} is loaded with backend {model.backend!r};"
                                     f" backend={backend!r} cannot apply to it (pass its "
                                     "reference instead)")
        return model.source, model.pmml, model.schema
    data, _manifest, name = read_model(str(model))
    return name, data, read_schema(data, source=name)


def _share(spark: Any, data: bytes) -> Any:
    """A broadcast variable where the session has a SparkContext, else the bytes themselves
    (Spark Connect has no broadcast; the bytes travel with the plan)."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect: "not supported in Spark Connect"
        return data
    return context.broadcast(data)


def _compiled_payload(spark: Any, sha256: str) -> tuple[str, Any] | None:
    """The driver's verified compiled jar of this PMML, if it has one, to ship to workers."""
    try:
        from pmmlkit.scorer.backends import verified_jar

        jar = verified_jar(sha256)
    except Exception:
        return None
    if jar is None:
        return None
    return jar.name, _share(spark, jar.read_bytes())


def score(df: Any, model: Model | str, *, keep: Sequence[str] | None = None,
          backend: str | None = None, transpile: bool | None = None,
          verify: bool = True, java_opts: str | None = None,
          na_values: Sequence[str] = (), allow_missing_columns: bool = False) -> Any:
    """Score a Spark DataFrame on the executors; returns a Spark DataFrame (lazy).

    Columns: ``keep`` (default: every column of ``df`` not named like an output column, e.g.
    a label column named like the target), then the output contract's columns
    (the names and types of :meth:`Model.score_batch`: double, long, boolean or string),
    then ``error`` (null where the row was scored). ``model`` is any reference :func:`pmmlkit.
    load` takes, or a loaded :class:`Model`. ``java_opts`` sets the JVM options of each
    Python worker's evaluator (default ``PMMLKIT_JAVA_OPTS`` as the workers see it, else
    ``-Xmx1g``...). ``na_values``: text cells read as missing in model input columns. Every
    model input must be a column of ``df`` (:mod:`pmmlkit.scorer.matching`);
    ``allow_missing_columns`` scores absent ones as missing on every row.
    """
    return _plan(df, model, keep=keep, backend=backend, transpile=transpile, verify=verify,
                 java_opts=java_opts, na_values=na_values,
                 allow_missing_columns=allow_missing_columns)


def _plan(df: Any, model: Model | str, *, keep: Sequence[str] | None, backend: str | None,
          transpile: bool | None, verify: bool, java_opts: str | None,
          na_values: Sequence[str], detail: bool = False, file_rules: bool = False,
          allow_missing_columns: bool = False, decimal: str = ".") -> Any:
    from functools import partial

    from pyspark.sql import types as T

    from pmmlkit.batch.job import check_columns
    from pmmlkit.scorer.backends import resolve_name
    from pmmlkit.scorer.model import ERROR_COLUMN

    name, data, schema = _source(model, backend)
    columns = list(df.columns)
    outputs = [*schema.column_names, ERROR_COLUMN, *(_DETAIL if detail else ())]
    kept = [c for c in columns if c not in outputs] if keep is None else list(keep)
    check_columns(schema, columns, kept, f"{name} on the DataFrame",
                  allow_missing_columns=allow_missing_columns)
    clash = sorted(set(kept) & set(outputs))
    if clash:
        raise InvalidInputError(f"the kept columns {clash} have the names of output columns of "
                                f"{name}; keep=[...] without them (or rename them first)",
                                field=clash[0], reason="duplicate column")
    by_name = {f.name: f for f in df.schema.fields}
    fields = [by_name[k] for k in kept]
    fields += [T.StructField(c.name, spark_type(c.data_type), True) for c in schema.columns]
    fields += [T.StructField(n, T.StringType(), True) for n in outputs[len(schema.columns):]]
    spark = df.sparkSession
    sha256 = hashlib.sha256(data).hexdigest()
    job = _Job(name=name, sha256=sha256, payload=_share(spark, data),
               backend=None if backend is None else resolve_name(backend),
               transpile=transpile, verify=verify, keep=tuple(kept),
               names=tuple(kept + outputs), java_opts=java_opts,
               na_values=tuple(na_values), file_rules=file_rules, decimal=decimal,
               detail=detail,
               compiled=_compiled_payload(spark, sha256))
    wanted = list(dict.fromkeys([*kept, *(i for i in schema.input_names if i in columns)]))
    return df.select(*wanted).mapInArrow(partial(_partition, job=job), T.StructType(fields))

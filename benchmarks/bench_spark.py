"""Spark scoring benchmark: pmmlkit.spark.score against the hand-written approach and Spark.

    .venv/bin/python benchmarks/bench_spark.py [--rows 1000000] [--models gbt,gbm]

Same data (8 Parquet files, one partition each), same run, every job forced to the end with
Spark's ``noop`` writer:
  (a) pmmlkit:      pmmlkit.spark.score(df, model)                    (mapInArrow, per-worker
                    model cache, background compile to a disk cache shared by the workers)
  (b) hand-written: mapInPandas, jpmml_evaluator's make_evaluator(PMML) in each task, then
                    evaluateAll per batch (what users post; `.astype(object)` on text
                    columns, which jpmml_evaluator needs on pandas 3)
  (c) spark:        PipelineModel.transform (the Spark-trained model only)
Models: a Spark GBT pipeline (20 trees, depth 5) and scikit-learn's 100-tree GBM.

Each contender gets a new SparkContext (so fresh Python workers) for local[1] and local[2]:
the first job shows the start-up cost, the next ones the warm speed. pmmlkit starts with an
empty compiled-model cache on local[2] (the workers interpret while a compile runs in the
background), then runs local[1] and local[2] again on new workers with the cache filled.
Peak RSS is sampled over the whole process tree (driver JVM, executors, Python workers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _models import CACHE, benchmark_models

from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn

DATA = CACHE / "spark-data"
COMPILED = CACHE / "spark-compiled-cache"


def _data(rows: int) -> Path:
    folder = DATA / str(rows)
    if not folder.is_dir():
        frame = make_churn(rows, seed=11)
        tmp = folder.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i, start in enumerate(range(0, rows, -(-rows // 8))):
            frame.iloc[start:start + -(-rows // 8)].to_parquet(tmp / f"part-{i}.parquet",
                                                               index=False)
        tmp.rename(folder)
    return folder


def _session(master: str) -> Any:
    import pyspark2pmml

    import pmmlkit.spark

    return pmmlkit.spark.session(master, app_name="bench-spark", conf={
        "spark.jars": pyspark2pmml.spark_jars(), "spark.ui.enabled": "false",
        "spark.driver.memory": "3g", "spark.sql.shuffle.partitions": "8"})


def _stop(spark: Any) -> None:
    spark.stop()
    from pyspark.sql import SparkSession

    SparkSession._instantiatedSession = None  # type: ignore[attr-defined]
    SparkSession._activeSession = None  # type: ignore[attr-defined]


def _spark_gbt(spark: Any) -> tuple[Path, Any]:
    """The Spark-trained 20-tree GBT pipeline, saved, and exported to PMML (once)."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    import pmmlkit

    saved, pmml = CACHE / "spark-gbt-model", CACHE / "spark-gbt.pmml"
    if not saved.is_dir() or not pmml.is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = spark.createDataFrame(make_churn(20_000, seed=10))
        stages = [StringIndexer(inputCol=c, outputCol=f"{c}_i") for c in CATEGORICAL]
        stages += [OneHotEncoder(inputCols=[f"{c}_i" for c in CATEGORICAL],
                                 outputCols=[f"{c}_v" for c in CATEGORICAL]),
                   VectorAssembler(inputCols=[*NUMERIC, *[f"{c}_v" for c in CATEGORICAL]],
                                   outputCol="features"),
                   StringIndexer(inputCol="churn", outputCol="label"),
                   GBTClassifier(maxIter=20, maxDepth=5, seed=0)]
        model = Pipeline(stages=stages).fit(train)
        model.write().overwrite().save(str(saved))
        repo = CACHE / "spark-gbt-repo"
        shutil.rmtree(repo, ignore_errors=True)
        ref = pmmlkit.export_spark(model, train.limit(200), repo=str(repo), name="gbt")
        shutil.copy(ref.uri, pmml)
    return pmml, PipelineModel.load(str(saved))


class _Peak:
    """Peak RSS of this process and all its descendants, sampled every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _handwritten(path: str, names: list[str]) -> Any:
    def run(frames: Any) -> Any:
        # a PySpark worker has imported `org` as a namespace package (Spark's jars are on
        # its sys.path), which hides JPype's `org.jpmml` import: the users' workaround
        import jpype.imports  # noqa: F401 - registers JPype's importer (last on meta_path)

        sys.modules.pop("org", None)
        finder = [f for f in sys.meta_path if type(f).__name__ == "_JImportLoader"]
        for f in finder:
            sys.meta_path.remove(f)
            sys.meta_path.insert(0, f)
        from jpmml_evaluator import make_evaluator

        evaluator = make_evaluator(path).verify()
        for frame in frames:
            frame = frame.astype({c: object for c in CATEGORICAL})
            yield evaluator.evaluateAll(frame)[names]
    return run


def _plan(contender: str, spark: Any, data: Path, pmml: Path, native: Any) -> Any:
    import pmmlkit
    import pmmlkit.spark

    frame = spark.read.parquet(str(data))
    if contender == "pmmlkit":
        return pmmlkit.spark.score(frame, str(pmml), keep=[])
    if contender == "hand-written":
        schema = pmmlkit.read_schema(pmml.read_bytes())
        names = [c.name for c in schema.columns if c.kind == "probability"]
        out = ", ".join(f"`{n}` double" for n in names)
        return frame.select(*FEATURES).mapInPandas(_handwritten(str(pmml), names), out)
    return native.transform(frame).select("prediction", "probability")


def _job(plan: Any) -> float:
    start = time.perf_counter()
    plan.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def run(rows: int, models: list[str], warm_runs: int) -> list[dict[str, Any]]:
    data = _data(rows)
    os.environ["PMMLKIT_CACHE_DIR"] = str(COMPILED)
    results = []
    spark = _session("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    gbt_pmml, _ = _spark_gbt(spark)
    _stop(spark)
    pmml_of = {"gbt": gbt_pmml, "gbm": benchmark_models()["gbm"]}
    for model in models:
        contenders = ["pmmlkit", "hand-written"] + (["spark"] if model == "gbt" else [])
        shutil.rmtree(COMPILED, ignore_errors=True)  # pmmlkit's first session: empty cache
        for contender in contenders:
            for master in ("local[2]", "local[1]") + (("local[2]",) if contender == "pmmlkit"
                                                      else ()):
                spark = _session(master)
                native = None
                if contender == "spark":
                    from pyspark.ml import PipelineModel

                    native = PipelineModel.load(str(CACHE / "spark-gbt-model"))
                cache = "empty" if contender == "pmmlkit" and not any(
                    COMPILED.glob("compiled/*.jar")) else "filled"
                with _Peak() as peak:
                    times = [_job(_plan(contender, spark, data, pmml_of[model], native))
                             for _ in range(1 + warm_runs)]
                _stop(spark)
                warm = min(times[1:])
                row = {"model": model, "contender": contender, "master": master,
                       "compiled_cache": cache if contender == "pmmlkit" else "",
                       "first_s": round(times[0], 2), "warm_s": round(warm, 2),
                       "first_over_warm": round(times[0] / warm, 2),
                       "warm_rows_per_s": round(rows / warm),
                       "peak_rss_mb": round(peak.peak / 2**20)}
                results.append(row)
                print(json.dumps(row), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", default="gbt,gbm")
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.rows, args.models.split(","), args.warm_runs)
    print(f"\n{'model':5} {'contender':13} {'master':9} {'cache':7} {'first s':>8} "
          f"{'warm s':>7} {'first/warm':>10} {'warm rows/s':>12} {'peak MB':>8}")
    for r in results:
        print(f"{r['model']:5} {r['contender']:13} {r['master']:9} {r['compiled_cache']:7} "
              f"{r['first_s']:8.2f} {r['warm_s']:7.2f} {r['first_over_warm']:10.2f} "
              f"{r['warm_rows_per_s']:12,} {r['peak_rss_mb']:8,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Starting the Spark sessions pmmlkit itself starts (export, ``score --spark``, the demo).

A command's output is for people. Spark's driver JVM, left to itself, writes its log4j start-up
banner, WARN lines about the host name and native Hadoop, a console progress bar, JPMML-SparkML's
stack traces for the optional converters it probes (XGBoost, LightGBM classes that are not on
the classpath), netlib's ``dlopen(libblas.so.3) failed`` and the JDK's ``Using incubator
modules`` line. The rules here:

- the driver logs through ``spark-log4j2.properties`` at ERROR (a session the user started
  keeps the user's logging; ``spark.driver.extraJavaOptions`` given in ``conf`` naming its
  own ``log4j2.configurationFile`` wins);
- no console progress bar;
- netlib's BLAS is its Java implementation (``dev.ludovic.netlib.blas.allowNative=false``):
  no native library is probed, and the numbers are those Spark computes without one;
- the driver's stderr passes through a filter that drops exactly the lines in ``_NOISE``
  (the JDK writes the incubator warning before any option could silence it); every other
  line reaches this process's stderr unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from importlib import resources
from typing import Any, BinaryIO

# pyspark 4.2 warns that it "does not yet fully support pandas >= 3" on every toPandas and
# Arrow UDF; the conversions pmmlkit does (numbers and strings) are exact, and tested. One
# filter, added once (a catch_warnings block would swap the process-wide filters under other
# threads).
warnings.filterwarnings("ignore", message=".*does not yet fully support pandas.*")

#: stderr lines of the driver JVM that say nothing to a user of pmmlkit
_NOISE = (b"WARNING: Using incubator modules: jdk.incubator.vector",)


def log4j_file() -> str:
    return str(resources.files("pmmlkit") / "jars" / "spark-log4j2.properties")


def driver_options(conf: dict[str, str]) -> str:
    """``spark.driver.extraJavaOptions`` with pmmlkit's logging and BLAS rules added."""
    given = conf.get("spark.driver.extraJavaOptions", "")
    options = [given] if given else []
    if "log4j2.configurationFile" not in given:
        options.append(f"-Dlog4j2.configurationFile=file:{log4j_file()}")
    if "dev.ludovic.netlib.blas.allowNative" not in given:
        options.append("-Ddev.ludovic.netlib.blas.allowNative=false")
    return " ".join(options)


def _forward(stream: BinaryIO) -> None:
    """Copy the driver's stderr to ours, line by line, without the noise. Never raises: a
    reader that stopped would leave the JVM blocked on a full pipe."""
    try:
        for line in iter(stream.readline, b""):
            if line.rstrip(b"\r\n") in _NOISE:
                continue
            try:
                out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
                if out is not None:
                    out.write(line)
                    out.flush()
                else:
                    sys.stderr.write(line.decode("utf-8", "replace"))
                    sys.stderr.flush()
            except (OSError, ValueError):  # our stderr closed: keep draining the pipe
                pass
    except (OSError, ValueError):
        pass


def start(master: str, app_name: str, conf: dict[str, str]) -> Any:
    """A new SparkSession on ``master`` under the rules above (the caller has checked that
    none is active). Python workers run this interpreter, so they import the same pmmlkit."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    # pyspark takes the workers' interpreter from PYSPARK_PYTHON (default: python3 on PATH,
    # which may lack pmmlkit); the setting travels with each task, to cluster executors too
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {"spark.ui.showConsoleProgress": "false", **conf,
                "spark.driver.extraJavaOptions": driver_options(conf)}
    spark_conf = SparkConf().setMaster(master).setAppName(app_name)
    for key, value in settings.items():
        spark_conf.set(key, value)
    gateway = launch_gateway(spark_conf, popen_kwargs={"stderr": subprocess.PIPE})
    threading.Thread(target=_forward, args=(gateway.proc.stderr,), daemon=True,
                     name="pmmlkit-spark-stderr").start()
    context = SparkContext(conf=spark_conf, gateway=gateway)
    context.setLogLevel("ERROR")
    return SparkSession.builder.getOrCreate()  # on the context just started

"""pmmlkit's one in-process JVM (JPype), shared by both backends.

JPype can start a single JVM per process and cannot change its classpath afterwards, and
pypmml and jpmml_evaluator would each try to start their own. pmmlkit starts it once, lazily,
with the bridge jar, JPMML-Evaluator's jars and PMML4S's jars, and the heap options of
``PMMLKIT_JAVA_OPTS`` (default ``-Xmx1g``).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import threading
from pathlib import Path
from typing import Any

from pmmlkit.errors import ConfigurationError, JavaError

#: -XX:-DontCompileHugeMethods lets the JIT compile the large methods JPMML-Transpiler emits
#: for tree ensembles (measured: 2-3x on a 100-tree GBM batch); the throughput collector beats
#: G1 on scoring's short-lived garbage (measured: 1M-row CSV job 6.7 s -> 5.5 s).
DEFAULT_JAVA_OPTS = "-Xmx1g -Xss4m -XX:-DontCompileHugeMethods -XX:+UseParallelGC"
MIN_JAVA = 11
BRIDGE_JAR = Path(__file__).resolve().parents[2] / "jars" / "pmmlkit-bridge.jar"
_lock = threading.Lock()


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def dependency_classpath() -> list[str]:
    """The jars of JPMML-Evaluator (jpmml_evaluator) and PMML4S (pypmml), as installed."""
    jars: list[str] = []
    for package, folders in (("jpmml_evaluator", ("resources", "dependencies")),
                             ("pypmml", ("jars",))):
        root = _package_dir(package)
        if root is None:
            continue
        for folder in folders:
            jars.extend(sorted(str(p) for p in (root / folder).glob("*.jar")))
    return jars


def classpath() -> list[str]:
    return [str(BRIDGE_JAR), *dependency_classpath()]


def java_opts() -> list[str]:
    """JVM options from ``PMMLKIT_JAVA_OPTS`` (a shell-quoted string) or the default."""
    text = os.environ.get("PMMLKIT_JAVA_OPTS", DEFAULT_JAVA_OPTS)
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ConfigurationError(f"PMMLKIT_JAVA_OPTS={text!r} cannot be split into options: "
                                 f"{exc} (quote it as in a shell)") from exc


def ensure_jvm() -> Any:
    """Start the JVM if needed and return the ``jpype`` module, ready to import Java classes."""
    import jpype

    with _lock:
        if not jpype.isJVMStarted():
            jvm_path = _jvm_path(jpype)
            try:
                # -Xrs and interrupt=False: Ctrl-C stays Python's KeyboardInterrupt, so a
                # job cleans up its temporary files (the JVM's own handler would exit at once)
                jpype.startJVM(jvm_path, "-Xrs", *java_opts(), classpath=classpath(),
                               convertStrings=False, interrupt=False)
            except Exception as exc:
                raise JavaError(f"the JVM at {jvm_path} could not start with options "
                                f"{java_opts()}: {exc}. Check PMMLKIT_JAVA_OPTS.") from exc
            _check_version(jpype)
        _check_bridge(jpype)
    return jpype


_INSTALL = ("Install Java 17 (for example `apt-get install openjdk-17-jre-headless`) or set "
            f"JAVA_HOME to a Java {MIN_JAVA}+ installation.")
_LIBJVM = ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so", "lib/server/libjvm.dylib",
           "bin/server/jvm.dll")


def _jvm_path(jpype: Any) -> str:
    """The JVM library: JAVA_HOME's when set (strictly), else JPype's discovery."""
    home = os.environ.get("JAVA_HOME")
    if home:
        for relative in _LIBJVM:
            candidate = Path(home) / relative
            if candidate.is_file():
                return str(candidate)
        raise JavaError(f"Java was not found: JAVA_HOME={home} contains no JVM library. "
                        + _INSTALL)
    try:
        return str(jpype.getDefaultJVMPath())
    except Exception as exc:  # JVMNotFoundException and platform errors
        raise JavaError("Java was not found: pmmlkit scores through a JVM. " + _INSTALL
                        ) from exc


def _check_version(jpype: Any) -> None:
    system = jpype.JClass("java.lang.System")
    spec = str(system.getProperty("java.specification.version"))
    major = int(spec.split(".")[-1]) if spec.startswith("1.") else int(spec.split(".")[0])
    if major < MIN_JAVA:
        raise JavaError(f"Java {spec} is too old: pmmlkit needs Java {MIN_JAVA} or newer "
                        "(Java 17 recommended). Install it and set JAVA_HOME.")


def _check_bridge(jpype: Any) -> None:
    try:
        jpype.JClass("pmmlkit.bridge.Batch")
    except Exception as exc:
        raise JavaError(
            "a JVM is already running in this process without pmmlkit's classpath (it was "
            "started by another library, e.g. jpmml_evaluator or pypmml). Load pmmlkit "
            "models before using those libraries directly, or start the JVM with "
            "pmmlkit.scorer.backends._jvm.classpath().") from exc


def java_info() -> dict[str, Any]:
    """Version facts about the running JVM (starting it if needed)."""
    jpype = ensure_jvm()
    system = jpype.JClass("java.lang.System")
    runtime = jpype.JClass("java.lang.Runtime").getRuntime()
    return {
        "version": str(system.getProperty("java.version")),
        "vendor": str(system.getProperty("java.vendor")),
        "home": str(system.getProperty("java.home")),
        "max_heap_mb": int(runtime.maxMemory()) // (1024 * 1024),
        "compiler": has_compiler(),
        "options": java_opts(),
    }


def has_compiler() -> bool:
    """True when the JVM is a JDK, which JPMML's transpiler needs."""
    jpype = ensure_jvm()
    return jpype.JClass("javax.tools.ToolProvider").getSystemJavaCompiler() is not None

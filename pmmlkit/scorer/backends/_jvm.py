"""pmmlkit's one in-process JVM (JPype), shared by both backends.

JPype can start a single JVM per process and cannot change its classpath afterwards, and
pypmml and jpmml_evaluator would each try to start their own. pmmlkit starts it once, lazily,
with the bridge jar, JPMML-Evaluator's jars and PMML4S's jars, and the heap options of
``PMMLKIT_JAVA_OPTS`` (default ``-Xmx1g``).

Start-up: the JVM maps a class-data-sharing archive of the classes pmmlkit loads (JPMML,
PMML4S, the bridge) from the cache folder when one exists for this JVM and classpath
(``jvm/``, see :func:`archive_options`). The command line writes it once, at the exit of its
first run (:func:`exit_process`); every later process, the server's and Spark workers'
included, starts 0.2-0.3 s faster with it. ``PMMLKIT_CDS=0`` turns both off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shlex
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from pmmlkit import _runtime
from pmmlkit._boundary import java
from pmmlkit.errors import ConfigurationError, JavaError

#: -XX:-DontCompileHugeMethods lets the JIT compile the large methods JPMML-Transpiler emits
#: for tree ensembles; the throughput collector suits scoring's short-lived garbage better
#: than G1 (docs/performance.md, "Defaults and what they rest on").
DEFAULT_JAVA_OPTS = "-Xmx1g -Xss4m -XX:-DontCompileHugeMethods -XX:+UseParallelGC"
MIN_JAVA = 11
BRIDGE_JAR = Path(__file__).resolve().parents[2] / "jars" / "pmmlkit-bridge.jar"
#: the JVM's own warnings go to stderr, never to stdout (the CLI may write data there), and
#: the archive's (an unusable archive is simply not used) are silenced
LOG_OPTS = ("-Xlog:disable", "-Xlog:all=warning:stderr", "-Xlog:cds*=off:stderr")
#: options of a short job, in place of the default's collector: the JIT's optimizing tier
#: (C2) does not pay back below ~100k rows and its compiler threads take the CPU the job
#: needs (30 rows: 0.2 s of 1.2 s; 100k rows through a 100-tree forest: 6.2 s instead of
#: 11.3 s, bench_start.py --jit-rows); the serial collector starts no GC threads (~0.05 s)
QUICK_START_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
_lock = threading.Lock()
_state: dict[str, Any] = {"quick_start": False, "dump": None, "archive": None}


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


def prefer_quick_start() -> None:
    """The job ahead is short: start the JVM with :data:`QUICK_START_OPTS`, unless
    ``PMMLKIT_JAVA_OPTS`` chooses the options (before the JVM starts; no effect after)."""
    _state["quick_start"] = True


def ensure_jvm() -> Any:
    """Start the JVM if needed and return the ``jpype`` module, ready to import Java classes."""
    import jpype

    with _lock:
        if not jpype.isJVMStarted():
            jvm_path = _jvm_path(jpype)
            path = classpath()
            opts = java_opts()
            if _state["quick_start"] and "PMMLKIT_JAVA_OPTS" not in os.environ:
                opts = [o for o in opts if o != "-XX:+UseParallelGC"] + list(QUICK_START_OPTS)
            options = ["-Xrs", *LOG_OPTS, *opts, *archive_options(jvm_path, path)]
            with java(f"the JVM at {jvm_path} could not start with options {java_opts()}",
                      JavaError, advice=". Check PMMLKIT_JAVA_OPTS.", jpype_errors=True):
                # -Xrs and interrupt=False: Ctrl-C stays Python's KeyboardInterrupt, so a
                # job cleans up its temporary files (the JVM's own handler would exit at once)
                jpype.startJVM(jvm_path, *options, classpath=path, convertStrings=False,
                               interrupt=False)
            if threading.current_thread() is not threading.main_thread():
                # the thread that starts a JVM is its user thread "main"; a worker thread
                # (a pool's, a server's) ends before the process does, and the JVM's
                # shutdown at exit would wait for it for ever. Made a daemon, like every
                # thread JPype attaches, it holds nothing up.
                thread = jpype.JClass("java.lang.Thread")
                thread.detach()
                thread.attachAsDaemon()
            _check_version(jpype)
        _check_bridge(jpype)
    return jpype


def _java_feature(jvm_path: str) -> int | None:
    """The Java feature release of the installation holding ``jvm_path``, from its ``release``
    file (read before starting it); None when unknown."""
    for parent in Path(jvm_path).parents:
        release = parent / "release"
        if release.is_file():
            with contextlib.suppress(OSError, ValueError, StopIteration):
                line = next(x for x in release.read_text().splitlines()
                            if x.startswith("JAVA_VERSION="))
                text = line.split("=", 1)[1].strip('"')
                return int(text.split(".")[1] if text.startswith("1.") else
                           text.split(".")[0].split("-")[0])
            return None
    return None


def archive_path(jvm_path: str, path: list[str]) -> Path | None:
    """Where the archive for this JVM, classpath and pmmlkit lives; None when CDS is off or
    cannot work here (dynamic archives need Java 13+, the JDK's base archive and a classpath
    of jar files only: anything else would stop the JVM at start)."""
    from pmmlkit.cache import cache_dir

    if os.environ.get("PMMLKIT_CDS", "1") == "0":
        return None
    if any(o.startswith(("-Xshare", "-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit"))
           for o in java_opts()):
        return None  # the user manages class data sharing
    feature = _java_feature(jvm_path)
    if feature is None or feature < 13 or not (Path(jvm_path).parent / "classes.jsa").is_file():
        return None
    import jpype

    from pmmlkit._version import __version__

    facts: list[Any] = [jvm_path, feature, __version__, getattr(jpype, "__version__", "")]
    for entry in [jvm_path, *path]:
        if not Path(entry).is_file():
            return None
        stat = Path(entry).stat()
        facts.append([entry, stat.st_size, stat.st_mtime_ns])
    key = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:24]
    return cache_dir() / "jvm" / f"classes-{key}.jsa"


def archive_options(jvm_path: str, path: list[str]) -> list[str]:
    """``-XX:SharedArchiveFile`` when the archive exists; ``-XX:ArchiveClassesAtExit`` (to a
    private name, renamed once complete) when it does not and this process was asked to
    write it; else nothing."""
    archive = archive_path(jvm_path, path)
    if archive is None:
        return []
    if archive.is_file():
        _state["archive"] = archive
        return [f"-XX:SharedArchiveFile={archive}"]
    if not _runtime.command_line:  # only the command line ends through exit_process
        return []
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []
    partial = archive.with_name(f".{archive.name}.{uuid.uuid4().hex}.tmp")
    _state["dump"] = (partial, archive)
    return [f"-XX:ArchiveClassesAtExit={partial}"]


def exit_process(code: int) -> None:
    """End a command-line process at once: the work is published and the streams flushed;
    the JVM's orderly shutdown (~0.2 s) is skipped, except when it writes the class-data
    archive (then it is completed and put in place first)."""
    import jpype

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe (`| head`) must not hide the code
            stream.flush()
    logging.shutdown()
    if not jpype.isJVMStarted():
        sys.exit(code)
    dump = _state["dump"]
    if dump is not None:
        partial, archive = dump
        with contextlib.suppress(Exception):
            jpype.shutdownJVM()  # the JVM writes the archive as it exits
        with contextlib.suppress(OSError):
            if partial.is_file() and partial.stat().st_size > 0:
                os.replace(partial, archive)
            partial.unlink(missing_ok=True)
    os._exit(code)


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
    # JVMNotFoundException and platform errors
    with java("Java was not found", JavaError, jpype_errors=True,
              advice=". pmmlkit scores through a JVM. " + _INSTALL):
        return str(jpype.getDefaultJVMPath())


def _check_version(jpype: Any) -> None:
    system = jpype.JClass("java.lang.System")
    spec = str(system.getProperty("java.specification.version"))
    major = int(spec.split(".")[-1]) if spec.startswith("1.") else int(spec.split(".")[0])
    if major < MIN_JAVA:
        raise JavaError(f"Java {spec} is too old: pmmlkit needs Java {MIN_JAVA} or newer "
                        "(Java 17 recommended). Install it and set JAVA_HOME.")


def _check_bridge(jpype: Any) -> None:
    with java("pmmlkit's bridge classes are not on the running JVM's classpath", JavaError,
              jpype_errors=True, advice=(
                  ". A JVM is already running in this process without pmmlkit's classpath (it "
                  "was started by another library, e.g. jpmml_evaluator or pypmml). Load "
                  "pmmlkit models before using those libraries directly, or start the JVM "
                  "with pmmlkit.scorer.backends._jvm.classpath().")):
        jpype.JClass("pmmlkit.bridge.Batch")


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
        #: the class-data-sharing archive this JVM was started with, if any
        "archive": str(_state["archive"]) if _state["archive"] else None,
    }


def has_compiler() -> bool:
    """True when the JVM is a JDK, which JPMML's transpiler needs."""
    jpype = ensure_jvm()
    return jpype.JClass("javax.tools.ToolProvider").getSystemJavaCompiler() is not None

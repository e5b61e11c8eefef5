"""JVM set-up, each in its own interpreter: JPype starts one JVM per process."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap

from tests.conftest import DATA


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, check=False, timeout=300)


def test_heap_option_is_applied():
    proc = _python("""
        from pmmlkit.scorer.backends import _jvm
        print(_jvm.java_info()["max_heap_mb"])
    """, PMMLKIT_JAVA_OPTS="-Xmx321m")
    assert proc.returncode == 0, proc.stderr
    assert 280 <= int(proc.stdout.strip()) <= 330  # the JVM rounds the heap a little


def test_backend_from_environment():
    proc = _python(f"""
        import pmmlkit
        print(pmmlkit.load({str(DATA / 'regression.pmml')!r}).evaluator)
    """, PMMLKIT_BACKEND="pypmml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PMML4S")


def test_missing_java_says_what_to_install(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "inspect",
                           str(DATA / "regression.pmml")], capture_output=True, text=True,
                          env={"PATH": str(tmp_path), "JAVA_HOME": str(tmp_path / "none"),
                               "HOME": str(tmp_path)}, check=False, timeout=300)
    assert proc.returncode == 4, proc.stderr
    assert "Java was not found" in proc.stderr and "openjdk-17" in proc.stderr


def test_both_evaluators_and_transpiling_share_one_jvm():
    proc = _python(f"""
        import pmmlkit
        from pmmlkit.scorer.backends._jvm import has_compiler
        a = pmmlkit.load({str(DATA / 'regression.pmml')!r}, backend="jpmml", transpile=True)
        b = pmmlkit.load({str(DATA / 'regression.pmml')!r}, backend="pypmml")
        r = {{"age": 40, "income": 2000, "color": "red"}}
        assert a.score(r) == b.score(r), (a.score(r), b.score(r))
        a.score_batch([r])  # a compiled model replaces the interpreter at a batch
        print(a.evaluator, has_compiler())
    """)
    assert proc.returncode == 0, proc.stderr
    mode, compiler = proc.stdout.split()[-2:]
    assert mode == ("(transpiled)" if compiler == "True" else "(interpreted)")


def test_foreign_jvm_without_pmmlkit_classpath_is_explained():
    proc = _python(f"""
        import jpype
        jpype.startJVM()
        import pmmlkit
        try:
            pmmlkit.load({str(DATA / 'regression.pmml')!r})
        except pmmlkit.JavaError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "already running" in proc.stdout


def _score_cli(tmp_path, cache, **env: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "in.csv"
    data.write_text("age,income,color\n40,2000,red\n20,,green\n")
    return subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(DATA / "regression.pmml"),
                           str(data), "-o", "-"], capture_output=True, text=True, check=False,
                          timeout=300, env={**os.environ, "PMMLKIT_CACHE_DIR": str(cache), **env})


def _expected_csv_scores(stdout: str) -> list[float]:
    return [float(row["score"]) for row in csv.DictReader(io.StringIO(stdout))]


def test_command_line_writes_the_class_data_archive_once_and_later_jvms_map_it(tmp_path):
    """The first `pmmlkit score` writes the JVM's class-data-sharing archive at its exit; its
    stdout stays pure CSV (the JVM's own messages never go there); the archive maps."""
    cache = tmp_path / "cache"
    by_hand = [1.5 + 0.25 * 40 + 0.001 * 2000 + 2, 1.5 + 0.25 * 20 + 0.001 * 1000 - 1]
    first = _score_cli(tmp_path, cache)
    assert first.returncode == 0, first.stderr
    assert _expected_csv_scores(first.stdout) == by_hand  # nothing but CSV on stdout
    archives = list((cache / "jvm").iterdir())
    assert [a.suffix for a in archives] == [".jsa"], archives  # complete, no partial file
    second = _score_cli(tmp_path, cache)
    assert second.returncode == 0 and _expected_csv_scores(second.stdout) == by_hand
    assert list((cache / "jvm").iterdir()) == archives
    # -Xshare:on makes the JVM refuse to start unless it maps the archive
    proc = _python(f"""
        import pmmlkit
        from pmmlkit.scorer.backends import _jvm
        model = pmmlkit.load({str(DATA / 'regression.pmml')!r})
        print(model.score({{"age": 40, "income": 2000, "color": "red"}})["score"])
    """, PMMLKIT_CACHE_DIR=str(cache),
        PMMLKIT_JAVA_OPTS=f"-Xmx256m -Xshare:on -XX:SharedArchiveFile={archives[0]}")
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == by_hand[0]
    # a library process uses the archive but never writes one
    lib = tmp_path / "lib-cache"
    proc = _python(f"""
        import pmmlkit
        from pmmlkit.scorer.backends import _jvm
        pmmlkit.load({str(DATA / 'regression.pmml')!r})
        print(_jvm.java_info()["archive"])
    """, PMMLKIT_CACHE_DIR=str(lib))
    assert proc.returncode == 0 and proc.stdout.strip() == "None", proc.stderr
    assert not (lib / "jvm").exists()


def test_class_data_sharing_can_be_turned_off(tmp_path):
    proc = _score_cli(tmp_path, tmp_path / "cache", PMMLKIT_CDS="0")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "cache" / "jvm").exists()


def test_quick_start_options_replace_the_collector_and_stop_at_c1():
    code = """
        from pmmlkit.scorer.backends import _jvm
        _jvm.prefer_quick_start()
        jpype = _jvm.ensure_jvm()
        bean = jpype.JClass("java.lang.management.ManagementFactory").getRuntimeMXBean()
        print(" ".join(str(a) for a in bean.getInputArguments()))
    """
    env = {k: v for k, v in os.environ.items() if k != "PMMLKIT_JAVA_OPTS"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.split()
    assert "-XX:TieredStopAtLevel=1" in args and "-XX:+UseSerialGC" in args
    assert "-XX:+UseParallelGC" not in args
    # the user's PMMLKIT_JAVA_OPTS is taken as given
    proc = _python(code, PMMLKIT_JAVA_OPTS="-Xmx300m -XX:+UseParallelGC")
    assert proc.returncode == 0, proc.stderr
    assert "-XX:TieredStopAtLevel=1" not in proc.stdout.split()
    assert "-XX:+UseParallelGC" in proc.stdout.split()


def test_short_jobs_are_recognised_by_input_size(tmp_path):
    from pmmlkit.jobs import SMALL_INPUT_BYTES
    from pmmlkit.jobs import is_short_job as _is_small

    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text("a\n1\n")
    with open(large, "wb") as f:
        f.truncate(SMALL_INPUT_BYTES)
    assert _is_small(str(small)) and not _is_small(str(large))
    assert not _is_small("-") and not _is_small("s3://bucket/x.csv")
    assert not _is_small(str(tmp_path / "missing.csv"))

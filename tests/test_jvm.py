"""JVM set-up, each in its own interpreter: JPype starts one JVM per process."""

from __future__ import annotations

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

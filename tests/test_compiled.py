"""Compiled (transpiled) models: off the scoring path, cached on disk, never a different number."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

import pmmlkit
from pmmlkit.scorer.backends import _compiled, _jars
from tests import _raw, spec_zoo
from tests.conftest import jdk


def test_scoring_starts_before_compilation_and_the_compiled_model_is_cached(compiled_cache,
                                                                          monkeypatch):
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "auto")  # the default (the suite sets "off")
    doc = spec_zoo.mining_average("integer")
    _compiled.clear_cache()
    started = time.perf_counter()
    model = pmmlkit.load(doc.data, verify=False)
    first = model.score_batch(doc.records)  # the interpreter scores while javac runs
    assert model.evaluator.endswith("(interpreted)")
    assert time.perf_counter() - started < 5
    if not jdk():
        assert not model.wait_compiled()
        return
    assert model.wait_compiled()
    again = model.score_batch(doc.records)
    assert model.evaluator.endswith("(transpiled)")
    assert again.equals(first)
    jars = list((compiled_cache / "compiled").glob("*.jar"))
    assert len(jars) == 1
    written = jars[0].stat().st_mtime_ns
    # a second load of the same PMML reuses the jar: no compiling, nothing rewritten
    second = pmmlkit.load(doc.data, verify=False)
    assert second.wait_compiled(timeout=10)
    assert jars[0].stat().st_mtime_ns == written
    assert second.score_batch(doc.records).equals(first)
    assert second.evaluator.endswith("(transpiled)")
    assert _compiled.clear_cache() == 1


@pytest.mark.skipif(not jdk(), reason="the transpiler needs a JDK; on a JRE nothing compiles")
def test_a_compiled_model_that_disagrees_with_the_interpreter_is_never_used(monkeypatch):
    """JPMML-Transpiler predicts the distribution's mode where the spec (and the interpreter)
    take the node's score: the gate catches it and the interpreter keeps scoring."""
    doc = spec_zoo.tree("none", "string")
    model = pmmlkit.load(doc.data, verify=False, transpile=True)
    with pytest.warns(UserWarning, match=r"disagrees with the interpreter \(output 0, row 4"):
        out = model.score_batch(doc.records)
    assert model.evaluator.endswith("(interpreted)")
    raw = _raw.jpmml(doc.xml, doc.records)
    assert out["y"].tolist() == [r["y"] for r in raw]
    # remembered: the jar is gone and a later load neither uses it nor warns again
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "background")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pmmlkit.load(doc.data, verify=False, transpile=None)
        assert again.score_batch(doc.records)["y"].tolist() == out["y"].tolist()
    assert again.evaluator.endswith("(interpreted)")


def test_a_failed_compilation_warns_once_and_the_interpreter_scores(monkeypatch):
    doc = spec_zoo.tree("defaultChild", "double")
    monkeypatch.setenv("PMMLKIT_CACHE_DIR", "/proc/no-such-folder")  # unwritable cache
    if not jdk():
        return
    with pytest.warns(UserWarning, match="could not transpile"):
        model = pmmlkit.load(doc.data, verify=False, transpile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model.score_batch(doc.records)
    assert out["error"].isna().sum() > 0 and model.evaluator.endswith("(interpreted)")


def test_transpile_setting_chooses_what_compiles(monkeypatch):
    linear, ensemble = spec_zoo.regression_softmax("string"), spec_zoo.mining_average("string")
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "auto")
    assert not pmmlkit.load(linear.data, verify=False).wait_compiled(timeout=0)
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "off")
    assert not pmmlkit.load(ensemble.data, verify=False).wait_compiled(timeout=0)
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "on")
    model = pmmlkit.load(linear.data, verify=False)
    model.score_batch(linear.records)
    assert model.evaluator.endswith("(transpiled)" if jdk() else "(interpreted)")
    monkeypatch.setenv("PMMLKIT_TRANSPILE", "sometimes")
    with pytest.raises(pmmlkit.errors.ConfigurationError, match="PMMLKIT_TRANSPILE"):
        pmmlkit.load(linear.data, verify=False)


def test_bad_compile_timeout_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("PMMLKIT_COMPILE_TIMEOUT", "soon")
    with pytest.raises(pmmlkit.errors.ConfigurationError, match="PMMLKIT_COMPILE_TIMEOUT"):
        pmmlkit.load(spec_zoo.mining_average("string").data, verify=False, transpile=True)


@pytest.mark.skipif(not jdk(), reason="the transpiler needs a JDK; on a JRE nothing compiles")
def test_the_same_model_compiles_again_after_the_cache_is_cleared():
    """A JVM cannot define a class twice nor re-read a jar rewritten under a name it opened:
    each compilation has its own class and jar names."""
    doc = spec_zoo.mining_average("double")
    expected = _raw.jpmml(doc.xml, doc.records)
    for _ in range(2):
        _compiled.clear_cache()
        model = pmmlkit.load(doc.data, verify=False, transpile=True)
        out = model.score_batch(doc.records)
        assert model.evaluator.endswith("(transpiled)")
        assert out["y"].tolist() == [r["y"] for r in expected]


@pytest.mark.skipif(not jdk(), reason="the transpiler needs a JDK; on a JRE nothing compiles")
def test_a_short_job_leaves_the_compile_to_a_worker_and_later_jobs_start_from_the_jar(tmp_path,
                                                                                       monkeypatch):
    """Process 1 scores with the interpreter and exits while a worker process compiles;
    process 2 checks the jar against the interpreter on its rows and marks it verified;
    process 3 starts from the verified jar without parsing the PMML."""
    import hashlib
    import json
    import os
    import subprocess
    import sys

    doc = spec_zoo.mining_average("string")
    path = tmp_path / "model.pmml"
    path.write_bytes(doc.data)
    env = {**os.environ, "PMMLKIT_CACHE_DIR": str(tmp_path / "cache"), "PMMLKIT_TRANSPILE": "auto"}
    script = ("import json, sys, pmmlkit; m = pmmlkit.load(sys.argv[1], verify=False); "
              "before = m.evaluator; out = m.score_batch(json.loads(sys.argv[2])); "
              "print(json.dumps([before, m.evaluator, out['y'].tolist()]))")

    def job() -> list:
        proc = subprocess.run([sys.executable, "-c", script, str(path), json.dumps(doc.records)],
                              env=env, capture_output=True, check=True, timeout=120)
        return json.loads(proc.stdout.decode().splitlines()[-1])

    expected = [r["y"] for r in _raw.jpmml(doc.xml, doc.records)]
    first = job()
    assert first[0].endswith("(interpreted)") and first[2] == expected
    jars = tmp_path / "cache" / "compiled"
    deadline = time.monotonic() + 120
    while not list(jars.glob("*.jar")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(jars.glob("*.jar"))) == 1, list(jars.iterdir())
    second = job()
    assert second[0].endswith("(interpreted)") and second[1].endswith("(transpiled)")
    assert second[2] == expected
    from pmmlkit.scorer.backends import _jars

    # the jar is marked verified (the cache's marks, as the next process reads them)
    monkeypatch.setenv("PMMLKIT_CACHE_DIR", str(tmp_path / "cache"))
    assert _jars.verified_jar(hashlib.sha256(doc.data).hexdigest()) == \
        next(jars.glob("*.jar"))
    third = job()
    assert third[0].endswith("(transpiled)") and third[2] == expected
    assert not list(jars.glob("*.lock"))


@pytest.mark.skipif(not jdk(), reason="the transpiler needs a JDK; on a JRE nothing compiles")
def test_a_compile_that_fails_is_remembered_and_not_retried(tmp_path):
    import os
    import subprocess
    import sys

    doc = spec_zoo.mining_vote("majorityVote", "string")  # JPMML-Transpiler refuses it
    path = tmp_path / "model.pmml"
    path.write_bytes(doc.data)
    env = {**os.environ, "PMMLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "PMMLKIT_TRANSPILE": "background"}
    script = ("import sys, pmmlkit; m = pmmlkit.load(sys.argv[1], verify=False); "
              "m.wait_compiled(); m.score_batch([{'x1': 1.0, 'x2': 0.0, 'c': 'red'}]); "
              "print(m.evaluator)")
    first = subprocess.run([sys.executable, "-c", script, str(path)], env=env,
                           capture_output=True, text=True, check=True, timeout=180)
    assert "could not transpile" in first.stderr and first.stdout.strip().endswith("(interpreted)")
    folder = tmp_path / "cache" / "compiled"
    assert len(list(folder.glob("*.failed"))) == 1 and not list(folder.glob("*.lock"))
    second = subprocess.run([sys.executable, "-c", script, str(path)], env=env,
                            capture_output=True, text=True, check=True, timeout=180)
    assert "transpile" not in second.stderr  # known failure: no retry, no second warning
    assert second.stdout.strip().endswith("(interpreted)") and not list(folder.glob("*.lock"))


def _compile_workers(cache: Path) -> tuple[int, int]:
    """(compile workers of the cache folder ``cache`` alive, those running a JVM), as the OS
    sees them (other tests' workers use other cache folders)."""
    import os

    alive = jvms = 0
    mine = f"PMMLKIT_CACHE_DIR={cache}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"pmmlkit.scorer.backends._compile_worker" not in fh.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if mine not in fh.read().split(b"\0"):
                    continue
            alive += 1
            with open(f"/proc/{pid}/maps") as fh:
                jvms += "libjvm.so" in fh.read()
        except OSError:
            continue
    return alive, jvms


@pytest.mark.skipif(not jdk(), reason="the transpiler needs a JDK; on a JRE nothing compiles")
def test_compiles_are_bounded_per_machine_across_processes(tmp_path):
    """PMMLKIT_COMPILE_JOBS=1, two processes loading a model each: the compile workers
    wait, one at a time runs a JVM, and every model ends compiled."""
    import os
    import subprocess
    import sys

    docs = [spec_zoo.mining_average("integer"), spec_zoo.mining_vote("majorityVote", "integer")]
    paths = []
    for i, doc in enumerate(docs):
        paths.append(tmp_path / f"m{i}.pmml")
        paths[-1].write_bytes(doc.data)
    env = {**os.environ, "PMMLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "PMMLKIT_TRANSPILE": "background", "PMMLKIT_COMPILE_JOBS": "1"}
    script = ("import sys, pmmlkit\n"
              "for p in sys.argv[1:]: pmmlkit.load(p, verify=False)\n")
    jobs = [subprocess.Popen([sys.executable, "-c", script, str(path)], env=env)
            for path in paths]
    most_alive = most_jvms = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        alive, jvms = _compile_workers(tmp_path / "cache")
        most_alive, most_jvms = max(most_alive, alive), max(most_jvms, jvms)
        if alive == 0 and all(j.poll() is not None for j in jobs):
            break
        time.sleep(0.05)
    assert [j.wait(timeout=60) for j in jobs] == [0] * len(paths)
    assert most_alive >= 2 and most_jvms == 1, (most_alive, most_jvms)
    folder = tmp_path / "cache" / "compiled"
    jars, failed = list(folder.glob("*.jar")), list(folder.glob("*.failed"))
    assert len(jars) + len(failed) == len(docs) and len(jars) >= 1, sorted(
        p.name for p in folder.iterdir())
    assert not list(folder.glob("*.lock")) and not list(folder.glob("*.running"))


def test_compile_jobs_setting(monkeypatch):
    import os

    monkeypatch.delenv("PMMLKIT_COMPILE_JOBS", raising=False)
    assert _jars.compile_jobs() == max(1, (os.cpu_count() or 2) - 1)
    monkeypatch.setenv("PMMLKIT_COMPILE_JOBS", "3")
    assert _jars.compile_jobs() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("PMMLKIT_COMPILE_JOBS", bad)
        with pytest.raises(pmmlkit.ConfigurationError, match="PMMLKIT_COMPILE_JOBS"):
            _jars.compile_jobs()

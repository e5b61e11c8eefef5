"""Compiled (transpiled) models: off the scoring path, cached on disk, never a different number."""

from __future__ import annotations

import time
import warnings

import pytest

import pmmlkit
from pmmlkit.scorer.backends import _compiled
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
def test_a_short_job_leaves_the_compile_to_a_worker_and_later_jobs_start_from_the_jar(tmp_path):
    """Process 1 scores with the interpreter and exits while a worker process compiles;
    process 2 checks the jar against the interpreter on its rows and marks it verified;
    process 3 starts from the verified jar without parsing the PMML."""
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
    assert second[2] == expected and len(list(jars.glob("*.jar.verified"))) == 1
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

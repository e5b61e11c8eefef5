"""Compiled (transpiled) models: off the scoring path, cached on disk, never a different number."""

from __future__ import annotations

import time
import warnings

import pytest

import pmmlkit
from pmmlkit.scorer.backends import _compiled
from tests import _raw, spec_zoo
from tests.conftest import jdk


def test_scoring_starts_before_compilation_and_the_compiled_model_is_cached(compiled_cache):
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
def test_a_compiled_model_that_disagrees_with_the_interpreter_is_never_used():
    """JPMML-Transpiler predicts the distribution's mode where the spec (and the interpreter)
    take the node's score: the gate catches it and the interpreter keeps scoring."""
    doc = spec_zoo.tree("none", "string")
    model = pmmlkit.load(doc.data, verify=False, transpile=True)
    with pytest.warns(UserWarning, match=r"disagrees with the interpreter \(output 0, row 4"):
        out = model.score_batch(doc.records)
    assert model.evaluator.endswith("(interpreted)")
    raw = _raw.jpmml(doc.xml, doc.records)
    assert out["y"].tolist() == [r["y"] for r in raw]


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

"""The on-disk cache of parsed documents and passed verifications (pmmlkit.cache)."""

from __future__ import annotations

import numpy as np
import pytest

import pmmlkit
from pmmlkit import cache
from pmmlkit.datasets import FEATURES
from pmmlkit.scorer.backends import _parsed


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PMMLKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def parsed_loads(monkeypatch):
    """Records whether each JPMML load was served from the parsed-document cache (a spy:
    the real function runs)."""
    served: list[bool] = []
    real = _parsed.load

    def spy(jpype, sha256):
        evaluator = real(jpype, sha256)
        served.append(evaluator is not None)
        return evaluator

    monkeypatch.setattr(_parsed, "load", spy)
    return served


def test_parsed_document_is_reused_and_scores_like_scikit_learn(fresh_cache, parsed_loads,
                                                                 exported, holdout):
    item = exported["gbm"]
    rows = holdout[FEATURES].iloc[:300]
    native = item.native(rows)["probability(1)"]
    for _ in range(2):
        scored = pmmlkit.load(item.path, backend="jpmml", transpile=False).score_batch(rows)
        assert np.max(np.abs(scored["probability(1)"] - native)) <= 1e-9
    assert parsed_loads == [False, True]
    assert len(list((fresh_cache / "parsed").glob("*.ser"))) == 1


def test_a_damaged_or_foreign_entry_is_never_used(fresh_cache, parsed_loads, exported, holdout):
    item = exported["logreg"]
    pmmlkit.load(item.path, backend="jpmml", transpile=False)
    (entry,) = (fresh_cache / "parsed").glob("*.ser")
    # a Java-serialized object of a class outside the allow-list (java.io.File)
    from pmmlkit.scorer.backends._jvm import ensure_jvm

    jpype = ensure_jvm()
    foreign = bytes(jpype.JClass("pmmlkit.bridge.Serial").write(
        jpype.JClass("java.io.File")("/etc/passwd")))
    with pytest.raises(jpype.JException, match="REJECTED"):  # never instantiated
        jpype.JClass("pmmlkit.bridge.Serial").read(jpype.JArray(jpype.JByte)(foreign))
    for content in (b"not java serialization", foreign):
        entry.write_bytes(content)
        model = pmmlkit.load(item.path, backend="jpmml", transpile=False)
        rows = holdout[FEATURES].iloc[:50]
        got = model.score_batch(rows)["probability(1)"]
        assert np.max(np.abs(got - item.native(rows)["probability(1)"])) <= 1e-9
        assert entry.read_bytes() not in (content,)  # replaced by a good entry
    assert parsed_loads == [False, False, False]


def test_a_passed_verification_is_not_replayed(fresh_cache, exported, monkeypatch):
    item = exported["tree"]
    replays = []
    real = pmmlkit.Model.verify

    def spy(self):
        report = real(self)
        replays.append(report.passed)
        return report

    monkeypatch.setattr(pmmlkit.Model, "verify", spy)
    first = pmmlkit.load(item.path, backend="jpmml", transpile=False)
    pmmlkit.load(item.path, backend="jpmml", transpile=False)
    assert replays == [True]
    assert cache.is_verified(first.sha256, first.evaluator)
    pmmlkit.load(item.path, backend="pypmml")  # another evaluator verifies for itself
    assert replays == [True, True]
    # nothing was compiled (transpile=False): clear() counts compiled models, and forgets
    # the verifications
    assert not list(fresh_cache.rglob("*.jar"))
    assert cache.clear() == 0 and not fresh_cache.exists()
    assert not cache.is_verified(first.sha256, first.evaluator)


def _every_schema():
    from pmmlkit.schema import read_schema
    from tests import spec_zoo

    docs = [(d.name, d.data) for d in spec_zoo.catalogue()]
    return [(name, read_schema(data)) for name, data in docs if b"AssociationModel" not in data]


def test_the_schema_round_trips_through_its_cache_form_exactly():
    import json

    from pmmlkit.schema import schema_from_dict, schema_to_dict

    schemas = _every_schema()
    assert len(schemas) > 40
    for name, schema in schemas:
        again = schema_from_dict(json.loads(json.dumps(schema_to_dict(schema))))
        assert again == schema, name
        assert again.verification == schema.verification, name


def test_a_cached_schema_is_read_without_parsing_and_a_damaged_one_is_replaced(
        fresh_cache, exported, monkeypatch):
    import hashlib

    from pmmlkit.schema import reading as schema_module

    data = exported["gbm"].path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    first = pmmlkit.load(data, verify=False, transpile=False).schema
    assert first.verification is not None and first.verification.rows  # records kept in full
    parses: list[str] = []
    real = schema_module.read_schema
    monkeypatch.setattr(schema_module, "read_schema",
                        lambda d, source="<bytes>": parses.append(source) or real(d, source=source))
    assert schema_module.cached_schema(data, sha) == first
    assert parses == []  # served by the cache
    entry = next((fresh_cache / "schema").iterdir())
    entry.write_text('{"model_element": "TreeModel"')  # truncated
    assert schema_module.cached_schema(data, sha, source="m.pmml") == first
    assert parses == ["m.pmml"]
    assert schema_module.cached_schema(data, sha) == first and parses == ["m.pmml"]  # rewritten

"""Loading: safe XML, clear errors for broken files, verification records."""

from __future__ import annotations

import pytest

import pmmlkit
from tests.conftest import DATA, jdk

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&xxe;"/></PMML>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<PMML version="4.4"><Header description="&lol2;"/></PMML>"""


@pytest.mark.parametrize("backend", ["jpmml", "pypmml"])
@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "entity-expansion"])
def test_doctype_and_entities_are_refused(tmp_path, payload, backend):
    path = tmp_path / "evil.pmml"
    path.write_bytes(payload)
    with pytest.raises(pmmlkit.UnsafeDocumentError, match=r"DOCTYPE.*XXE") as info:
        pmmlkit.load(path, backend=backend)
    assert str(path) in str(info.value)
    assert isinstance(info.value, pmmlkit.ModelLoadError)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<PMML xmlns='http://www.dmg.org/PMML-4_4' version='4.4'><DataDictionary>", "truncated"),
    (b"this is not xml", "not well-formed"),
    (b"<html><body/></html>", "not a PMML document"),
    (b"<PMML version='4.4'><Header/><DataDictionary/></PMML>", "no supported model element"),
])
def test_broken_files_name_the_file_and_the_reason(tmp_path, content, reason):
    path = tmp_path / "broken.pmml"
    path.write_bytes(content)
    with pytest.raises(pmmlkit.ModelLoadError, match=reason) as info:
        pmmlkit.load(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(pmmlkit.ModelLoadError, match="no such file"):
        pmmlkit.load(tmp_path / "nope.pmml")


def test_model_type_the_evaluator_does_not_support(tmp_path):
    path = tmp_path / "sequence.pmml"
    path.write_text("""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
      <DataDictionary><DataField name="item" optype="categorical" dataType="string"/>
      </DataDictionary>
      <SequenceModel functionName="sequences" numberOfTransactions="1" maxNumberOfItemsPerTransaction="1"
        avgNumberOfItemsPerTransaction="1" numberOfTransactionGroups="1" maxNumberOfTAsPerTAGroup="1"
        avgNumberOfTAsPerTAGroup="1"><MiningSchema><MiningField name="item"/></MiningSchema>
      </SequenceModel></PMML>""")
    with pytest.raises(pmmlkit.ModelLoadError, match="cannot load the model") as info:
        pmmlkit.load(path, backend="jpmml", transpile=False)
    assert str(path) in str(info.value)


def test_load_from_bytes_and_fsspec_urls(tmp_path):
    data = (DATA / "regression.pmml").read_bytes()
    record = {"age": 40, "income": 2000, "color": "red"}
    expected = pmmlkit.load(DATA / "regression.pmml").score(record)
    assert pmmlkit.load(data).score(record) == expected
    assert pmmlkit.load(f"file://{DATA / 'regression.pmml'}").score(record) == expected
    import fsspec

    with fsspec.open("memory://models/regression.pmml", "wb") as fh:
        fh.write(data)
    assert pmmlkit.load("memory://models/regression.pmml").score(record) == expected


@pytest.mark.parametrize("backend", ["jpmml", "pypmml"])
def test_tampered_verification_record_is_reported(tmp_path, exported, backend):
    import re

    text = exported["logreg"].path.read_text()
    # change the first expected probability of the inline verification table
    match = re.search(r"<data:probability_1>([^<]+)<", text)
    assert match is not None
    tampered = text[:match.start(1)] + "0.123" + text[match.end(1):]
    path = tmp_path / "tampered.pmml"
    path.write_text(tampered)
    with pytest.raises(pmmlkit.VerificationError, match=r"record 0, field 'probability\(.\)'.*"
                                                        r"expected '0.123'.*difference"):
        pmmlkit.load(path, backend=backend)
    model = pmmlkit.load(path, backend=backend, verify=False)
    report = model.verify()
    assert not report.passed and report.failures[0].record == 0
    assert report.records == 100


def test_evaluator_reports_the_mode_it_really_uses(exported, holdout, monkeypatch):
    from pmmlkit.scorer.backends import _compiled

    monkeypatch.setenv("PMMLKIT_TRANSPILE", "auto")  # the default (the suite sets "off")
    _compiled.clear_cache()  # a fresh compilation, whatever earlier tests compiled
    model = pmmlkit.load(exported["gbm"].path)
    assert model.evaluator.endswith("(interpreted)")  # scoring starts at once, compiled later
    assert model.wait_compiled() == jdk()
    model.score_batch(holdout.iloc[:50])  # the compiled model is checked and swapped in here
    assert model.evaluator.endswith("(transpiled)" if jdk() else "(interpreted)")
    assert pmmlkit.load(exported["gbm"].path, transpile=False).evaluator.endswith("(interpreted)")
    assert pmmlkit.load(DATA / "regression.pmml").evaluator.endswith("(interpreted)")  # not a tree

"""The repository on a local folder, memory:// and a real S3 endpoint (moto server)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pmmlkit
from pmmlkit.repository import Repository, parse_ref
from tests.conftest import DATA

PMML = (DATA / "regression.pmml").read_bytes()
RECORD = {"age": 40, "income": 2000, "color": "red"}


def _roots(tmp_path: Path, bucket: str | None = None) -> list[str]:
    roots = [str(tmp_path / "models"), f"memory://{tmp_path.name}/models"]
    return roots + ([f"{bucket}/models"] if bucket else [])


@pytest.mark.parametrize("kind", ["local", "memory", "s3"])
def test_publish_resolve_and_load(tmp_path, kind, request):
    root = {"local": str(tmp_path / "models"), "memory": f"memory://{tmp_path.name}/models"}.get(
        kind) or request.getfixturevalue("bucket") + "/models"
    repo = Repository(root)
    first = repo.publish(PMML, {"note": "first"}, name="churn")
    second = repo.publish(PMML.replace(b'intercept="1.5"', b'intercept="2.5"'), {}, name="churn")
    assert (first.version, second.version) == (1, 2)
    assert repo.names() == ["churn"] and repo.versions("churn") == [1, 2]
    assert repo.latest("churn").version == 2
    assert first.manifest["sha256"] == hashlib.sha256(PMML).hexdigest()
    assert repo.get("churn", 1).manifest["note"] == "first"
    assert pmmlkit.load(f"{root}/churn").score(RECORD)["score"] == 16.5  # latest: intercept 2.5
    assert pmmlkit.load(f"{root}/churn/1").score(RECORD)["score"] == 15.5
    assert pmmlkit.load(f"{root}/churn@latest").source == f"{root}/churn/2"
    with pytest.raises(pmmlkit.ModelNotFoundError, match=r"published versions of 'churn': \[1, 2\]"):
        pmmlkit.load(f"{root}/churn/7")


def test_names_are_checked():
    repo = Repository("memory://names")
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 200, "a b"):
        with pytest.raises(pmmlkit.ConfigurationError, match="invalid model name"):
            repo.publish(PMML, {}, name=bad)
    assert parse_ref("models/churn/3") == ("models", "churn", 3)
    assert parse_ref("s3://b/models/churn@latest") == ("s3://b/models", "churn", None)


def test_half_published_version_is_invisible_and_tampering_detected(tmp_path):
    root = tmp_path / "models"
    repo = Repository(str(root))
    repo.publish(PMML, {}, name="churn")
    (root / "churn" / "2").mkdir()
    (root / "churn" / "2" / "model.pmml").write_bytes(PMML[:100])  # a writer died here
    assert repo.versions("churn") == [1]
    assert pmmlkit.load(str(root / "churn")).source.endswith("churn/1")
    assert repo.publish(PMML, {}, name="churn").version == 3  # 2 is never reused
    (root / "churn" / "1" / "model.pmml").write_bytes(PMML.replace(b"1.5", b"9.5"))
    with pytest.raises(pmmlkit.ModelLoadError, match="does not match the manifest"):
        pmmlkit.load(str(root / "churn" / "1"))


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_published_files_are_never_overwritten(tmp_path, kind):
    from pmmlkit.storage import create_exclusive, url_to_fs

    root = str(tmp_path) if kind == "local" else f"memory://{tmp_path.name}-never"
    repo = Repository(root)
    version = repo.publish(PMML, {}, name="m")
    fs, path = url_to_fs(root)
    with pytest.raises(FileExistsError):
        create_exclusive(fs, f"{path}/m/{version.version}/model.pmml", b"other")
    assert repo.read_pmml(repo.get("m", version.version)) == PMML


_PUBLISHER = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import pmmlkit
    repo = pmmlkit.Repository(sys.argv[1])
    data = open(sys.argv[2], "rb").read()
    threads, each = int(sys.argv[4]), int(sys.argv[5])
    def publish(i):
        return repo.publish(data, {"writer": sys.argv[3]}, name="race").version
    with ThreadPoolExecutor(threads) as pool:
        print(" ".join(str(v) for v in pool.map(publish, range(threads * each))))
""")


def _race(root: str, writers: int = 4, each: int = 3, threads: int = 1) -> list[int]:
    procs = [subprocess.Popen([sys.executable, "-c", _PUBLISHER, root,
                               str(DATA / "regression.pmml"), str(w), str(threads), str(each)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=os.environ.copy())
             for w in range(writers)]
    versions: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        versions += [int(v) for v in out.split()]
    return versions


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_concurrent_publishers_never_collide(tmp_path, kind, request):
    root = str(tmp_path / "models") if kind == "local" else \
        request.getfixturevalue("bucket") + "/models"
    versions = _race(root)
    assert sorted(versions) == list(range(1, 13))
    repo = Repository(root)
    assert repo.versions("race") == list(range(1, 13))
    writers = {repo.get("race", v).manifest["writer"] for v in versions}
    assert writers == {"0", "1", "2", "3"}
    for v in versions:
        pmmlkit.load(f"{root}/race/{v}")  # every version complete and checksum-valid


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_threads_in_processes_publishing_at_once_never_collide(tmp_path, kind, request):
    root = str(tmp_path / "models") if kind == "local" else \
        request.getfixturevalue("bucket") + "/threads"
    versions = _race(root, writers=2, each=3, threads=5)
    assert sorted(versions) == list(range(1, 31))
    repo = Repository(root)
    assert repo.versions("race") == list(range(1, 31))
    for v in versions:
        assert repo.read_pmml(repo.get("race", v)) == (DATA / "regression.pmml").read_bytes()
    if kind == "local":  # no temporary file is left behind
        assert not [p for p in (tmp_path / "models").rglob("*") if "tmp" in p.name]


def test_threads_publishing_to_memory_never_collide():
    from concurrent.futures import ThreadPoolExecutor

    repo = Repository("memory://threads-publish")
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda _: repo.publish(PMML, {}, name="m").version, range(40)))
    assert sorted(versions) == list(range(1, 41))


def test_version_folders_are_ascii_positive_integers(tmp_path):
    repo = Repository(str(tmp_path))
    repo.publish(PMML, {}, name="m")
    for odd in ("\u00b2", "\u0661", "0", "01", "-1", "1.0"):  # superscript two, Arabic one
        (tmp_path / "m" / odd).mkdir()
        (tmp_path / "m" / odd / "manifest.json").write_text("{}")
    assert repo.versions("m") == [1]
    assert repo.publish(PMML, {}, name="m").version == 2


def test_repository_refuses_storage_without_exclusive_create():
    with pytest.raises(pmmlkit.ConfigurationError, match="Supported: local paths, s3://"):
        Repository("ftp://127.0.0.1/models")
    with pytest.raises(pmmlkit.ConfigurationError, match="Supported: local paths"):
        Repository("nosuchprotocol://x/models")


def test_manifest_is_json_with_checksum(tmp_path):
    version = Repository(str(tmp_path)).publish(PMML, {"a": 1}, name="m")
    manifest = json.loads((tmp_path / "m" / "1" / "manifest.json").read_text())
    assert manifest == version.manifest
    assert {"name", "version", "sha256", "a"} <= set(manifest)


def test_a_version_granted_twice_is_not_overwritten(tmp_path):
    """A store whose exclusive create races can grant one claim to two publishers (seen on
    moto's S3 server under load): the second finds the version's PMML and takes the next."""

    class StaleListing(pmmlkit.Repository):
        def _claimed(self, name: str) -> list[int]:
            return []  # as a listing that does not show the other publisher's version yet

    first = pmmlkit.Repository(str(tmp_path)).publish(b"<PMML>a</PMML>", {}, name="m")
    (tmp_path / "m" / "1" / ".claim").unlink()  # the claim the other publisher got too
    second = StaleListing(str(tmp_path)).publish(b"<PMML>b</PMML>", {}, name="m")
    assert (first.version, second.version) == (1, 2)
    repository = pmmlkit.Repository(str(tmp_path))
    assert repository.read_pmml(repository.get("m", 1)) == b"<PMML>a</PMML>"
    assert repository.read_pmml(repository.get("m", 2)) == b"<PMML>b</PMML>"


def test_a_mistyped_model_name_lists_the_models_and_the_closest(tmp_path, exported):
    repo = pmmlkit.Repository(str(tmp_path))
    repo.publish(exported["logreg"].path.read_bytes(), {}, name="churn")
    repo.publish(exported["linreg"].path.read_bytes(), {}, name="spend")
    with pytest.raises(pmmlkit.ModelNotFoundError) as info:
        pmmlkit.load(f"{tmp_path}/chrun")
    message = str(info.value)
    assert "no model 'chrun'" in message and "churn, spend" in message
    assert "did you mean 'churn'?" in message
    # a file of that name is a file, not a reference
    (tmp_path / "chrun").write_bytes(exported["logreg"].path.read_bytes())
    assert pmmlkit.load(f"{tmp_path}/chrun").schema.model_element == "RegressionModel"


def test_the_repository_as_a_registry_labels_deprecation_and_deletion(tmp_path, exported, capsys):
    from pmmlkit.cli import app
    from pmmlkit.cli._common import run

    repo = pmmlkit.Repository(str(tmp_path))
    for _ in range(3):
        repo.publish(exported["logreg"].path.read_bytes(), {}, name="churn")
    ref = f"{tmp_path}/churn"
    assert run(app, ["label", f"{ref}/2", "stable"]) == 0
    assert repo.labels("churn") == {"stable": 2}
    assert pmmlkit.load(f"{ref}@stable").manifest["version"] == 2
    with pytest.raises(pmmlkit.ModelNotFoundError, match="no label 'canary'"):
        pmmlkit.load(f"{ref}@canary")
    # a labelled version can be neither deprecated nor deleted
    assert run(app, ["deprecate", f"{ref}/2"]) == 3
    assert "labels ['stable']" in capsys.readouterr().err
    assert run(app, ["deprecate", f"{ref}/3"]) == 0
    assert repo.latest("churn").version == 2  # latest passes over the deprecated 3
    assert pmmlkit.load(f"{ref}/3").manifest["version"] == 3  # still loads by number
    assert run(app, ["label", f"{ref}/3", "canary"]) == 3  # a deprecated version: no label
    assert run(app, ["delete", f"{ref}/1"]) == 3  # without --yes
    assert run(app, ["delete", f"{ref}/1", "--yes"]) == 0
    assert repo.versions("churn") == [2, 3]
    # the number of a deleted version is never published again
    again = repo.publish(exported["logreg"].path.read_bytes(), {}, name="churn")
    assert again.version == 4
    listed = {r["version"]: r for r in repo.describe()}
    assert listed[2]["labels"] == ["stable"] and listed[3]["deprecated"]
    assert run(app, ["label", f"{ref}/2", "stable", "--remove"]) == 0
    assert repo.labels("churn") == {}


def test_export_records_description_tags_metrics_and_conversion_options(tmp_path, dataset):
    from sklearn.ensemble import RandomForestClassifier

    from pmmlkit.datasets import NUMERIC

    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    model.fit(dataset[NUMERIC], dataset["churn"])
    ref = pmmlkit.export_sklearn(model, dataset[NUMERIC].iloc[:100], dataset["churn"].iloc[:100],
                                 repo=str(tmp_path), name="rf", options={"compact": False},
                                 description="the first forest", tags={"team": "growth"},
                                 metrics={"auc": 0.91})
    manifest = ref.manifest
    assert manifest["description"] == "the first forest" and manifest["tags"] == {"team": "growth"}
    assert manifest["metrics"] == {"auc": 0.91}
    assert manifest["converter"]["options"] == {"compact": False}
    # compact=False keeps sklearn2pmml's full split predicates: the document is not compacted
    compact = pmmlkit.export_sklearn(model, dataset[NUMERIC].iloc[:100],
                                     dataset["churn"].iloc[:100], repo=str(tmp_path), name="rf2")
    full_text = pmmlkit.Repository(str(tmp_path)).read_pmml(ref)
    compact_text = pmmlkit.Repository(str(tmp_path)).read_pmml(compact)
    assert full_text != compact_text and manifest["parity"]["passed"]


def test_an_unknown_url_protocol_is_the_same_error_everywhere(tmp_path):
    """A URL no filesystem serves is a configuration error (exit 3) whether it names a
    model, an input file or a repository: one translation, in storage."""
    cases = [lambda: pmmlkit.load("nosuchprotocol://bucket/model.pmml"),
             lambda: pmmlkit.score_file(str(Path(__file__).parents[1] / "models" / "half_plus_two"),
                                        "nosuchprotocol://bucket/in.csv",
                                        str(tmp_path / "out.csv")),
             lambda: Repository("nosuchprotocol://x/models")]
    for case in cases:
        with pytest.raises(pmmlkit.ConfigurationError) as caught:
            case()
        assert caught.value.exit_code == 3 and "nosuchprotocol" in str(caught.value)

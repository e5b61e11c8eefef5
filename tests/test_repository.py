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


def test_published_files_are_never_overwritten(tmp_path):
    repo = Repository(str(tmp_path))
    version = repo.publish(PMML, {}, name="m")
    with pytest.raises(FileExistsError):
        repo._create(repo._p("m", version.version, "model.pmml"), b"other")
    assert (tmp_path / "m" / "1" / "model.pmml").read_bytes() == PMML


_PUBLISHER = textwrap.dedent("""
    import sys, pmmlkit
    repo = pmmlkit.Repository(sys.argv[1])
    data = open(sys.argv[2], "rb").read()
    print(" ".join(str(repo.publish(data, {"writer": sys.argv[3]}, name="race").version)
                   for _ in range(int(sys.argv[4]))))
""")


def _race(root: str, writers: int = 4, each: int = 3) -> list[int]:
    procs = [subprocess.Popen([sys.executable, "-c", _PUBLISHER, root,
                               str(DATA / "regression.pmml"), str(w), str(each)],
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


def test_manifest_is_json_with_checksum(tmp_path):
    version = Repository(str(tmp_path)).publish(PMML, {"a": 1}, name="m")
    manifest = json.loads((tmp_path / "m" / "1" / "manifest.json").read_text())
    assert manifest == version.manifest
    assert {"name", "version", "sha256", "a"} <= set(manifest)

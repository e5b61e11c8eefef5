"""Bad inputs x commands: one clean line and an exit code, never a traceback, nothing left
behind; and the core under concurrent callers (threads scoring one model, early stops)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.cli._common import run
from pmmlkit.datasets import FEATURES, make_churn


@pytest.fixture(scope="module")
def gbm_path(exported) -> Path:
    return exported["gbm"].path


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory, holdout) -> Path:
    path = tmp_path_factory.mktemp("good") / "in.csv"
    holdout[FEATURES].iloc[:50].to_csv(path, index=False)
    return path


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*")}


# (id, how to make the case in tmp_path -> args, expected exit code, words the line must hold)
def _corrupt_parquet(tmp, gbm, good):
    bad = tmp / "in.parquet"
    bad.write_bytes(b"PAR1" + os.urandom(300))
    return ["score", str(gbm), str(bad), "-o", str(tmp / "out.csv")], [str(bad), "Parquet"]


def _corrupt_gzip(tmp, gbm, good):
    bad = tmp / "in.csv.gz"
    bad.write_bytes(gzip.compress(good.read_bytes())[:200])  # truncated
    return ["score", str(gbm), str(bad), "-o", str(tmp / "out.csv")], [str(bad), "corrupt"]


def _missing_input(tmp, gbm, good):
    return (["score", str(gbm), str(tmp / "nope.csv"), "-o", str(tmp / "out.csv")],
            ["nope.csv", "no such file"])


def _output_under_a_file(tmp, gbm, good):
    (tmp / "blocker").write_text("a file, not a folder")
    return (["score", str(gbm), str(good), "-o", str(tmp / "blocker" / "out.csv")],
            ["blocker/out.csv", "not a folder"])


def _unknown_output_type(tmp, gbm, good):
    return (["score", str(gbm), str(good), "-o", str(tmp / "out.xlsx")],
            ["out.xlsx", "unknown file type"])


def _missing_model_file(tmp, gbm, good):
    return (["export", "sklearn", str(tmp / "model.joblib"), "--sample", str(good), "--name",
             "m", "--repo", str(tmp / "repo")], ["model.joblib", "no such file"])


def _corrupt_model_file(tmp, gbm, good):
    (tmp / "model.joblib").write_bytes(os.urandom(64))
    return (["export", "sklearn", str(tmp / "model.joblib"), "--sample", str(good), "--name",
             "m", "--repo", str(tmp / "repo")], ["model.joblib", "joblib"])


def _missing_sample(tmp, gbm, good):
    import joblib
    from sklearn.dummy import DummyClassifier

    joblib.dump(DummyClassifier().fit([[0.0]], [0]), tmp / "model.joblib")
    return (["export", "sklearn", str(tmp / "model.joblib"), "--sample", str(tmp / "s.csv"),
             "--name", "m", "--repo", str(tmp / "repo")], ["s.csv", "no such file"])


def _target_not_in_sample(tmp, gbm, good):
    import joblib
    from sklearn.dummy import DummyClassifier

    joblib.dump(DummyClassifier().fit([[0.0]], [0]), tmp / "model.joblib")
    return (["export", "sklearn", str(tmp / "model.joblib"), "--sample", str(good), "--target",
             "label", "--name", "m", "--repo", str(tmp / "repo")], ["'label'", "not in the sample"])


def _missing_pmml(tmp, gbm, good):
    return ["inspect", str(tmp / "gone.pmml")], ["gone.pmml", "no such file"]


def _repository_on_ftp(tmp, gbm, good):
    return ["list", "ftp://127.0.0.1/models"], ["ftp://127.0.0.1/models", "Supported"]


CASES = [
    ("corrupt-parquet", _corrupt_parquet, 6),
    ("truncated-gzip-csv", _corrupt_gzip, 6),
    ("missing-input", _missing_input, 6),
    ("output-under-a-file", _output_under_a_file, 12),
    ("unknown-output-type", _unknown_output_type, 3),
    ("export-missing-model-file", _missing_model_file, 6),
    ("export-corrupt-model-file", _corrupt_model_file, 9),
    ("export-missing-sample", _missing_sample, 6),
    ("export-target-not-in-sample", _target_not_in_sample, 6),
    ("inspect-missing-pmml", _missing_pmml, 5),
    ("repository-without-exclusive-create", _repository_on_ftp, 3),
]


@pytest.mark.parametrize(("make", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_its_exit_code(tmp_path, gbm_path, good_csv, capfd, make,
                                                    code):
    args, words = make(tmp_path, gbm_path, good_csv)
    before = _files(tmp_path)
    assert run(app, args) == code  # a foreign exception would escape run() and fail here
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for word in words:
        assert word in err[0], (word, err[0])
    assert "Traceback" not in err[0]
    assert _files(tmp_path) == before  # no output, no temporary file, no repository


def test_bad_environment_values_are_configuration_errors(tmp_path, gbm_path, good_csv, capfd,
                                                         monkeypatch):
    monkeypatch.setenv("PMMLKIT_THREADS", "two")
    assert run(app, ["score", str(gbm_path), str(good_csv), "-o", str(tmp_path / "o.csv")]) == 3
    assert capfd.readouterr().err.strip() == "error: PMMLKIT_THREADS='two' is not a whole number"
    assert not list(tmp_path.iterdir())


def test_bad_java_options_in_a_fresh_process(tmp_path, gbm_path, good_csv):
    env = {**os.environ, "PMMLKIT_JAVA_OPTS": '-Xmx1g "-Dunclosed'}
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(gbm_path),
                           str(good_csv), "-o", str(tmp_path / "o.csv")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("error: PMMLKIT_JAVA_OPTS=") and "quote" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_a_cell_that_is_not_utf8_is_a_reject_not_the_end_of_the_job(tmp_path, gbm_path,
                                                                       holdout, exported):
    rows = holdout[FEATURES].iloc[:20].reset_index(drop=True)
    lines = rows.to_csv(index=False).encode().splitlines()
    cells = lines[4].split(b",")  # record 4
    cells[FEATURES.index("color")] = b"r\xffd"
    lines[4] = b",".join(cells)
    source = tmp_path / "in.csv"
    source.write_bytes(b"\n".join(lines) + b"\n")
    summary = pmmlkit.score_file(str(gbm_path), str(source), str(tmp_path / "out.csv"),
                                 rejects=str(tmp_path / "bad.csv"))
    assert (summary.rows_read, summary.rows_scored, summary.rows_rejected) == (20, 19, 1)
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert rejects[["row", "field"]].values.tolist() == [[4, "color"]]
    assert rejects["value"][0] == "r\\xffd" and "not UTF-8" in rejects["reason"][0]
    out = pd.read_csv(tmp_path / "out.csv")
    native = exported["gbm"].native(rows.drop(index=3))
    assert np.max(np.abs(out["probability(1)"] - native["probability(1)"])) <= 1e-9


def test_java_exceptions_are_translated_at_the_jvm_boundary():
    from pmmlkit._boundary import java
    from pmmlkit.scorer.backends._jvm import ensure_jvm

    jpype = ensure_jvm()
    with pytest.raises(pmmlkit.ScoringError, match=r"^parsing: NumberFormatException: .*'?abc") \
            as info, java("parsing"):
        jpype.JClass("java.lang.Integer").parseInt("abc")
    assert isinstance(info.value.__cause__, jpype.JException)


# -- concurrency ---------------------------------------------------------------------------
def test_many_threads_scoring_one_model_match_scikit_learn(exported, holdout):
    """score, score_batch and score_arrow with parallelism 1..5 at once on one model: each
    result equals scikit-learn's (the bridge once shut a shared pool under another call)."""
    item = exported["gbm"]
    model = pmmlkit.load(item.path)
    rows = holdout[FEATURES].iloc[:600].reset_index(drop=True)
    native = item.native(rows)["probability(1)"]

    def job(i: int) -> float:
        kind = i % 3
        if kind == 0:
            got = model.score_batch(rows)["probability(1)"].to_numpy()
        elif kind == 1:
            out = model.score_arrow(pa.Table.from_pandas(rows), parallelism=1 + i % 5)
            assert out.column("error").null_count == len(rows)
            got = out.column("probability(1)").to_numpy()
        else:
            got = np.array([model.score(r)["probability(1)"]
                            for r in rows.iloc[:40].to_dict("records")])
        return float(np.max(np.abs(got - native[:len(got)])))

    with ThreadPoolExecutor(8) as pool:
        worst = list(pool.map(job, range(30)))
    assert max(worst) <= 1e-9


def test_early_stopped_job_leaves_no_reader_thread(tmp_path, gbm_path):
    frame = make_churn(40_000, seed=9)[FEATURES]
    frame["x0"] = frame["x0"].astype(object)
    frame.loc[0, "x0"] = "bad"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(pmmlkit.TooManyRejectsError):
        pmmlkit.score_file(str(gbm_path), str(source), str(tmp_path / "out.csv"),
                           chunk_size=1000, max_rejects=0)
    assert [t.name for t in threading.enumerate() if t.name == "pmmlkit-reader"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]

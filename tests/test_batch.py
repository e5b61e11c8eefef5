"""Streaming file scoring: pmmlkit.score_file and `pmmlkit score`."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import pmmlkit
from pmmlkit.cli import app
from pmmlkit.cli._common import run
from pmmlkit.datasets import FEATURES, make_churn

runner = CliRunner()


@pytest.fixture(scope="module")
def gbm_path(exported) -> Path:
    return exported["gbm"].path


@pytest.fixture()
def table(holdout) -> pd.DataFrame:
    frame = holdout[FEATURES].copy()
    frame.insert(0, "id", [f"c{i:04d}" for i in range(len(frame))])
    frame["note"] = "ignored"
    return frame


def _write_bad_csv(frame: pd.DataFrame, path: Path) -> dict[int, str]:
    """Write ``frame`` as CSV with four bad records; return record number -> expected field."""
    lines = frame.to_csv(index=False).splitlines()
    header = lines[0].split(",")
    col = {name: header.index(name) for name in header}

    def edit(record: int, name: str, value: str) -> None:
        cells = lines[record].split(",")
        cells[col[name]] = value
        lines[record] = ",".join(cells)

    edit(3, "x0", "abc")
    lines[5] = lines[5] + ",one,too,many"
    edit(7, "color", "purple")
    edit(9, "x1", "")
    path.write_text("\n".join(lines) + "\n")
    return {3: "x0", 5: "", 7: "color", 9: "x1"}


def test_csv_to_csv_matches_scikit_learn(tmp_path, gbm_path, table, exported):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    table.to_csv(source, index=False)
    summary = pmmlkit.score_file(str(gbm_path), str(source), str(target), keep=["id"],
                                 chunk_size=128)
    assert summary.completed and summary.rows_read == len(table) == summary.rows_scored
    assert summary.rows_rejected == 0
    out = pd.read_csv(target, dtype={"id": str})
    assert list(out.columns) == ["id", "churn", "probability(0)", "probability(1)"]
    assert list(out["id"]) == list(table["id"])
    native = exported["gbm"].estimator.predict_proba(table[FEATURES])[:, 1]
    assert np.max(np.abs(out["probability(1)"].to_numpy() - native)) < 1e-9
    assert list(out["churn"]) == list(exported["gbm"].estimator.predict(table[FEATURES]))


def test_bad_rows_go_to_rejects_and_the_rest_is_scored(tmp_path, gbm_path, table):
    source = tmp_path / "bad.csv"
    expected = _write_bad_csv(table, source)
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    summary = pmmlkit.score_file(str(gbm_path), str(source), str(out), keep=["id"],
                                 rejects=str(rejects), chunk_size=4)
    assert summary.rows_read == len(table) == summary.rows_scored + summary.rows_rejected
    assert summary.rows_rejected == 4
    bad = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert list(bad.columns) == ["row", "field", "value", "reason", "id"]
    assert [int(r) for r in bad["row"]] == sorted(expected)
    assert dict(zip(bad["row"].astype(int), bad["field"], strict=True)) == expected
    by_row = bad.set_index(bad["row"].astype(int))
    assert by_row.loc[3, "value"] == "abc" and "expected a number" in by_row.loc[3, "reason"]
    assert by_row.loc[7, "value"] == "purple" and "valid values" in by_row.loc[7, "reason"]
    assert "missing" in by_row.loc[9, "reason"]
    assert "unparseable line" in by_row.loc[5, "reason"] and "one,too,many" in by_row.loc[5, "value"]
    # kept id identifies the record (record n is table row n-1)
    assert by_row.loc[7, "id"] == table["id"].iloc[6]
    scored = pd.read_csv(out, dtype={"id": str})
    rejected_ids = {table["id"].iloc[r - 1] for r in expected}
    assert list(scored["id"]) == [i for i in table["id"] if i not in rejected_ids]


def test_cli_exit_codes_and_json_summary(tmp_path, gbm_path, table):
    source = tmp_path / "bad.csv"
    _write_bad_csv(table, source)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(gbm_path), str(source), "-o", str(out), "--json",
                                 "--keep", "id"])
    assert result.exit_code == 10
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == summary["rows_scored"] + summary["rows_rejected"]
    assert summary["rows_rejected"] == 4 and out.exists()
    good = tmp_path / "good.csv"
    table.to_csv(good, index=False)
    assert run(app, ["score", str(gbm_path), str(good), "-o", str(out)]) == 3  # it exists
    assert run(app, ["score", str(gbm_path), str(good), "-o", str(out), "--overwrite"]) == 0


def test_max_rejects_stops_and_publishes_nothing(tmp_path, gbm_path, table):
    source = tmp_path / "bad.csv"
    _write_bad_csv(table, source)
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    with pytest.raises(pmmlkit.TooManyRejectsError, match="more than --max-rejects 1") as info:
        pmmlkit.score_file(str(gbm_path), str(source), str(out), rejects=str(rejects),
                           max_rejects=1, chunk_size=4)
    assert info.value.summary["rows_rejected"] == 2
    assert not out.exists() and not rejects.exists()
    assert os.listdir(tmp_path) == ["bad.csv"]  # no temporary file left behind
    code = run(app, ["score", str(gbm_path), str(source), "-o", str(out), "--max-rejects", "0"])
    assert code == 11 and not out.exists()


def test_missing_required_column_fails_before_scoring(tmp_path, gbm_path, table):
    source = tmp_path / "in.csv"
    table.drop(columns=["x1", "color"]).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    with pytest.raises(pmmlkit.InvalidInputError, match=r"inputs \['x1', 'color'\] are not among the columns"):
        pmmlkit.score_file(str(gbm_path), str(source), str(out))
    with pytest.raises(pmmlkit.InvalidInputError, match=r"kept columns \['nope'\]"):
        pmmlkit.score_file(str(gbm_path), str(source.with_name("in.csv")), str(out),
                           keep=["nope"])
    assert not out.exists()


def test_parquet_in_and_out_and_gzip(tmp_path, gbm_path, table, exported):
    expected = exported["gbm"].native(table[FEATURES])
    parquet_in = tmp_path / "in.parquet"
    table.to_parquet(parquet_in, index=False)
    parquet_out = tmp_path / "out.parquet"
    pmmlkit.score_file(str(gbm_path), str(parquet_in), str(parquet_out), keep=["id"],
                       chunk_size=100)
    got = pq.read_table(parquet_out).to_pandas()
    assert list(got["id"]) == list(table["id"])
    assert np.allclose(got["probability(1)"].to_numpy(), expected["probability(1)"], rtol=0,
                       atol=1e-9)
    kept = pq.read_table(parquet_out).schema
    assert kept.field("id").type == pq.read_schema(parquet_in).field("id").type  # as in input
    gz = tmp_path / "in.csv.gz"
    with gzip.open(gz, "wt") as fh:
        table.to_csv(fh, index=False)
    summary = pmmlkit.score_file(str(gbm_path), str(gz), str(tmp_path / "gz.parquet"))
    assert summary.rows_scored == len(table)
    assert np.allclose(pq.read_table(tmp_path / "gz.parquet").column("probability(1)").to_numpy(),
                       expected["probability(1)"], rtol=0, atol=1e-9)


def test_fsspec_urls(gbm_path, table):
    import fsspec

    with fsspec.open("memory://jobs/in.csv", "w") as fh:
        table.to_csv(fh, index=False)
    summary = pmmlkit.score_file(str(gbm_path), "memory://jobs/in.csv",
                                 "memory://jobs/out.parquet", rejects="memory://jobs/bad.csv")
    assert summary.rows_scored == len(table)
    fs = fsspec.filesystem("memory")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/jobs", detail=False)) == [
        "bad.csv", "in.csv", "out.parquet"]


def test_stdin_to_stdout(tmp_path, gbm_path, table):
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(gbm_path), "-",
                           "--keep", "id"], input=table.to_csv(index=False), text=True,
                          capture_output=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(pd.io.common.StringIO(proc.stdout), dtype={"id": str})
    assert list(out["id"]) == list(table["id"]) and len(out.columns) == 4
    assert "scored" in proc.stderr  # the summary goes to stderr when results use stdout
    assert "\x1b[" not in proc.stderr  # no progress bar when stderr is not a terminal


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    """300k rows: long enough to stop a job while it writes."""
    source = tmp_path_factory.mktemp("big") / "big.csv"
    make_churn(300_000, seed=3)[FEATURES].to_csv(source, index=False)
    return source


def _start_writing_job(tmp_path: Path, model: Path, source: Path, *target: str,
                       written: Any = None) -> subprocess.Popen[str]:
    """Start `pmmlkit score MODEL SOURCE TARGET...`; return once it is writing (its temporary
    output has data in tmp_path, or ``written()`` says so)."""
    # SIGINT as in a terminal: a test run started in the background of a non-interactive
    # shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "score", str(model),
                             str(source), *target, "--chunk-size", "2000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def writing() -> bool:
        return any(".pmmlkit-tmp-" in p.name and p.stat().st_size > 0
                   for p in tmp_path.iterdir())

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (written or writing)():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the job never started writing: {proc.communicate()[1]}")


def test_a_killed_job_leaves_no_output_and_gc_removes_its_temporary_file(tmp_path, gbm_path,
                                                                         big_csv):
    out = tmp_path / "out.csv"
    proc = _start_writing_job(tmp_path, gbm_path, big_csv, "-o", str(out))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not out.exists()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.csv.pmmlkit-tmp-")
    (tmp_path / "keep.csv").write_text("a\n1\n")
    # a leftover younger than --older-than is left alone (a running job's looks the same)
    young = runner.invoke(app, ["gc", str(tmp_path), "--json"])
    assert young.exit_code == 0 and json.loads(young.stdout)["files"] == []
    dry = runner.invoke(app, ["gc", str(tmp_path), "--older-than", "0", "--dry-run"])
    assert f"would remove {tmp_path / left[0]}" in dry.stdout and (tmp_path / left[0]).exists()
    done = runner.invoke(app, ["gc", str(tmp_path), "--older-than", "0", "--json"])
    assert done.exit_code == 0, done.stdout
    assert json.loads(done.stdout)["files"] == [str(tmp_path / left[0])]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]


def test_progress_bar_only_on_a_terminal(tmp_path, gbm_path):
    """With stderr on a pseudo-terminal, rich draws a progress line there."""
    source = tmp_path / "in.csv"
    make_churn(30_000, seed=4)[FEATURES].to_csv(source, index=False)
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "score", str(gbm_path),
                             str(source), "-o", str(tmp_path / "out.csv"), "--chunk-size",
                             "1000"], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "scoring in.csv" in terminal and "30,000" in terminal
    assert "30,000 scored" in proc.stdout.read().decode()


def test_s3_model_input_and_output(bucket, gbm_path, table):
    """Model file, input and output all on a real S3 endpoint (moto server on 127.0.0.1)."""
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{bucket}/pmml/gbm.pmml", gbm_path.read_bytes())
    fs.pipe_file(f"{bucket}/in/data.csv", table.to_csv(index=False).encode())
    summary = pmmlkit.score_file(f"{bucket}/pmml/gbm.pmml", f"{bucket}/in/data.csv",
                                 f"{bucket}/out/scored.parquet", keep=["id"])
    assert summary.rows_scored == len(table)
    assert fs.ls(f"{bucket}/out", detail=False) == [f"{bucket}/out/scored.parquet".removeprefix(
        "s3://")]  # no temporary object left behind
    with fs.open(f"{bucket}/out/scored.parquet", "rb") as fh:
        got = pq.read_table(fh).to_pandas()
    assert list(got["id"]) == list(table["id"])


def test_repository_reference_as_model(tmp_path, gbm_path, table):
    repo = pmmlkit.Repository(str(tmp_path / "models"))
    repo.publish(gbm_path.read_bytes(), {}, name="churn")
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    code = run(app, ["score", str(tmp_path / "models" / "churn"), str(source), "-o",
                     str(tmp_path / "out.csv")])
    assert code == 0
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(table)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_fully_rejected_first_chunk_keeps_one_schema(tmp_path, gbm_path, table, suffix):
    frame = table.copy()
    frame.loc[frame.index[:4], "color"] = "purple"  # the whole first chunk is rejected
    source = tmp_path / f"in.{suffix}"
    frame.to_csv(source, index=False) if suffix == "csv" else frame.to_parquet(source)
    out = tmp_path / f"out.{suffix}"
    summary = pmmlkit.score_file(str(gbm_path), str(source), str(out), keep=["id"],
                                 chunk_size=4)
    assert (summary.rows_rejected, summary.rows_scored) == (4, len(frame) - 4)
    got = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert len(got) == len(frame) - 4 and got["probability(1)"].notna().all()


@pytest.mark.parametrize("stop, code, words, output", [
    (signal.SIGINT, 130, "interrupted", "out.parquet"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)", "out.csv")])
def test_ctrl_c_and_sigterm_clean_up(tmp_path, gbm_path, big_csv, stop, code, words, output):
    out = tmp_path / output
    proc = _start_writing_job(tmp_path, gbm_path, big_csv, "-o", str(out), "--rejects",
                              str(tmp_path / "rejects.parquet"))
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert words in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert list(tmp_path.iterdir()) == []  # temporary files removed
    assert not out.exists()


def test_record_numbers_with_many_unparseable_lines(tmp_path, gbm_path, table):
    """Every third data line is malformed, across chunk boundaries: rows still number right."""
    lines = table.iloc[:60].to_csv(index=False).splitlines()
    for record in range(3, 61, 3):
        lines[record] += ",extra"
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    summary = pmmlkit.score_file(str(gbm_path), str(source), str(tmp_path / "out.csv"),
                                 keep=["id"], rejects=str(tmp_path / "bad.csv"), chunk_size=7)
    assert (summary.rows_read, summary.rows_rejected) == (60, 20)
    scored = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    # record n is table row n-1; the scored ones are the records not divisible by 3
    assert list(scored["id"]) == [table["id"].iloc[n - 1] for n in range(1, 61) if n % 3]
    bad = pd.read_csv(tmp_path / "bad.csv", dtype=str, keep_default_na=False)
    assert [int(r) for r in bad["row"]] == list(range(3, 61, 3))
    assert all(v.endswith(",extra") for v in bad["value"])


def test_usual_missing_markers_are_missing_in_inputs_and_kept_verbatim(tmp_path):
    """R, Excel and databases write N/A, NA, NULL: a model that handles missing values scores
    such rows; kept columns stay exactly as written; --na-values changes the set."""
    from tests import spec_zoo

    model_path = tmp_path / "nb.pmml"
    model_path.write_bytes(spec_zoo.naive_bayes("string").data)  # naive Bayes skips missing inputs
    source = tmp_path / "in.csv"
    source.write_text("id,x1,x2,c\nN/A,0.5,1,red\nr2,N/A,1,NULL\nr3,NA,2,green\nr4,nan,3,#N/A\n")
    out = tmp_path / "out.csv"
    summary = pmmlkit.score_file(str(model_path), str(source), str(out), keep=["id"])
    assert summary.rows_scored == 4 and summary.rows_rejected == 0
    got = pd.read_csv(out, keep_default_na=False)
    assert got["id"].tolist() == ["N/A", "r2", "r3", "r4"]
    model = pmmlkit.load(str(model_path), transpile=False)
    expected = model.score_batch([{"x1": 0.5, "x2": 1, "c": "red"},
                                  {"x1": None, "x2": 1, "c": None},
                                  {"x1": None, "x2": 2, "c": "green"},
                                  {"x1": None, "x2": 3, "c": None}])
    assert expected["error"].isna().all()
    assert np.allclose(got["probability(a)"], expected["probability(a)"], rtol=1e-12)
    strict = pmmlkit.score_file(str(model_path), str(source), str(tmp_path / "o2.csv"),
                                na_values=[])
    assert strict.rows_rejected == 3  # "N/A", "NA", "#N/A": text, neither a number nor a colour
    code = run(app, ["score", str(model_path), str(source), "-o", str(tmp_path / "o3.csv"),
                     "--na-values", "N/A,NA"])
    assert code == 10  # NULL, nan and #N/A are text again


def test_cli_options_tsv_default_output_keep_list_and_parquet_rejects(tmp_path, gbm_path, table,
                                                                       exported):
    """--keep a,b, --rejects as Parquet from the CLI, a tab-separated input and the default
    output name (INPUT.scored.tsv, tab-separated too)."""
    bad = table.copy()
    bad["x0"] = bad["x0"].astype(object)
    bad.loc[2, "x0"] = "abc"
    source = tmp_path / "in.tsv"
    bad.to_csv(source, index=False, sep="\t")
    code = run(app, ["score", str(gbm_path), str(source), "--keep", "id,note",
                     "--rejects", str(tmp_path / "bad.parquet")])
    assert code == 10
    out = pd.read_csv(tmp_path / "in.scored.tsv", sep="\t")
    assert list(out.columns[:2]) == ["id", "note"] and len(out) == len(table) - 1
    native = exported["gbm"].native(table[FEATURES].drop(index=2))
    assert np.max(np.abs(out["probability(1)"] - native["probability(1)"])) <= 1e-9
    assert out["id"].tolist() == table["id"].drop(index=2).tolist()
    rejects = pq.read_table(tmp_path / "bad.parquet").to_pandas()
    assert rejects.to_dict("records") == [{
        "row": 3, "field": "x0", "value": "abc",
        "reason": "expected a number (double), got str 'abc'", "id": "c0002",
        "note": "ignored"}]


def test_gzip_output_and_delimiter_sniffed_for_txt(tmp_path, gbm_path, table, exported):
    source = tmp_path / "in.txt"
    table.to_csv(source, index=False, sep=";")
    out = tmp_path / "out.csv.gz"
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out), "--keep", "id"]) == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip, as the name says
    got = pd.read_csv(out)
    native = exported["gbm"].native(table[FEATURES])
    assert np.max(np.abs(got["probability(1)"] - native["probability(1)"])) <= 1e-9


def test_json_summary_goes_to_stderr_when_results_go_to_stdout(tmp_path, gbm_path, table):
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(gbm_path), str(source),
                           "-o", "-", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import io

    scored = pd.read_csv(io.StringIO(proc.stdout))  # CSV only: no JSON mixed in
    assert len(scored) == len(table) and scored.columns[0] == "churn"
    assert json.loads(proc.stderr)["rows_scored"] == len(table)


def test_console_command_scores_files_without_pandas(tmp_path, gbm_path, table, exported):
    """`pmmlkit score` keeps pandas out of its process (a third of a short job's time): the
    whole file path (CSV in, Parquet out, rejects, missing markers) works without it and
    gives scikit-learn's numbers."""
    source = tmp_path / "bad.csv"
    expected = _write_bad_csv(table, source)
    text = source.read_text().splitlines()
    cells = text[11].split(",")
    cells[text[0].split(",").index("x1")] = "N/A"  # a missing marker, which the model refuses
    text[11] = ",".join(cells)
    source.write_text("\n".join(text) + "\n")
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pmmlkit", "score",
                           str(gbm_path), str(source), "-o", str(out), "--rejects",
                           str(rejects), "--keep", "id"], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 10, proc.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "pyarrow.csv" in imported  # the check sees the imports
    assert not [m for m in imported if m.startswith("pandas.")]
    bad = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert dict(zip(bad["row"].astype(int), bad["field"], strict=True)) == {**expected,
                                                                            11: "x1"}
    assert bad.set_index(bad["row"].astype(int)).loc[11, "value"] == ""
    got = pq.read_table(out).to_pandas()
    rejected_ids = {table["id"].iloc[r - 1] for r in (*expected, 11)}
    good = table[~table["id"].isin(rejected_ids)]
    assert list(got["id"]) == list(good["id"])
    native = exported["gbm"].estimator.predict_proba(good[FEATURES])[:, 1]
    assert np.max(np.abs(got["probability(1)"].to_numpy() - native)) < 1e-9
    assert list(got["churn"]) == list(exported["gbm"].estimator.predict(good[FEATURES]))


def test_the_input_is_never_written_over_and_an_existing_output_needs_overwrite(
        tmp_path, gbm_path, table, monkeypatch):
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    before = source.read_bytes()
    (tmp_path / "link.csv").symlink_to(source)
    monkeypatch.chdir(tmp_path)
    # the same file however spelled: the path, ./path, a file:// URL, a symbolic link
    for spelled in (str(source), "./in.csv", f"file://{source}", "link.csv"):
        for option in ("-o", "--rejects"):
            args = ["score", str(gbm_path), "in.csv", option, spelled, "--overwrite"]
            if option == "--rejects":
                args += ["-o", "out.csv"]
            assert run(app, args) == 3, spelled
    assert source.read_bytes() == before
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    assert run(app, ["score", str(gbm_path), "in.csv", "-o", "out.csv"]) == 3
    assert out.read_text() == "precious\n"
    assert run(app, ["score", str(gbm_path), "in.csv", "-o", "out.csv", "--overwrite"]) == 0
    assert len(pd.read_csv(out)) == len(table)
    # the default output (in.scored.csv) follows the same rule
    assert run(app, ["score", str(gbm_path), "in.csv"]) == 0
    assert run(app, ["score", str(gbm_path), "in.csv"]) == 3


def test_a_misspelled_header_fails_the_job_naming_the_closest_column(tmp_path, gbm_path, table,
                                                                     capsys):
    source = tmp_path / "in.csv"
    table.rename(columns={"x0": "X0", "color": "colour"}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out)]) == 6
    err = capsys.readouterr().err
    assert "['x0', 'color'] are not among the columns" in err
    assert "'X0' for 'x0'" in err and "'colour' for 'color'" in err
    assert not out.exists()
    # the opt-out: absent inputs scored as missing on every row (here: the rows the trees
    # need x0 or color for get no prediction, and are rejects naming them)
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out),
                     "--allow-missing-columns", "--rejects", str(tmp_path / "bad.csv")]) in (0, 10)
    assert out.exists()


def test_a_european_csv_with_semicolons_and_decimal_commas(tmp_path, gbm_path, table, exported,
                                                            capsys):
    source, out = tmp_path / "eu.csv", tmp_path / "out.csv"
    table.to_csv(source, index=False, sep=";", decimal=",")
    assert "," in source.read_text().splitlines()[1]  # decimal commas, really
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out)]) == 6
    assert "looks semicolon-separated; pass --delimiter ';'" in capsys.readouterr().err
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out), "--delimiter", ";",
                     "--decimal", ","]) == 0
    scored = pd.read_csv(out)
    native = exported["gbm"].estimator.predict_proba(table[FEATURES])[:, 1]
    assert np.max(np.abs(scored["probability(1)"].to_numpy() - native)) < 1e-9


def test_all_rows_lines_the_output_up_with_the_input(tmp_path, gbm_path, table, exported):
    source = tmp_path / "bad.csv"
    expected = _write_bad_csv(table.drop(columns=["id"]), source)  # no id column at all
    out = tmp_path / "out.csv"
    assert run(app, ["score", str(gbm_path), str(source), "-o", str(out), "--all-rows"]) == 10
    scored = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert len(scored) == len(table)  # every record, the unparseable line included
    assert list(scored.columns) == ["churn", "probability(0)", "probability(1)", "error"]
    bad = {i for i, e in enumerate(scored["error"]) if isinstance(e, str)}
    assert bad == {r - 1 for r in expected}  # record n is line n of the output
    assert "unparseable line" in scored["error"][4] and "'purple'" in scored["error"][6]
    good = [i for i in range(len(table)) if i not in bad]
    native = exported["gbm"].estimator.predict_proba(table[FEATURES].iloc[good])[:, 1]
    assert np.max(np.abs(scored["probability(1)"].iloc[good].to_numpy() - native)) < 1e-9
    assert scored.loc[list(bad), "probability(1)"].isna().all()


def test_score_batch_keeps_the_columns_asked_for(table, exported):
    model = pmmlkit.load(exported["gbm"].path)
    out = model.score_batch(table.iloc[:20], keep=["id", "note"])
    assert list(out.columns)[:2] == ["id", "note"] and list(out["id"]) == list(table["id"][:20])
    with pytest.raises(pmmlkit.InvalidInputError, match=r"kept columns \['nope'\]"):
        model.score_batch(table.iloc[:5], keep=["nope"])


def _malformed_csv(table: pd.DataFrame, path: Path) -> None:
    """Ten records; record 2 has an extra field and a byte that is not UTF-8, record 3 is a
    line of 1.5 MiB (longer than a parser block), record 4 a non-UTF-8 model input in the
    right number of fields, record 5 one in a column nobody reads (scored), record 6 a
    200,000-character category."""
    lines = table.iloc[:10].to_csv(index=False).encode().split(b"\n")
    lines[2] += b",extra\xff"
    lines[3] = lines[3].replace(b",ignored", b"," + b"n" * (3 << 19))
    lines[5] = lines[5].replace(b",ignored", b",caf\xe9")
    color = table.columns.get_loc("color")
    cells = lines[4].split(b",")
    cells[color] = b"caf\xe9"
    lines[4] = b",".join(cells)
    cells = lines[6].split(b",")
    cells[color] = b"r" * 200_000
    lines[6] = b",".join(cells)
    path.write_bytes(b"\n".join(lines))


def test_every_malformed_line_is_a_reject_with_its_line_number(tmp_path, gbm_path, table,
                                                               exported):
    source = tmp_path / "in.csv"
    _malformed_csv(table, source)
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    done = subprocess.run([sys.executable, "-m", "pmmlkit", "score", str(gbm_path),
                           str(source), "-o", str(out), "--rejects", str(rejects), "--keep",
                           "id"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 10, done.stderr  # completed, with rejects
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert max(len(line) for line in done.stderr.splitlines()) < 400  # values are cut
    assert "read 10 rows: 6 scored, 4 rejected" in done.stdout
    bad = pd.read_csv(rejects, dtype=str, keep_default_na=False).set_index("row")
    assert sorted(int(r) for r in bad.index) == [2, 3, 4, 6]
    assert f"{len(table.columns) + 1} fields where the header has {len(table.columns)}" in \
        bad.loc["2", "reason"]
    assert "not UTF-8 text (byte 0xff" in bad.loc["2", "reason"]
    size = len(source.read_bytes().split(b"\n")[3])
    assert bad.loc["3", "reason"] == (f"a line of {size:,} bytes: longer than the longest line "
                                      f"read as a record (983,040 bytes)")
    assert "not UTF-8 text (byte 0xe9" in bad.loc["4", "reason"]
    assert bad.loc["4", "field"] == "color"
    assert bad.loc["6", "field"] == "color" and bad.loc["6", "value"] == "r" * 200_000  # kept
    assert "(200,000 characters)" in bad.loc["6", "reason"] and len(bad.loc["6", "reason"]) < 400
    scored = pd.read_csv(out, dtype={"id": str})
    good = [n - 1 for n in range(1, 11) if n not in (2, 3, 4, 6)]
    assert list(scored["id"]) == list(table["id"].iloc[good])
    native = exported["gbm"].estimator.predict_proba(table[FEATURES].iloc[good])[:, 1]
    assert np.max(np.abs(scored["probability(1)"].to_numpy() - native)) < 1e-9

"""The CLI through typer's CliRunner, stdout and stderr apart, and the real console script."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from pmmlkit.cli import app
from pmmlkit.cli._common import run
from tests.conftest import DATA

runner = CliRunner()


def test_inspect_json(exported):
    result = runner.invoke(app, ["inspect", str(exported["gbm"].path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    names = [f["name"] for f in data["schema"]["inputs"]]
    assert "x0" in names and "color" in names
    assert [c["name"] for c in data["schema"]["columns"]][:1] == ["churn"]
    assert len(data["sha256"]) == 64


def test_inspect_table():
    result = runner.invoke(app, ["inspect", str(DATA / "regression.pmml"), "--backend", "pypmml"])
    assert result.exit_code == 0
    assert "income" in result.stdout and "replaced by 1000" in result.stdout
    # what an invalid value becomes, per input: the document says asMissing for color, and
    # the default (returnInvalid) for the interval of age
    lines = {line.split()[1]: line for line in result.stdout.splitlines()
             if line.startswith("│ ") and len(line.split()) > 2}
    assert "treated as missing (asMissing)" in lines["color"]
    assert "refused (returnInvalid)" in lines["age"]
    assert "any value is valid" in lines["income"]


def test_verify_ok_and_failing():
    ok = runner.invoke(app, ["verify", str(DATA / "scorecard.pmml")])
    assert ok.exit_code == 0 and "3 verification records reproduced" in ok.stdout
    code = run(app, ["verify", str(DATA / "scorecard.pmml"), "--backend", "pypmml"])
    assert code == 8


def test_errors_are_one_line_with_exit_code(tmp_path):
    missing = tmp_path / "nope.pmml"
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "inspect", str(missing)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 5
    assert proc.stderr.strip() == (f"error: {missing}: no such file or directory (while trying "
                                   "to read the PMML file)")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_unknown_backend_exit_code():
    code = run(app, ["inspect", str(DATA / "regression.pmml"), "--backend", "nope"])
    assert code == 4


def test_doctor_json():
    result = runner.invoke(app, ["doctor", "--json"])
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["java"]["ok"] and "Java 17" in checks["java"]["detail"]
    assert checks["backend jpmml"]["ok"] and checks["backend pypmml"]["ok"]
    assert checks["scikit-learn/sklearn2pmml"]["ok"]
    assert checks["pyspark/pyspark2pmml"]["ok"]
    assert result.exit_code == (0 if data["ok"] else 1)


def test_verify_json():
    result = runner.invoke(app, ["verify", str(DATA / "scorecard.pmml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["records"] == 3 and report["failures"] == []


def test_doctor_fails_without_java(tmp_path):
    env = {**__import__("os").environ, "JAVA_HOME": str(tmp_path / "no-java")}
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "doctor", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    java = next(c for c in report["checks"] if c["name"] == "java")
    assert java["ok"] is False and "no-java" in java["detail"]


def test_json_on_failure_prints_the_error_as_json_on_stdout(tmp_path, capsys):
    assert run(app, ["inspect", str(tmp_path / "nope.pmml"), "--json"]) == 5
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["error"] == "ModelLoadError" and printed["exit_code"] == 5
    assert "nope.pmml" in printed["message"] and "error: " in err


def test_the_documented_doctor_call_works():
    import pmmlkit

    report = pmmlkit.doctor.run_doctor()
    assert report.checks and all(hasattr(c, "ok") for c in report.checks)

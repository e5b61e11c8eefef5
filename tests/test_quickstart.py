"""docs/quickstart.md runs as written: every python and sh block, in order, in an empty folder
(the one install line excepted), with what the comments say it prints."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

DOC = Path(__file__).parents[1] / "docs" / "quickstart.md"


def _blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(python|sh)\n(.*?)```", DOC.read_text(), re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(port: int) -> str:
    """The blocks as one bash script: python blocks through this interpreter, a backgrounded
    `pmmlkit serve` waited for until ready (and stopped at the end); the documented port is
    replaced by a free one."""
    lines = ["set -euo pipefail", "trap 'kill %1 2>/dev/null || true' EXIT"]
    for kind, body in _blocks():
        if kind == "python":
            lines += [f"{sys.executable} - <<'PYTHON'", body.rstrip(), "PYTHON"]
            continue
        for line in body.splitlines():
            if line.startswith("pip install"):
                continue
            line = line.replace("8501", str(port))
            if line.startswith("pmmlkit serve") and line.endswith("&"):
                lines.append(line[:-1] + f" --port {port} &")
                lines.append(f"for i in $(seq 600); do curl -sf http://localhost:{port}"
                             "/v2/health/ready >/dev/null && break; sleep 0.1; done")
            else:
                lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_quickstart_runs_as_written(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PMMLKIT_REPO", None)
    done = subprocess.run(["bash", "-c", _script(_free_port())], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    assert "published churn version 1" in out
    assert "records reproduced" in out  # pmmlkit verify
    assert "read 1,000 rows: 1,000 scored, 0 rejected" in out  # pmmlkit score
    # what the Python block's comments say it prints
    assert "['color', 'size', 'region', 'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7']" in out
    found = re.search(r"\{'churn': 1, 'probability\(0\)': (0\.0481\d*), 'probability\(1\)': "
                      r"(0\.9518\d*)\}", out)
    assert found, out
    # the oracle is scikit-learn: the pickled pipeline on the same record
    pipeline = joblib.load(tmp_path / "model.joblib")
    record = {"x0": 0.3, "x1": -1.2, "x2": 0.5, "x3": 1.1, "x4": -0.4, "x5": 0.0, "x6": 2.0,
              "x7": -0.7, "color": "red", "size": "M", "region": "north"}
    native = pipeline.predict_proba(pd.DataFrame([record]))[0]
    assert [float(found[1]), float(found[2])] == pytest.approx(list(native), rel=1e-12)
    assert "\nTrue\n1\n" in out
    assert "x0 abc expected a number (double), got str 'abc'" in out
    assert "models/churn/1: the model's inputs ['color', 'size', 'region', 'x1'" in out
    assert '"predictions":[{"churn":1' in out and '"models":[{"name":"churn"' in out
    with open(tmp_path / "scored.csv", newline="") as f:
        scored = list(csv.reader(f))
    assert scored[0] == ["id", "churn", "probability(0)", "probability(1)"]
    assert len(scored) == 1001 and [r[0] for r in scored[1:]] == [f"c{i:04d}" for i in range(1000)]

"""The committed bridge jar is what bridge/src compiles to (public API compared with javap)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from pmmlkit.scorer.backends._jvm import BRIDGE_JAR, dependency_classpath

SOURCE = Path(__file__).parents[1] / "bridge" / "src"


def _javap(classpath: str, names: list[str]) -> str:
    javap = shutil.which("javap")
    assert javap, "javap (from the JDK) is needed to check the bridge jar"
    out = subprocess.run([javap, "-public", "-cp", classpath, *names], capture_output=True,
                         text=True, check=True)
    return "\n".join(line for line in out.stdout.splitlines()
                     if not line.startswith("Compiled from"))


def test_jar_matches_source(tmp_path):
    javac = shutil.which("javac")
    assert javac, "javac (from the JDK) is needed to check the bridge jar"
    sources = sorted(str(p) for p in SOURCE.rglob("*.java"))
    subprocess.run([javac, "--release", "11", "-cp", ":".join(dependency_classpath()), "-d",
                    str(tmp_path), *sources], check=True, capture_output=True)
    built = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.class"))
    with zipfile.ZipFile(BRIDGE_JAR) as jar:
        shipped = sorted(n for n in jar.namelist() if n.endswith(".class"))
    assert shipped == built, "rebuild the jar with `make jar`"
    names = [n[:-len(".class")].replace("/", ".") for n in built if "$" not in n]
    deps = ":".join(dependency_classpath())
    assert _javap(f"{BRIDGE_JAR}:{deps}", names) == _javap(f"{tmp_path}:{deps}", names)

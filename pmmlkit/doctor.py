"""Environment checks behind ``pmmlkit doctor``: Java, backends, converters, versions."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pmmlkit._version import installed, version_key
from pmmlkit.errors import PmmlkitError

_PROBE_PMML = b"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <RegressionTable intercept="1.0"><NumericPredictor name="x" coefficient="2.0"/></RegressionTable>
  </RegressionModel>
</PMML>"""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def run_doctor() -> DoctorReport:
    """Check Java, both backends and the converters; never raises."""
    report = DoctorReport()
    report.checks.append(_check_java())
    for backend in ("jpmml", "pypmml"):
        report.checks.append(_check_backend(backend))
    report.checks.extend(_check_sklearn())
    report.checks.extend(_check_spark())
    return report


def _check_java() -> Check:
    from pmmlkit.scorer.backends import java_info

    try:
        info = java_info()
    except PmmlkitError as exc:
        return Check("java", False, str(exc))
    jdk = "JDK (transpiling available)" if info["compiler"] else "JRE (no transpiling)"
    archive = (f"class-data archive {info['archive']}" if info["archive"] else
               "no class-data archive yet (the next pmmlkit command writes one)")
    return Check("java", True, f"Java {info['version']} ({info['vendor']}), {jdk}, max heap "
                               f"{info['max_heap_mb']} MB, options {' '.join(info['options'])}, "
                               f"{archive}")


def _check_backend(name: str) -> Check:
    from pmmlkit.scorer.loading import load

    try:
        model = load(_PROBE_PMML, backend=name)
        result = model.score({"x": 2.0})["y"]
    except Exception as exc:
        return Check(f"backend {name}", False, f"{type(exc).__name__}: {exc}")
    ok = result == 5.0
    return Check(f"backend {name}", ok, f"{model.evaluator}; probe scored {result} "
                                        f"(expected 5.0)")


def _installed(framework: str, converter: str, extra: str) -> tuple[list[Check], str | None,
                                                                    str | None]:
    """Checks that a framework and its converter are installed, and their versions."""
    found = installed(framework), installed(converter)
    hint = f"not installed (pip install 'pmmlkit[{extra}]')"
    checks = [Check(name, v is not None, v or hint) for name, v in zip((framework, converter),
                                                                      found, strict=True)]
    return checks, found[0], found[1]


def _check_sklearn() -> list[Check]:
    checks, sk, s2p = _installed("scikit-learn", "sklearn2pmml", "sklearn")
    if sk and s2p:
        line = ".".join(s2p.split(".")[:2])
        from pmmlkit.converter import SKLEARN2PMML_MAX_SKLEARN

        newest = SKLEARN2PMML_MAX_SKLEARN.get(line)
        if newest is None:
            checks.append(Check("scikit-learn/sklearn2pmml", True,
                                f"sklearn2pmml {s2p} is not in pmmlkit's tested table"))
        else:
            ok = version_key(sk) <= version_key(newest)
            checks.append(Check("scikit-learn/sklearn2pmml", ok,
                                f"sklearn2pmml {s2p} exports scikit-learn up to {newest}; "
                                f"installed {sk}" + ("" if ok else
                                                     f": install scikit-learn=={newest}")))
    return checks


def _check_spark() -> list[Check]:
    checks, ps, p2p = _installed("pyspark", "pyspark2pmml", "spark")
    if ps and p2p:
        spec = importlib.util.find_spec("pyspark2pmml")
        root = Path(next(iter(spec.submodule_search_locations))) if spec and \
            spec.submodule_search_locations else None
        lines = sorted(p.name for p in root.glob("spark[0-9]*")) if root else []
        wanted = "spark" + "".join(ps.split(".")[:2])
        ok = wanted in lines
        checks.append(Check("pyspark/pyspark2pmml", ok,
                            f"pyspark2pmml {p2p} ships JPMML-SparkML jars for "
                            f"{', '.join(lines)}; installed pyspark {ps}"
                            + ("" if ok else ": install a pyspark release line it ships")))
    return checks

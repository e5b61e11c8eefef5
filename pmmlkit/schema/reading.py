"""A document into a :class:`ModelSchema`: parsed (safely), or from the on-disk cache of
parsed schemas."""


from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from pmmlkit.errors import ModelLoadError
from pmmlkit.schema.contract import _chain_targets, _columns, _multi_target, _outputs, computes_probabilities
from pmmlkit.schema.document import _child, _children, _data_fields, _local, _parse_xml
from pmmlkit.schema.fields import (
    MODEL_ELEMENTS,
    InputField,
    ModelSchema,
    OutputField,
    TargetField,
    VerificationRecords,
    schema_from_dict,
    schema_to_dict,
)


def parse(data: bytes, *, source: str = "<bytes>") -> tuple[ModelSchema, Element]:
    """Parse PMML bytes safely; return the schema and the XML root."""
    root = _parse_xml(data, source)
    return _schema(root, source), root


#: the modules that read a document: a cached schema is keyed by their source
_SOURCES = tuple(sorted(Path(__file__).parent.glob("*.py")))


def _schema_path(sha256: str) -> Path:
    """The cache entry of a document: keyed by its sha256 and the reading modules' source."""
    from pmmlkit.cache import cache_dir, source_tag

    return cache_dir() / "schema" / f"{sha256}-{source_tag(*_SOURCES)}.json"


def cached_schema(data: bytes, sha256: str, *, source: str = "<bytes>") -> ModelSchema:
    """:func:`read_schema` of ``data`` (whose sha256 is given), through the on-disk cache: a
    document's schema is read from its XML once. A large ensemble's XML takes Python ~0.6 s
    (100 trees), its cached schema a millisecond. Bytes with this sha256 passed the safety
    checks when the entry was written."""
    path = _schema_path(sha256)
    try:
        return schema_from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):  # absent, damaged or from elsewhere
        pass
    schema = read_schema(data, source=source)
    from pmmlkit.cache import write_atomic

    write_atomic(path, json.dumps(schema_to_dict(schema)).encode())
    return schema


def read_schema(data: bytes, *, source: str = "<bytes>") -> ModelSchema:
    """Parse PMML bytes safely into a :class:`ModelSchema`."""
    return parse(data, source=source)[0]


def _schema(root: Element, source: str) -> ModelSchema:
    models = [c for c in root if _local(c.tag) in MODEL_ELEMENTS]
    if not models:
        others = sorted({_local(c.tag) for c in root} - {"Header", "DataDictionary"})
        raise ModelLoadError(f"{source}: the PMML contains no supported model element "
                             f"(found: {', '.join(others) or 'nothing'}); supported: "
                             f"{', '.join(sorted(MODEL_ELEMENTS))}")
    model = models[0]
    data_fields = _data_fields(root, source)
    header = _child(root, "Header")
    app = _child(header, "Application") if header is not None else None
    mining = _child(model, "MiningSchema")
    if mining is None:
        raise ModelLoadError(f"{source}: <{_local(model.tag)}> has no MiningSchema")
    inputs, targets = [], []
    for mf in _children(mining, "MiningField"):
        name = mf.get("name", "")
        usage = mf.get("usageType", "active")
        df = data_fields.get(name)
        if df is None:
            raise ModelLoadError(f"{source}: MiningField {name!r} is not in the DataDictionary")
        op_type = mf.get("optype") or df.get("optype", "continuous")
        if usage in ("target", "predicted"):
            cats = tuple(v for v, prop in df["values"] if prop == "valid")
            targets.append(TargetField(name, df["dataType"], op_type, cats,
                                       _cast_integer(model, name)))
        elif usage == "active":
            inputs.append(InputField(
                name=name, data_type=df["dataType"], op_type=op_type,
                valid_values=tuple(v for v, prop in df["values"] if prop == "valid"),
                missing_values=tuple(v for v, prop in df["values"] if prop == "missing"),
                intervals=df["intervals"],
                invalid_value_treatment=mf.get("invalidValueTreatment", "returnInvalid"),
                invalid_value_replacement=mf.get("invalidValueReplacement"),
                missing_value_treatment=mf.get("missingValueTreatment"),
                missing_value_replacement=mf.get("missingValueReplacement"),
            ))
    targets = _chain_targets(model, targets)
    function = model.get("functionName", "")
    outputs = _outputs(model, targets, function)
    schema = ModelSchema(
        model_element=_local(model.tag), function_name=function,
        algorithm=model.get("algorithmName"), pmml_version=root.get("version", ""),
        application=(f"{app.get('name')} {app.get('version', '')}".strip()
                     if app is not None else None),
        inputs=tuple(inputs), targets=tuple(targets), outputs=tuple(outputs),
        # one prediction, whatever else the MiningSchema names, but for a multi-target model
        # (one segment per target, or a k-NN model predicting each of its targets)
        columns=tuple(_columns(model, function, targets if _multi_target(model)
                               or _local(model.tag) == "NearestNeighborModel"
                               else targets[:1], outputs)),
        verification=_verification(model),
        tree_strategies=tuple(sorted({e.get("missingValueStrategy", "none") for e in root.iter()
                                      if _local(e.tag) == "TreeModel"})),
        probabilistic=function == "classification" and (_multi_target(model)
                                                        or computes_probabilities(model)),
        traits=tuple(_traits(root, outputs)),
        computes_in_float=any(e.get("dataType") == "float" for e in root.iter()),
    )
    return schema


def _traits(root: Element, outputs: list[OutputField]) -> list[tuple[str, str]]:
    """Facts of the document that decide which evaluator can score it (the backends name
    their consequences): ``parameter-as-text`` (a called DefineFunction passes its parameter
    as the text of a Constant, SAS Enterprise Miner's export defect), ``residual`` (outputs
    that need the target's actual value), ``contrast-matrix`` (a contrast-coded factor whose
    PPCell names a category, not a column of its matrix), ``cox`` (a Cox regression)."""
    found: list[tuple[str, str]] = []
    called = {e.get("function") for e in root.iter() if _local(e.tag) == "Apply"}
    for elem in root.iter():
        tag = _local(elem.tag)
        if tag == "GeneralRegressionModel" and elem.get("modelType") == "CoxRegression":
            found.append(("cox", elem.get("modelName") or ""))
        elif tag == "DefineFunction" and elem.get("name") in called:
            params = {p.get("name") for p in _children(elem, "ParameterField")}
            texts = [(c.text or "").strip() for c in elem.iter() if _local(c.tag) == "Constant"]
            found.extend(("parameter-as-text", f"{elem.get('name')}:{t}")
                         for t in texts if t in params)
    # a contrast-coded factor's PPCell names a column of its matrix; the spec's own example
    # names a category there, which JPMML refuses ("PPCell is not valid") and PMML4S reads
    contrasted = {e.get("name"): {c.get("value") for c in e.iter() if _local(c.tag) == "Category"}
                  for e in root.iter()
                  if _local(e.tag) == "Predictor" and e.get("contrastMatrixType")}
    for cell in root.iter():
        if (_local(cell.tag) == "PPCell" and cell.get("predictorName") in contrasted
                and cell.get("value") in contrasted[cell.get("predictorName")]):
            found.append(("contrast-matrix", cell.get("predictorName", "")))
    residuals = [o.name for o in outputs if o.feature == "residual"]
    if residuals:
        found.append(("residual", ", ".join(residuals)))
    return list(dict.fromkeys(found))


def _cast_integer(model: Element, name: str) -> str | None:
    targets = _child(model, "Targets")
    for target in _children(targets, "Target") if targets is not None else []:
        if target.get("field") == name:
            return target.get("castInteger")
    return None


def _verification(model: Element) -> VerificationRecords | None:
    mv = _child(model, "ModelVerification")
    if mv is None:
        return None
    vfields: dict[str, dict[str, Any]] = {}
    column_to_field: dict[str, str] = {}
    vf_parent = _child(mv, "VerificationFields")
    for vf in _children(vf_parent, "VerificationField") if vf_parent is not None else []:
        name = vf.get("field", "")
        column = vf.get("column") or name
        column = column.split(":", 1)[-1]
        vfields[name] = {"column": column, "precision": float(vf.get("precision", "1e-6")),
                         "zero_threshold": float(vf.get("zeroThreshold", "1e-16"))}
        column_to_field[column] = name
    table = _child(mv, "InlineTable")
    rows: list[dict[str, str | None]] = []
    for row in _children(table, "row") if table is not None else []:
        record: dict[str, str | None] = {}
        for cell in row:
            col = _local(cell.tag)
            record[column_to_field.get(col, col)] = cell.text
        rows.append(record)
    return VerificationRecords(vfields, rows)

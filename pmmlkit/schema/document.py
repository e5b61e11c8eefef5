"""Safe XML: the parser refuses any DOCTYPE, entity declaration or external reference
(XXE and "billion laughs") before looking at the content; element helpers; the data
dictionary."""


from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from pmmlkit.errors import ModelLoadError, UnsafeDocumentError
from pmmlkit.schema.fields import MODEL_ELEMENTS, Interval


def _parse_xml(data: bytes, source: str) -> Element:
    if not data or not data.strip():
        raise ModelLoadError(f"{source}: the file is empty; expected a PMML document")
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:65536], re.IGNORECASE):
        raise UnsafeDocumentError(
            f"{source}: the document declares a DOCTYPE or an entity; pmmlkit refuses these to "
            "prevent XML external entity (XXE) and entity-expansion attacks. Remove the "
            "<!DOCTYPE ...> declaration; PMML does not need one.")
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeDocumentError(
            f"{source}: refused unsafe XML ({exc}); pmmlkit never resolves DOCTYPEs or "
            "entities") from exc
    except Exception as exc:  # ParseError and friends: truncated or not XML
        raise ModelLoadError(f"{source}: not well-formed XML ({exc}); the file is truncated "
                             "or is not a PMML document") from exc
    if _local(root.tag) != "PMML":
        raise ModelLoadError(f"{source}: the root element is <{_local(root.tag)}>, not <PMML>; "
                             "this is not a PMML document")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem: Element, name: str) -> list[Element]:
    return [c for c in elem if _local(c.tag) == name]


def _child(elem: Element, name: str) -> Element | None:
    found = _children(elem, name)
    return found[0] if found else None


def _data_fields(root: Element, source: str) -> dict[str, dict[str, Any]]:
    dd = _child(root, "DataDictionary")
    if dd is None:
        raise ModelLoadError(f"{source}: the PMML has no DataDictionary")
    out: dict[str, dict[str, Any]] = {}
    for df in _children(dd, "DataField"):
        values = [(v.get("value", ""), v.get("property", "valid")) for v in _children(df, "Value")]
        intervals = tuple(
            Interval(iv.get("closure", "closedClosed"), _float(iv.get("leftMargin")),
                     _float(iv.get("rightMargin")))
            for iv in _children(df, "Interval"))
        out[df.get("name", "")] = {"dataType": df.get("dataType", "string"),
                                   "optype": df.get("optype"), "values": values,
                                   "intervals": intervals}
    return out


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


#: JPMML's segmentation of one model per target (sklearn2pmml's multi-output estimators)


def inner_models(elem: Element) -> list[Element]:
    """The model elements directly inside ``elem`` (a Segment, or the PMML root)."""
    return [c for c in elem if _local(c.tag) in MODEL_ELEMENTS]

"""Validation of e-invoices against the official artefacts: the UBL 2.1 and CII D16B XML schemas,
the CEN/TC 434 EN 16931 schematron (compiled to XSLT, release 1.3.x) and, for UBL, the Peppol BIS
Billing 3.0 rules.

The artefacts are third-party files that the project does not ship: their root directory is a
parameter, by default the `HANDOFF_ORACLES` environment variable or `../shared/oracles` relative to
the working directory. Each stylesheet and schema is compiled once per process and cached (the
EN 16931 XSLT takes about a second to compile, then milliseconds per document).

A finding is a failed assert (or schema error) as data: rule id, flag and text.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

SVRL = "{http://purl.oclc.org/dsdl/svrl}"

UBL_EN16931_XSLT = "en16931/ubl/xslt/EN16931-UBL-validation.xslt"
CII_EN16931_XSLT = "en16931/cii/xslt/EN16931-CII-validation.xslt"
PEPPOL_UBL_XSLT = (
    "peppol/phive-rules-peppol-legacy/src/main/resources/external/schematron/openpeppol/"
    "2025.5/xslt/PEPPOL-EN16931-UBL.xslt"
)
UBL_INVOICE_XSD = "ubl-2.1-xsd/xsd/maindoc/UBL-Invoice-2.1.xsd"
UBL_CREDIT_NOTE_XSD = "ubl-2.1-xsd/xsd/maindoc/UBL-CreditNote-2.1.xsd"
CII_XSD = (
    "en16931/cii/schema/D16B SCRDM (Subset)/uncoupled clm/CII/uncefact/data/standard/CrossIndustryInvoice_100pD16B.xsd"
)

UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"

# Parsing untrusted XML: no entities, no DTD, no network.
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class ValidationSetupError(RuntimeError):
    """The validation artefacts are missing or unusable (an installation problem, not a finding)."""


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # rule id (BR-CO-16, PEPPOL-EN16931-R010 ...) or "XSD"
    flag: str  # fatal | warning | information
    text: str
    location: str = ""

    def __str__(self) -> str:
        return f"[{self.rule}] {self.text}" + (f" at {self.location}" if self.location else "")


def default_oracle_root() -> Path:
    return Path(os.environ.get("HANDOFF_ORACLES", "../shared/oracles")).resolve()


def _root(oracles: Path | str | None) -> Path:
    root = Path(oracles).resolve() if oracles is not None else default_oracle_root()
    if not root.is_dir():
        raise ValidationSetupError(f"validation artefacts not found at {root} (set HANDOFF_ORACLES)")
    return root


# saxonche processors are not safe to share between threads while compiling; one lock per process.
_LOCK = threading.Lock()
_PROCESSOR: Any = None


def _processor() -> Any:
    global _PROCESSOR
    if _PROCESSOR is None:
        from saxonche import PySaxonProcessor  # imported lazily: only validation needs Saxon

        _PROCESSOR = PySaxonProcessor(license=False)
    return _PROCESSOR


@cache
def _stylesheet(path: str) -> Any:
    if not Path(path).is_file():
        raise ValidationSetupError(f"stylesheet not found: {path}")
    with _LOCK:
        compiler = _processor().new_xslt30_processor()
        return compiler.compile_stylesheet(stylesheet_text=Path(path).read_text(encoding="utf-8"))


@cache
def _schema(path: str) -> etree.XMLSchema:
    if not Path(path).is_file():
        raise ValidationSetupError(f"schema not found: {path}")
    return etree.XMLSchema(etree.parse(path, etree.XMLParser(resolve_entities=False, no_network=True)))


def run_schematron(xml: bytes, stylesheet: Path) -> list[Finding]:
    """All failed asserts (any flag) of one compiled schematron stylesheet over a document."""
    executable = _stylesheet(str(stylesheet))
    with _LOCK:
        # parse_xml(xml_text=) rather than source_file=, which fails on paths with spaces.
        node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
        report = executable.transform_to_string(xdm_node=node)
    svrl = etree.fromstring(report.encode("utf-8"), SAFE_PARSER)
    return [
        Finding(
            fa.get("id") or "?",
            fa.get("flag") or "fatal",
            " ".join((fa.findtext(SVRL + "text") or "").split()),
            fa.get("location") or "",
        )
        for fa in svrl.iter(SVRL + "failed-assert")
    ]


def run_xsd(xml: bytes, schema: Path) -> list[Finding]:
    """XML schema errors, as fatal findings with rule `XSD`."""
    xsd = _schema(str(schema))
    doc = etree.fromstring(xml, SAFE_PARSER)
    if xsd.validate(doc):
        return []
    return [Finding("XSD", "fatal", err.message, f"line {err.line}") for err in xsd.error_log]


def _is_cii(xml: bytes) -> bool:
    return bool(etree.QName(etree.fromstring(xml, SAFE_PARSER)).namespace == CII_NS)


def validate(
    xml: bytes, oracles: Path | str | None = None, peppol: bool = True, fatal_only: bool = True
) -> list[Finding]:
    """XSD, EN 16931 and (UBL, `peppol=True`) Peppol BIS 3 findings for a UBL or CII document."""
    root = _root(oracles)
    if _is_cii(xml):
        findings = run_xsd(xml, root / CII_XSD) + run_schematron(xml, root / CII_EN16931_XSLT)
    else:
        ns = etree.QName(etree.fromstring(xml, SAFE_PARSER)).namespace
        xsd = UBL_CREDIT_NOTE_XSD if ns == UBL_CREDIT_NOTE_NS else UBL_INVOICE_XSD
        findings = run_xsd(xml, root / xsd) + run_schematron(xml, root / UBL_EN16931_XSLT)
        if peppol:
            findings += run_schematron(xml, root / PEPPOL_UBL_XSLT)
    return [f for f in findings if f.flag == "fatal"] if fatal_only else findings


def validate_ubl(xml: bytes, oracles: Path | str | None = None, peppol: bool = True) -> list[Finding]:
    return validate(xml, oracles, peppol)


def validate_cii(xml: bytes, oracles: Path | str | None = None) -> list[Finding]:
    return validate(xml, oracles, peppol=False)

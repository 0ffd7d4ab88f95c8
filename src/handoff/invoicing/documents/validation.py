"""Validation of e-invoices against the official artefacts shipped with handoff
(`handoff/invoicing/rules/`, see `rulesets`): the UBL 2.1 and CII D16B XML schemas, the CEN/TC 434
EN 16931 schematron, the Peppol BIS Billing 3.0 rules (UBL) and the XRechnung rules (UBL, CII),
all compiled to XSLT and run with Saxon.

Each stylesheet and schema is compiled once per process and cached (an EN 16931 stylesheet takes
about a second to compile, then milliseconds per document); `warm` compiles them all ahead, which
the worker and the API do in the background at start. A finding is a failed assert (or schema
error) as data: rule id, flag and text; a `Report` adds the rule set releases it was judged by.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from handoff.invoicing.documents import rulesets

SVRL = "{http://purl.oclc.org/dsdl/svrl}"

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

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "flag": self.flag, "text": self.text, "location": self.location}


@dataclass(frozen=True, slots=True)
class Report:
    """One document judged: its syntax, the rule sets applied with their releases, every finding."""

    syntax: str  # ubl | cii
    rule_sets: dict[str, str]  # name -> release, including the schema (xsd-ubl / xsd-cii)
    findings: tuple[Finding, ...] = field(default=())

    @property
    def fatal(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.flag == "fatal")

    @property
    def passed(self) -> bool:
        return not self.fatal

    def as_dict(self) -> dict[str, Any]:
        return {
            "syntax": self.syntax,
            "rule_sets": dict(self.rule_sets),
            "passed": self.passed,
            "findings": [f.as_dict() for f in self.findings],
        }


# saxonche processors are not safe to share between threads while compiling; one lock per process.
_LOCK = threading.Lock()
_PROCESSOR: Any = None


def _processor() -> Any:
    global _PROCESSOR
    if _PROCESSOR is None:
        from saxonche import PySaxonProcessor  # imported lazily: only validation needs Saxon

        _PROCESSOR = PySaxonProcessor(license=False)
    return _PROCESSOR


def compile_stylesheet(path: Path) -> Any:
    """Compile one XSLT with Saxon; raises on any error (used to check a rule set before install)."""
    if not path.is_file():
        raise ValidationSetupError(f"stylesheet not found: {path}")
    with _LOCK:
        compiler = _processor().new_xslt30_processor()
        executable = compiler.compile_stylesheet(stylesheet_text=path.read_text(encoding="utf-8"))
    if executable is None:
        raise ValidationSetupError(f"stylesheet does not compile: {path}")
    return executable


@cache
def _stylesheet(path: str, mtime_ns: int) -> Any:
    return compile_stylesheet(Path(path))  # keyed by mtime too: a rule set installed anew recompiles


@cache
def _schema(path: str) -> etree.XMLSchema:
    if not Path(path).is_file():
        raise ValidationSetupError(f"schema not found: {path}")
    return etree.XMLSchema(etree.parse(path, etree.XMLParser(resolve_entities=False, no_network=True)))


def _compiled(stylesheet: Path) -> Any:
    try:
        mtime = stylesheet.stat().st_mtime_ns
    except OSError as exc:
        raise ValidationSetupError(f"stylesheet not found: {stylesheet}") from exc
    return _stylesheet(str(stylesheet), mtime)


def run_schematron(xml: bytes, stylesheet: Path) -> list[Finding]:
    """All failed asserts (any flag) of one compiled schematron stylesheet over a document."""
    return _run_all(xml, [stylesheet])[0]


def _run_all(xml: bytes, stylesheets: list[Path]) -> list[list[Finding]]:
    """The failed asserts of each stylesheet, the document parsed into Saxon once for them all."""
    executables = [_compiled(s) for s in stylesheets]
    with _LOCK:
        # parse_xml(xml_text=) rather than source_file=, which fails on paths with spaces.
        node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
        reports = [e.transform_to_string(xdm_node=node) for e in executables]
    return [_failed_asserts(r) for r in reports]


def _failed_asserts(report: str) -> list[Finding]:
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


def syntax_of(xml: bytes) -> str:
    """`cii` or `ubl` (Invoice or CreditNote), from the root element's namespace."""
    return "cii" if etree.QName(etree.fromstring(xml, SAFE_PARSER)).namespace == CII_NS else "ubl"


def check(xml: bytes, *, peppol: bool = False, xrechnung: bool = False) -> Report:
    """The XSD and EN 16931 findings of a UBL or CII document, plus the Peppol BIS 3 ones (UBL,
    `peppol`) and the XRechnung ones (`xrechnung`), with the releases of the rule sets applied."""
    root_ns = etree.QName(etree.fromstring(xml, SAFE_PARSER)).namespace
    syntax = "cii" if root_ns == CII_NS else "ubl"
    kind = "cii" if syntax == "cii" else "ubl-credit-note" if root_ns == UBL_CREDIT_NOTE_NS else "ubl-invoice"
    names = ["en16931"] + (["peppol"] if peppol and syntax == "ubl" else []) + (["xrechnung"] if xrechnung else [])
    findings = run_xsd(xml, rulesets.schema(kind))
    applied = {f"xsd-{syntax}": rulesets.SCHEMA_VERSIONS[syntax]}
    stylesheets = []
    for name in names:
        rule_set = rulesets.rule_set(name)
        stylesheet = rule_set.stylesheet(syntax)
        if stylesheet is not None:
            stylesheets.append(stylesheet)
            applied[name] = rule_set.version
    for found in _run_all(xml, stylesheets):
        findings += found
    return Report(syntax, applied, tuple(findings))


def validate(xml: bytes, *, peppol: bool = True, xrechnung: bool = False, fatal_only: bool = True) -> list[Finding]:
    """XSD, EN 16931 and (UBL, `peppol=True`) Peppol BIS 3 findings for a UBL or CII document."""
    report = check(xml, peppol=peppol, xrechnung=xrechnung)
    return list(report.fatal if fatal_only else report.findings)


def warm() -> None:
    """Compile every stylesheet and schema in force now, so that the first issue does not wait."""
    for name, files in rulesets.SETS.items():
        rule_set = rulesets.rule_set(name)
        for syntax in files:
            stylesheet = rule_set.stylesheet(syntax)
            if stylesheet is not None:
                _compiled(stylesheet)
    for kind in rulesets.SCHEMAS:
        _schema(str(rulesets.schema(kind)))


def warm_in_background() -> threading.Thread:
    """`warm` on a daemon thread: start-up goes on; a missing artefact shows at the first issue."""

    def run() -> None:
        try:
            warm()
        except Exception:  # reported again, with its cause, when a document is validated
            import logging

            logging.getLogger(__name__).exception("e-invoice rule sets could not be compiled")

    thread = threading.Thread(target=run, name="einvoice-rules-warm", daemon=True)
    thread.start()
    return thread

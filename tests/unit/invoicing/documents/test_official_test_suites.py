"""The official test instances that come with each rule set, run through handoff's validator (the
rule sets shipped with handoff), each with the result it states:

- CEN EN 16931 `test/`: each unit test file holds documents, each asserting which rules succeed
  and which raise an error or a warning; `test/testfiles` are complete, valid BIS Billing invoices.
- Peppol BIS Billing 3.0 2026.5: the release's billing examples, valid under XSD, EN 16931 and
  Peppol (its self-billing examples follow another specification).
- KoSIT XRechnung `test/instances`: each file is named after the rule it tests; its name says
  whether it breaks it (negative, wrong, invalid, with a conflicting group ...) or keeps it.

The instances are third-party material read from ../shared/oracles, never copied.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from handoff.invoicing.documents import rulesets, validation
from tests.conftest import ORACLES

CEN_TESTS = ORACLES / "en16931" / "test"
PEPPOL_EXAMPLES = ORACLES / "peppol/phive-rules-peppol/src/test/resources/external/test-files/openpeppol/2026.5"
KOSIT = ORACLES / "xrechnung" / "kosit-tests" / "test" / "instances"
VEFA = "{http://difi.no/xsd/vefa/validator/1.0}"


def _files(folder: Path, pattern: str = "*.xml") -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.glob(pattern)) if folder.is_dir() else []


def _fails(findings: list[validation.Finding], rule: str, flag: str = "fatal") -> bool:
    return any(f.rule == rule and f.flag == flag for f in findings)


def _stylesheet(name: str, xml: bytes) -> Path:
    stylesheet = rulesets.rule_set(name).stylesheet(validation.syntax_of(xml))
    assert stylesheet is not None
    return stylesheet


# -- CEN EN 16931 unit tests


@pytest.mark.parametrize("name", _files(CEN_TESTS, "*-unit-UBL/*.xml") + _files(CEN_TESTS, "cii/*.xml"))
def test_cen_unit_tests(name: str, oracles: Path) -> None:
    test_set = etree.parse(str(CEN_TESTS / name), validation.SAFE_PARSER).getroot()
    checked = 0
    for test in test_set.iter(VEFA + "test"):
        expect = test.find(VEFA + "assert")
        assert expect is not None
        document = next(el for el in test if isinstance(el.tag, str) and el.tag != VEFA + "assert")
        xml = etree.tostring(document)
        findings = validation.run_schematron(xml, _stylesheet("en16931", xml))
        description = expect.findtext(VEFA + "description") or ""
        for rule in (e.text or "" for e in expect.iter(VEFA + "success")):
            assert not _fails(findings, rule) and not _fails(findings, rule, "warning"), f"{rule}: {description}"
        for rule in (e.text or "" for e in expect.iter(VEFA + "error")):
            assert _fails(findings, rule), f"{rule} should fail: {description}"
        for rule in (e.text or "" for e in expect.iter(VEFA + "warning")):
            assert _fails(findings, rule, "warning"), f"{rule} should warn: {description}"
        checked += 1
    assert checked


@pytest.mark.parametrize("name", _files(CEN_TESTS / "testfiles"))
def test_cen_complete_invoices_pass_xsd_and_en16931(name: str, oracles: Path) -> None:
    findings = validation.validate((CEN_TESTS / "testfiles" / name).read_bytes(), peppol=False)
    assert findings == [], "\n".join(map(str, findings))


# -- Peppol BIS Billing 3.0, release in force


@pytest.mark.parametrize("name", _files(PEPPOL_EXAMPLES, "billing/*.xml"))
def test_peppol_examples_pass_xsd_en16931_and_peppol(name: str, oracles: Path) -> None:
    report = validation.check((PEPPOL_EXAMPLES / name).read_bytes(), peppol=True)
    assert report.rule_sets["peppol"] == "2026.5"
    assert report.fatal == (), "\n".join(map(str, report.fatal))


@pytest.mark.parametrize("name", _files(PEPPOL_EXAMPLES, "SB-*.xml"))
def test_peppol_self_billing_examples_are_refused_as_billing_only_for_their_identifiers(
    name: str, oracles: Path
) -> None:
    """The release's self-billing examples are another specification (BT-23, BT-24): the Billing
    rules refuse exactly those two identifiers and nothing else."""
    report = validation.check((PEPPOL_EXAMPLES / name).read_bytes(), peppol=True)
    assert {f.rule for f in report.fatal} == {"PEPPOL-EN16931-R004", "PEPPOL-EN16931-R007"}


# -- KoSIT XRechnung instances

_RULE_IN_NAME = re.compile(r"(br-dex|br-de|br-tmp|peppol-en16931-r)-?(\d+)")
_FAMILY = {"br-dex": "BR-DEX-", "br-de": "BR-DE-", "br-tmp": "BR-TMP-", "peppol-en16931-r": "PEPPOL-EN16931-R"}
# what a name says when its document breaks the rule it is named after
_BREAKS = re.compile(
    r"negative|wrong|invalid|incorrect|too-much|text-after-end|case-sensitive|no-newline(?!-last-note)"
    r"|with-bg|with-bt-86|schemeid-test-[34]|r05[34]-2"
)


def _named_rule(name: str) -> str | None:
    m = _RULE_IN_NAME.search(name)
    if m is None:
        return None
    family, number = _FAMILY[m.group(1)], m.group(2)
    return family + (number.zfill(2) if family == "BR-DEX-" else number)


KOSIT_NAMED = [n for n in _files(KOSIT, "*/*.xml") if _named_rule(Path(n).name)]


def test_kosit_instances_are_there_and_mostly_named_after_a_rule(oracles: Path) -> None:
    assert len(KOSIT_NAMED) > 300 and len(_files(KOSIT, "*/*.xml")) - len(KOSIT_NAMED) < 25


@pytest.mark.parametrize("name", KOSIT_NAMED)
def test_kosit_instances_break_or_keep_the_rule_they_are_named_after(name: str, oracles: Path) -> None:
    xml = (KOSIT / name).read_bytes()
    findings = validation.run_schematron(xml, _stylesheet("xrechnung", xml))
    rule = _named_rule(Path(name).name)
    broken = {f.rule for f in findings if f.flag == "fatal" and (f.rule == rule or f.rule.startswith(f"{rule}-"))}
    if _BREAKS.search(name):
        assert broken, f"{name} should break {rule}"
    else:
        assert not broken, f"{name} should keep {rule}: " + "; ".join(str(f) for f in findings if f.rule in broken)

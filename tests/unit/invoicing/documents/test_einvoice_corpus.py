"""Every generated UBL and CII document passes its XML schema and the EN 16931 schematron with
no fatal failed assert; every UBL document to a business also passes Peppol BIS Billing 3.0."""

from __future__ import annotations

from collections import Counter

import pytest
from lxml import etree

from handoff.invoicing.documents import render
from handoff.invoicing.documents.validation import SAFE_PARSER, validate
from handoff.invoicing.domain.invoices import Invoice
from tests.corpus import NOT_PEPPOL, build_corpus

CORPUS = build_corpus()


def test_corpus_covers_every_tax_case_kind_and_currency() -> None:
    categories = {b.category for inv in CORPUS.values() for b in inv.breakdown}
    assert categories == {"S", "Z", "E", "AE", "K", "G", "O"}
    rules = {ln.tax.rule for inv in CORPUS.values() for ln in inv.lines}
    assert {
        "domestic",
        "reverse_charge",
        "intra_community_supply",
        "eu_b2c_origin",
        "eu_b2c_destination",
        "export",
        "services_outside_eu",
        "exempt",
        "outside_scope",
    } <= rules
    assert {"EUR", "USD", "GBP", "SEK"} <= {inv.currency for inv in CORPUS.values()}
    assert Counter(inv.kind.value for inv in CORPUS.values())["credit_note"] >= 3
    assert any(inv.tax_currency for inv in CORPUS.values())


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_ubl_passes_xsd_en16931_and_peppol(name: str) -> None:
    findings = validate(render(CORPUS[name], "ubl"), peppol=name not in NOT_PEPPOL)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_cii_passes_xsd_and_en16931(name: str) -> None:
    findings = validate(render(CORPUS[name], "cii"))
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("name", sorted(NOT_PEPPOL))
def test_consumer_invoices_are_not_sent_as_peppol(name: str) -> None:
    """A consumer has no Peppol address and none is invented: its UBL says EN 16931, not Peppol
    (BT-24), and has no buyer endpoint; held to Peppol anyway it fails just for those (R004, R010)."""
    ubl = render(CORPUS[name], "ubl")
    assert b"<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>" in ubl
    findings = validate(ubl, peppol=True)
    assert sorted({f.rule for f in findings}) == ["PEPPOL-EN16931-R004", "PEPPOL-EN16931-R010"]


def _tampered(xml: bytes, path: str, ns: dict[str, str], value: str) -> bytes:
    root = etree.fromstring(xml, SAFE_PARSER)
    root.xpath(path, namespaces=ns)[0].text = value
    return etree.tostring(root)  # type: ignore[no-any-return]


def test_validation_catches_broken_totals_and_schema_errors() -> None:
    invoice: Invoice = CORPUS["domestic_standard"]
    ubl = render(invoice, "ubl")
    ns = {
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }
    broken = _tampered(ubl, "//cac:LegalMonetaryTotal/cbc:PayableAmount", ns, "1.00")
    assert "BR-CO-16" in {f.rule for f in validate(broken)}
    disordered = ubl.replace(b"<cbc:IssueDate>", b"<cbc:Note>x</cbc:Note><cbc:IssueDate>", 1)
    assert "XSD" in {f.rule for f in validate(disordered)}
    cii = render(invoice, "cii")
    ram = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
    broken_cii = _tampered(cii, "//ram:GrandTotalAmount", ram, "1.00")
    assert {"BR-CO-15", "BR-CO-16"} <= {f.rule for f in validate(broken_cii)}


def test_documents_carry_the_business_terms() -> None:
    ns = {
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    }
    usd = etree.fromstring(render(CORPUS["domestic_usd_tax_currency"], "ubl"), SAFE_PARSER)
    assert usd.findtext("cbc:TaxCurrencyCode", namespaces=ns) == "EUR"
    amounts = {el.get("currencyID"): el.text for el in usd.iterfind("cac:TaxTotal/cbc:TaxAmount", ns)}
    inv = CORPUS["domestic_usd_tax_currency"]
    assert amounts == {"USD": f"{inv.totals.tax:.2f}", "EUR": f"{inv.tax_in_tax_currency:.2f}"}
    credit = etree.fromstring(render(CORPUS["credit_note_partial"], "ubl"), SAFE_PARSER)
    assert credit.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=ns) == (
        CORPUS["intra_community_goods"].number
    )
    standard = etree.fromstring(render(CORPUS["domestic_standard"], "ubl"), SAFE_PARSER)
    assert standard.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=ns).startswith("RF")
    assert standard.findtext("cac:OrderReference/cbc:ID", namespaces=ns) == "PO-4711"

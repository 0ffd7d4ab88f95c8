"""Discounted invoices as documents: UBL (Peppol BIS 3) and CII carry line allowances (BG-27) and
document-level allowances (BG-20) with their totals, and pass the XML schemas, the official EN 16931
rules and Peppol's; the PDF shows each line's discount and the document discount with the totals;
Factur-X carries a CII that still validates."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pypdf import PdfReader

from handoff.invoicing.documents import render
from handoff.invoicing.documents.facturx import extract_xml
from handoff.invoicing.documents.pdf import money
from handoff.invoicing.documents.validation import SAFE_PARSER, validate
from handoff.invoicing.domain.invoices import Invoice, credit_note, draft_invoice, issue
from tests.corpus import DE_BUYER, DE_SELLER, FR_BUYER, RATES, TERMS, US_BUYER
from tests.unit.invoicing.test_allowances import discounted

ON = date(2026, 3, 2)
UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
CII = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
SEATS = ("Seats", "3", "4000.00", "standard", "services")
BOOKS = ("Training manuals", "12", "18.75", "reduced", "goods")


def _issued(o, seq: int) -> Invoice:  # type: ignore[no-untyped-def]
    return issue(draft_invoice(o, DE_SELLER, RATES, TERMS), f"INV-DE-2026-{seq:06d}", ON)


def build() -> dict[str, Invoice]:
    c: dict[str, Invoice] = {}
    c["line_discount"] = _issued(discounted("L-1", [(*SEATS, "10%"), (*BOOKS, "25.00")]), 1)
    c["deal_discount"] = _issued(discounted("L-2", [(*SEATS, "")], "10%"), 2)
    c["both_two_categories"] = _issued(discounted("L-3", [(*SEATS, "10%"), (*BOOKS, "5%")], "333.33"), 3)
    c["reverse_charge_and_goods"] = _issued(discounted("L-4", [(*SEATS, "100.00"), (*BOOKS, "")], "7.5%", FR_BUYER), 4)
    c["export"] = _issued(discounted("L-5", [(*SEATS, "")], "1000.00", US_BUYER), 5)
    c["credit_full"] = issue(credit_note(c["both_two_categories"], "cancelled"), "CN-DE-2026-000001", ON)
    c["credit_partial"] = issue(
        credit_note(c["both_two_categories"], "one seat", {1: Decimal("1"), 2: Decimal("5")}), "CN-DE-2026-000002", ON
    )
    return c


DOCS = build()


@pytest.mark.parametrize("name", sorted(DOCS))
def test_ubl_with_allowances_passes_xsd_en16931_and_peppol(name: str) -> None:
    findings = validate(render(DOCS[name], "ubl"), peppol=True)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("name", sorted(DOCS))
def test_cii_with_allowances_passes_xsd_and_en16931(name: str) -> None:
    findings = validate(render(DOCS[name], "cii"))
    assert findings == [], "\n".join(map(str, findings))


def test_ubl_carries_line_and_document_allowances() -> None:
    inv = DOCS["both_two_categories"]
    root = etree.fromstring(render(inv, "ubl"), SAFE_PARSER)
    total = root.find("cac:LegalMonetaryTotal", UBL)
    assert total is not None
    assert total.findtext("cbc:LineExtensionAmount", namespaces=UBL) == f"{inv.totals.line_net:.2f}"
    assert total.findtext("cbc:AllowanceTotalAmount", namespaces=UBL) == "333.33"
    assert total.findtext("cbc:TaxExclusiveAmount", namespaces=UBL) == f"{inv.totals.line_net - Decimal('333.33'):.2f}"
    docs = root.findall("cac:AllowanceCharge", UBL)
    assert [
        (
            a.findtext("cbc:ChargeIndicator", namespaces=UBL),
            a.findtext("cbc:AllowanceChargeReasonCode", namespaces=UBL),
            a.findtext("cbc:AllowanceChargeReason", namespaces=UBL),
            a.findtext("cac:TaxCategory/cbc:ID", namespaces=UBL),
            a.findtext("cac:TaxCategory/cbc:Percent", namespaces=UBL),
        )
        for a in docs
    ] == [("false", "95", "Discount", "S", "7"), ("false", "95", "Discount", "S", "19")]
    assert sum(Decimal(a.findtext("cbc:Amount", namespaces=UBL) or "0") for a in docs) == Decimal("333.33")
    seats = root.findall("cac:InvoiceLine", UBL)[0]
    (line_allowance,) = seats.findall("cac:AllowanceCharge", UBL)
    assert line_allowance.findtext("cbc:ChargeIndicator", namespaces=UBL) == "false"
    assert line_allowance.findtext("cbc:MultiplierFactorNumeric", namespaces=UBL) == "10"
    assert line_allowance.findtext("cbc:Amount", namespaces=UBL) == "1200.00"
    assert line_allowance.findtext("cbc:BaseAmount", namespaces=UBL) == "12000.00"
    assert seats.findtext("cbc:LineExtensionAmount", namespaces=UBL) == "10800.00"


def test_cii_carries_line_and_document_allowances() -> None:
    inv = DOCS["deal_discount"]
    root = etree.fromstring(render(inv, "cii"), SAFE_PARSER)
    header = root.find(".//ram:ApplicableHeaderTradeSettlement", CII)
    assert header is not None
    (allowance,) = header.findall("ram:SpecifiedTradeAllowanceCharge", CII)
    assert allowance.findtext("ram:ChargeIndicator/udt:Indicator", namespaces=CII) == "false"
    assert allowance.findtext("ram:CalculationPercent", namespaces=CII) == "10"
    assert allowance.findtext("ram:BasisAmount", namespaces=CII) == "12000.00"
    assert allowance.findtext("ram:ActualAmount", namespaces=CII) == "1200.00"
    assert allowance.findtext("ram:ReasonCode", namespaces=CII) == "95"
    assert allowance.findtext("ram:CategoryTradeTax/ram:CategoryCode", namespaces=CII) == "S"
    summary = header.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII)
    assert summary is not None
    assert summary.findtext("ram:AllowanceTotalAmount", namespaces=CII) == "1200.00"
    assert summary.findtext("ram:TaxBasisTotalAmount", namespaces=CII) == "10800.00"
    line_root = etree.fromstring(render(DOCS["line_discount"], "cii"), SAFE_PARSER)
    first = line_root.find(".//ram:SpecifiedLineTradeSettlement", CII)
    assert first is not None
    (line_allowance,) = first.findall("ram:SpecifiedTradeAllowanceCharge", CII)
    assert line_allowance.findtext("ram:ActualAmount", namespaces=CII) == "1200.00"


def test_validation_catches_an_allowance_total_that_does_not_add_up() -> None:
    ubl = render(DOCS["deal_discount"], "ubl")
    broken = ubl.replace(
        b'<cbc:AllowanceTotalAmount currencyID="EUR">1200.00', b'<cbc:AllowanceTotalAmount currencyID="EUR">1100.00'
    )
    assert broken != ubl
    assert "BR-CO-11" in {f.rule for f in validate(broken)}


def test_facturx_of_a_discounted_invoice_embeds_a_cii_that_validates() -> None:
    document = render(DOCS["both_two_categories"], "facturx")
    assert list(PdfReader(io.BytesIO(document)).attachments) == ["factur-x.xml"]
    assert validate(extract_xml(document)) == []


needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext not installed (poppler-utils)")


def _pdf_text(inv: Invoice, tmp_path: Path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(render(inv, "pdf"))
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


@needs_poppler
def test_pdf_shows_line_discounts_and_the_document_discount_with_the_totals(tmp_path: Path) -> None:
    inv = DOCS["both_two_categories"]
    text = _pdf_text(inv, tmp_path)
    assert "Discount 10 % of 12,000.00 EUR" in text and "-1,200.00 EUR" in text  # the seats line
    assert "10,800.00 EUR" in text  # its net after the discount
    assert "Sum of lines" in text and money(inv.totals.line_net, "EUR") in text
    assert "Discount (S 7 %)" in text and "Discount (S 19 %)" in text
    assert "Total without VAT" in text and money(inv.totals.tax_exclusive, "EUR") in text
    assert money(inv.totals.payable, "EUR") in text
    plain = _pdf_text(DOCS["deal_discount"], tmp_path)
    assert "Discount 10 % of 12,000.00 EUR" in plain and "-1,200.00 EUR" in plain


percent = st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2).map(lambda d: f"{d}%")
amount = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2).map(str)
lines = st.lists(
    st.tuples(
        st.just("Item"),
        st.decimals(min_value=Decimal("1"), max_value=Decimal("50"), places=0).map(str),
        st.decimals(min_value=Decimal("100.00"), max_value=Decimal("2000"), places=2).map(str),  # above any amount off
        st.sampled_from(["standard", "reduced", "zero", "exempt"]),
        st.sampled_from(["goods", "services"]),
        st.one_of(st.just(""), percent, amount),
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def discounted_invoices(draw: st.DrawFn) -> Invoice:
    rows = draw(lines)
    buyer = draw(st.sampled_from([DE_BUYER, FR_BUYER]))
    deal = draw(st.one_of(st.just(""), percent, amount))
    inv = _issued(discounted("P-1", rows, deal, buyer), 9)
    if draw(st.booleans()):
        return issue(credit_note(inv, "property", {1: Decimal("1")}), "CN-DE-2026-000009", ON)
    return inv


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(discounted_invoices())
def test_random_discounted_invoices_pass_en16931_and_peppol(inv: Invoice) -> None:
    for fmt in ("ubl", "cii"):
        findings = validate(render(inv, fmt))
        assert findings == [], (fmt, [str(f) for f in findings])

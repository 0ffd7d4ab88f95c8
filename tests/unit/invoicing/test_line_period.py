"""The period a contract line bills (EN 16931 BG-26: BT-134 start, BT-135 end, both days billed)
is written on the UBL and CII line and passes the official EN 16931 and Peppol rules; a line
without a period carries none."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from lxml import etree

from handoff.invoicing.documents import render
from handoff.invoicing.documents.validation import validate
from handoff.invoicing.domain.invoices import Invoice
from tests.corpus import build_corpus

UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CII = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


def _with_period() -> tuple[Invoice, Invoice]:
    invoice = build_corpus()["domestic_standard"]
    first = replace(invoice.lines[0], period_start=date(2027, 1, 1), period_end=date(2027, 12, 31))
    return invoice, replace(invoice, lines=(first, *invoice.lines[1:]))


def test_ubl_line_carries_its_billing_period_and_validates() -> None:
    plain, invoice = _with_period()
    xml = render(invoice, "ubl")
    root = etree.fromstring(xml)
    lines = root.findall("cac:InvoiceLine", UBL)
    assert lines[0].findtext("cac:InvoicePeriod/cbc:StartDate", namespaces=UBL) == "2027-01-01"
    assert lines[0].findtext("cac:InvoicePeriod/cbc:EndDate", namespaces=UBL) == "2027-12-31"
    assert lines[1].find("cac:InvoicePeriod", UBL) is None
    assert etree.fromstring(render(plain, "ubl")).find(".//cac:InvoiceLine/cac:InvoicePeriod", UBL) is None
    assert validate(xml) == []


def test_cii_line_carries_its_billing_period_and_validates() -> None:
    _, invoice = _with_period()
    xml = render(invoice, "cii")
    root = etree.fromstring(xml)
    periods = root.findall(".//ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod", CII)
    assert len(periods) == 1
    start = periods[0].findtext("ram:StartDateTime/udt:DateTimeString", namespaces=CII)
    end = periods[0].findtext("ram:EndDateTime/udt:DateTimeString", namespaces=CII)
    assert (start, end) == ("20270101", "20271231")
    assert validate(xml, peppol=False) == []

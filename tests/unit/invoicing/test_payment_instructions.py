"""Payment instructions come from the selling entity's configured means: a SEPA IBAN (code 58, RF
creditor reference), an IBAN outside SEPA or euros (code 30), a US ACH account (code 30, routing
number as BT-86, the invoice number as reference) or a payment link (code 68). The PDF, UBL and CII
all say the same as the instructions the e-mail is written from."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from handoff.invoicing.documents import render
from handoff.invoicing.documents.common import payment_instructions
from handoff.invoicing.documents.validation import SAFE_PARSER, validate
from handoff.invoicing.domain.invoices import Invoice, draft_invoice, issue
from handoff.invoicing.domain.payment import uses_creditor_reference
from handoff.kernel.parties import Address, LegalEntity
from tests.corpus import DE_BUYER, DE_SELLER, ISSUED_ON, RATES, TERMS, US_BUYER, build_corpus, order

UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}
RAM = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
US_SELLER = LegalEntity(
    code="US",
    name="Handoff Demo Inc.",
    country="US",
    currency="USD",
    address=Address("500 Howard Street", "San Francisco", "94105", "US"),
    tax_id="12-3456789",
    email="billing-us@handoff.example",
    invoice_prefix="US",
    bank_name="First Example Bank",
    ach_routing_number="121000248",
    ach_account_number="4567890123",
)
LICENCE = ("Platform licence", "1", "1000.00", "standard", "services")


def us_invoice(seller: LegalEntity = US_SELLER, currency: str = "USD") -> Invoice:
    draft = draft_invoice(order("US-1", US_BUYER, currency, [LICENCE], entity="US"), seller, RATES, TERMS)
    return issue(draft, "INV-US-2026-000001", ISSUED_ON, None)


def pdf_text(invoice: Invoice) -> str:
    reader = PdfReader(io.BytesIO(render(invoice, "pdf")))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_a_sepa_invoice_is_code_58_with_iban_bic_and_an_rf_reference() -> None:
    invoice = build_corpus()["domestic_standard"]
    means = payment_instructions(invoice)
    assert invoice.payment_reference.startswith("RF")
    assert (means.code, means.account, means.institution) == ("58", DE_SELLER.iban, DE_SELLER.bic)
    assert any("IBAN" in line for line in means.lines())


def test_a_us_ach_invoice_is_a_credit_transfer_quoting_the_invoice_number() -> None:
    invoice = us_invoice()
    means = payment_instructions(invoice)
    assert invoice.payment_reference == "INV-US-2026-000001"  # no RF: a US bank does not carry one
    assert (means.code, means.account, means.institution) == ("30", "4567890123", "121000248")
    text = "\n".join(means.lines())
    assert "ACH" in text and "121000248" in text and "4567890123" in text and "First Example Bank" in text
    assert "IBAN" not in text and "RF" not in text


def test_rf_references_only_where_the_entity_takes_them() -> None:
    assert uses_creditor_reference(DE_SELLER, "EUR")
    assert not uses_creditor_reference(replace(DE_SELLER, payment_reference="invoice_number"), "EUR")
    assert not uses_creditor_reference(US_SELLER, "USD")
    assert uses_creditor_reference(replace(US_SELLER, iban="DE89370400440532013000"), "EUR")  # its euro account
    assert not uses_creditor_reference(replace(US_SELLER, iban="DE89370400440532013000"), "USD")  # paid by ACH


def test_an_entity_with_only_a_payment_link_asks_for_online_payment() -> None:
    seller = replace(
        US_SELLER, ach_routing_number="", ach_account_number="", payment_link="https://pay.example/i/{number}"
    )
    invoice = us_invoice(seller)
    means = payment_instructions(invoice)
    assert means.code == "68" and means.link == "https://pay.example/i/INV-US-2026-000001"
    assert means.account == "" and any(means.link in line for line in means.lines())
    ubl = etree.fromstring(render(invoice, "ubl"), SAFE_PARSER)
    assert ubl.findtext("cac:PaymentMeans/cbc:PaymentMeansCode", namespaces=UBL) == "68"
    assert ubl.find("cac:PaymentMeans/cac:PayeeFinancialAccount", UBL) is None
    assert means.link in pdf_text(invoice)


def test_an_entity_without_means_says_nothing_it_cannot_back() -> None:
    seller = replace(US_SELLER, ach_routing_number="", ach_account_number="", bank_name="")
    invoice = us_invoice(seller)
    assert payment_instructions(invoice).code == ""
    ubl = etree.fromstring(render(invoice, "ubl"), SAFE_PARSER)
    assert ubl.find("cac:PaymentMeans", UBL) is None  # BG-16 is optional; code 30 without an account is not
    assert "IBAN" not in pdf_text(invoice)


def test_ubl_cii_and_pdf_carry_the_ach_account() -> None:
    invoice = us_invoice()
    ubl_xml = render(invoice, "ubl")
    ubl = etree.fromstring(ubl_xml, SAFE_PARSER)
    means = ubl.find("cac:PaymentMeans", UBL)
    assert means is not None
    assert means.findtext("cbc:PaymentMeansCode", namespaces=UBL) == "30"
    assert means.findtext("cbc:PaymentID", namespaces=UBL) == "INV-US-2026-000001"
    assert means.findtext("cac:PayeeFinancialAccount/cbc:ID", namespaces=UBL) == "4567890123"
    assert means.findtext("cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID", namespaces=UBL) == (
        "121000248"
    )
    cii_xml = render(invoice, "cii")
    cii = etree.fromstring(cii_xml, SAFE_PARSER)
    assert cii.xpath("//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode/text()", namespaces=RAM) == ["30"]
    assert cii.xpath("//ram:PayeePartyCreditorFinancialAccount/ram:ProprietaryID/text()", namespaces=RAM) == [
        "4567890123"
    ]
    # EN 16931 (BR-61: an account for a credit transfer) and the schemas; the seller has no Peppol
    # endpoint (a US entity without VAT id), so Peppol's own rules are not the point here
    assert validate(ubl_xml, peppol=False) == []
    assert validate(cii_xml) == []
    text = pdf_text(invoice)
    assert "4567890123" in text and "121000248" in text and "IBAN" not in text and "RF" not in text


def test_an_iban_outside_the_euro_is_a_plain_credit_transfer() -> None:
    corpus = build_corpus()
    assert payment_instructions(corpus["domestic_sek"]).code == "30"
    assert payment_instructions(corpus["domestic_sek"]).account.startswith("SE")


@pytest.mark.parametrize("currency", ["EUR", "USD"])
def test_an_entity_with_iban_and_ach_is_paid_in_the_invoice_currency(currency: str) -> None:
    seller = replace(US_SELLER, iban="DE89370400440532013000", bic="COBADEFFXXX")
    draft = draft_invoice(order("US-2", DE_BUYER, currency, [LICENCE], entity="US"), seller, RATES, TERMS)
    rate = None if currency == "USD" else Decimal("1.16")  # the seller accounts in USD (BT-111)
    means = payment_instructions(issue(draft, "INV-US-2026-000002", ISSUED_ON, rate))
    if currency == "EUR":
        assert (means.code, means.account) == ("58", "DE89370400440532013000")
    else:
        assert (means.code, means.account) == ("30", "4567890123")

"""The e-mail that carries an issued invoice or credit note: a text and an HTML part written from
the stored invoice, with the payment instructions of the selling entity's configured means, its
branding and legal details; every text from outside escaped in the HTML part. The outbox keeps only
which documents to attach, never their bytes."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from handoff.invoicing.service.mailing import LOGO_CID, formats, notice_payload, render_email
from handoff.kernel.encoding import to_json_bytes
from handoff.kernel.parties import Branding
from tests.corpus import DE_SELLER, build_corpus
from tests.unit.invoicing.test_payment_instructions import us_invoice

CORPUS = build_corpus()
HOSTILE = '<script>alert("x")</script> & <b>Sons</b>'


def test_a_sepa_invoice_email_says_how_to_pay_with_iban_and_rf_reference() -> None:
    invoice = CORPUS["domestic_standard"]
    mail = render_email(invoice)
    assert mail.subject == f"Invoice {invoice.number} from {DE_SELLER.name}"
    assert DE_SELLER.iban in mail.text and DE_SELLER.bic in mail.text
    assert invoice.payment_reference.startswith("RF") and invoice.payment_reference in mail.text
    assert f"{invoice.number}.pdf" in mail.text  # says what is attached
    assert invoice.payment_reference in mail.html and DE_SELLER.iban in mail.html


def test_a_us_invoice_email_gives_the_ach_account_and_the_invoice_number_as_reference() -> None:
    invoice = us_invoice()
    mail = render_email(invoice)
    for part in (mail.text, mail.html):
        assert "121000248" in part and "4567890123" in part and "ACH" in part
        assert "IBAN" not in part and "RF" not in part
        assert "INV-US-2026-000001" in part


def test_hostile_names_are_escaped_in_the_html_part_and_kept_in_the_text() -> None:
    invoice = CORPUS["domestic_standard"]
    invoice = replace(
        invoice,
        buyer=replace(invoice.buyer, legal_name=HOSTILE, billing_contact_name=""),
        seller=replace(invoice.seller, name=HOSTILE, branding=Branding(footer=HOSTILE)),
    )
    mail = render_email(invoice)
    assert "<script>" not in mail.html and "<b>Sons</b>" not in mail.html
    assert "&lt;script&gt;" in mail.html and "&amp; &lt;b&gt;Sons&lt;/b&gt;" in mail.html
    assert HOSTILE in mail.text
    assert "\n" not in mail.subject and "\r" not in mail.subject


def test_branding_and_registration_numbers_are_in_both_parts() -> None:
    seller = replace(
        DE_SELLER,
        company_register="Amtsgericht Charlottenburg, HRB 123456 B",
        branding=Branding(logo="/srv/logo.png", primary_colour="#0B3D91", footer="Managing director: Jane Doe"),
    )
    invoice = replace(CORPUS["domestic_standard"], seller=seller)
    mail = render_email(invoice)
    for part in (mail.text, mail.html):
        assert "Amtsgericht Charlottenburg, HRB 123456 B" in part and "DE136695976" in part
        assert "Managing director: Jane Doe" in part and "Friedrichstrasse 10" in part
    assert f'src="cid:{LOGO_CID}"' in mail.html and "#0B3D91" in mail.html
    plain = render_email(replace(invoice, seller=replace(seller, branding=Branding())))
    assert "cid:" not in plain.html and DE_SELLER.name in plain.html


def test_a_credit_note_email_names_the_invoice_it_corrects_and_asks_for_no_payment() -> None:
    credit = CORPUS["credit_note_full"]
    mail = render_email(credit)
    assert mail.subject == f"Credit note {credit.number} from {DE_SELLER.name}"
    assert credit.corrects and credit.corrects in mail.text and credit.corrects in mail.html
    assert "IBAN" not in mail.text and "How to pay" not in mail.text


def test_the_outbox_keeps_which_documents_to_attach_not_their_bytes() -> None:
    invoice = replace(
        CORPUS["domestic_standard"], buyer=replace(CORPUS["domestic_standard"].buyer, invoice_format="ubl")
    )
    payload = notice_payload(invoice)
    assert payload["documents"] == {
        "invoice": invoice.number,
        "formats": ["pdf", "ubl"],
        "sha256": hashlib.sha256(to_json_bytes(invoice, sort_keys=True)).hexdigest(),
    }
    assert payload["to"] == [invoice.buyer.billing_email]
    assert len(to_json_bytes(payload)) < 8000  # text and HTML only; the PDF is rendered at delivery
    assert notice_payload(CORPUS["domestic_sek"])["documents"]["formats"] == ["pdf"]  # the default


def test_an_invoice_carrying_us_sales_tax_goes_as_pdf_whatever_was_asked() -> None:
    invoice = us_invoice()
    line = invoice.lines[0]
    taxed = replace(invoice, lines=(replace(line, tax=replace(line.tax, rule="us_sales_tax")),))
    for asked in ("ubl", "cii", "facturx"):
        customer = replace(taxed, buyer=replace(taxed.buyer, invoice_format=asked))
        assert formats(customer) == ["pdf"]
        assert notice_payload(customer)["documents"]["formats"] == ["pdf"]
    assert formats(replace(invoice, buyer=replace(invoice.buyer, invoice_format="ubl"))) == ["pdf", "ubl"]

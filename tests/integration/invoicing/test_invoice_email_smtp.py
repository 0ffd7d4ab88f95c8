"""The invoice e-mail carries the invoice, over real SMTP (aiosmtpd on loopback): the PDF (the
Factur-X PDF for a customer who takes it) and the UBL or CII file for a customer who asks for it,
rendered at delivery from the stored invoice: the documents of the issued invoice, byte for byte,
sent once. Credit notes the same. The channel is the one the composition root builds."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from email.message import EmailMessage

from lxml import etree
from pypdf import PdfReader
from sqlalchemy import select, update

from handoff.approvals import service as approvals
from handoff.bootstrap import build_channels
from handoff.config import Settings
from handoff.context import AppContext
from handoff.invoicing.documents import render
from handoff.invoicing.documents.facturx import extract_xml
from handoff.invoicing.documents.validation import SAFE_PARSER
from handoff.invoicing.service.issuing import issue_draft, load_invoice
from handoff.kernel.storage import schema
from handoff.worker.outbox import Channel, dead_letters, deliver_due
from tests.builders import event, issued_invoices
from tests.integration.worker.test_outbox_smtp import Inbox, smtp  # noqa: F401  (the fixture)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ON = date(2026, 11, 2)
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
RAM = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
RSM = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"}
UDT = {"ram": RAM["ram"], "rsm": RSM["rsm"]}


def channels(ctx: AppContext, port: int) -> dict[str, Channel]:
    settings = Settings.from_env({"HANDOFF_SMTP_HOST": "127.0.0.1", "HANDOFF_SMTP_PORT": str(port)})
    return build_channels(settings, ctx)  # e-mail over SMTP, the log channel to Python logging


def received(inbox: Inbox, subject_start: str) -> EmailMessage:
    [message] = [m for _, m in inbox.messages if m["Subject"].startswith(subject_start)]
    return message  # type: ignore[no-any-return]


def attached(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    """file name -> (content type, bytes) of each attachment (inline parts are not attachments)."""
    return {
        part.get_filename() or "": (part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
        if part.get_content_disposition() == "attachment"
    }


def test_a_ubl_customer_gets_the_pdf_and_the_ubl_of_the_issued_invoice_once(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    [invoice] = issued_invoices(ctx, [event("e1", T0, deal_id="D-1", invoice_format="UBL")], on=ON)
    number = invoice.number or ""
    report = deliver_due(ctx, channels(ctx, port))
    assert report.dead == 0
    message = received(inbox, f"Invoice {number}")
    assert message["To"] == "ap@kestrel.de"
    files = attached(message)
    assert sorted(files) == [f"{number}-ubl.xml", f"{number}.pdf"]
    pdf_type, pdf = files[f"{number}.pdf"]
    ubl_type, ubl = files[f"{number}-ubl.xml"]
    assert (pdf_type, ubl_type) == ("application/pdf", "application/xml")
    assert pdf.startswith(b"%PDF-") and len(PdfReader(io.BytesIO(pdf)).pages) >= 1
    root = etree.fromstring(ubl, SAFE_PARSER)
    assert root.findtext(f"{CBC}ID") == number
    assert root.findtext(f"{CAC}PaymentMeans/{CBC}PaymentMeansCode") == "58"
    assert root.findtext(f"{CAC}PaymentMeans/{CBC}PaymentID") == invoice.payment_reference
    # exactly the documents of the issued invoice as stored
    stored = load_invoice(ctx, number)
    assert (pdf, ubl) == (render(stored, "pdf"), render(stored, "ubl"))
    # the text says how to pay with the entity's means; the HTML part shows the logo inline
    body = message.get_body(("plain",))
    assert body is not None and ctx.config.entities["ACME-DE"].iban in body.get_content()
    html = message.get_body(("html",))
    assert html is not None and 'src="cid:' in html.get_content()
    logos = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(logos) == 1 and logos[0]["Content-ID"] == "<logo@handoff>"
    # delivered once: a second pass sends nothing
    assert deliver_due(ctx, channels(ctx, port)).delivered == 0
    assert len([m for _, m in inbox.messages if m["Subject"].startswith("Invoice")]) == 1


def test_facturx_cii_and_default_customers_get_their_formats(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    events = [
        event("e1", T0, deal_id="D-FX", customer_id="C-FX", invoice_format="facturx", billing_email="ap@fx.example"),
        event("e2", T0, deal_id="D-CII", customer_id="C-CII", invoice_format="cii", billing_email="ap@cii.example"),
        event("e3", T0, deal_id="D-PDF", customer_id="C-PDF", billing_email="ap@pdf.example"),
    ]
    by_deal = {inv.order_refs[0]: inv.number or "" for inv in issued_invoices(ctx, events, on=ON)}
    assert deliver_due(ctx, channels(ctx, port)).dead == 0

    fx = attached(received(inbox, f"Invoice {by_deal['D-FX']}"))
    assert list(fx) == [f"{by_deal['D-FX']}.pdf"]
    content_type, document = fx[f"{by_deal['D-FX']}.pdf"]
    assert content_type == "application/pdf"
    embedded = etree.fromstring(extract_xml(document), SAFE_PARSER)
    assert embedded.xpath("/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID/text()", namespaces=UDT) == [
        by_deal["D-FX"]
    ]

    cii = attached(received(inbox, f"Invoice {by_deal['D-CII']}"))
    assert sorted(cii) == [f"{by_deal['D-CII']}-cii.xml", f"{by_deal['D-CII']}.pdf"]
    cii_root = etree.fromstring(cii[f"{by_deal['D-CII']}-cii.xml"][1], SAFE_PARSER)
    assert cii_root.xpath("rsm:ExchangedDocument/ram:ID/text()", namespaces=UDT) == [by_deal["D-CII"]]

    plain = attached(received(inbox, f"Invoice {by_deal['D-PDF']}"))
    assert list(plain) == [f"{by_deal['D-PDF']}.pdf"]


def test_a_us_invoice_email_gives_ach_details_and_no_rf_reference_on_its_pdf(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    us = event(
        "e1",
        T0,
        deal_id="D-US",
        country="US",
        billing_state="OR",  # no sales tax in Oregon
        billing_city="Portland",
        billing_postal_code="97201",
        vat_id="",
        legal_entity="ACME-US",
        currency="USD",
        invoice_format="ubl",
    )
    [invoice] = issued_invoices(ctx, [us], on=ON)
    number = invoice.number or ""
    assert invoice.payment_reference == number
    deliver_due(ctx, channels(ctx, port))
    message = received(inbox, f"Invoice {number}")
    entity = ctx.config.entities["ACME-US"]
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert entity.ach_routing_number in text and entity.ach_account_number in text
    assert "IBAN" not in text and "RF" not in text
    # an invoice carrying US sales tax has no EN 16931 file: the customer asking for UBL gets the PDF
    files = attached(message)
    assert list(files) == [f"{number}.pdf"]
    pdf = PdfReader(io.BytesIO(files[f"{number}.pdf"][1]))
    pdf_text = "\n".join(page.extract_text() for page in pdf.pages)
    assert entity.ach_routing_number in pdf_text and entity.ach_account_number in pdf_text
    assert "IBAN" not in pdf_text


def test_a_credit_note_email_carries_the_credit_note(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    [invoice] = issued_invoices(ctx, [event("e1", T0, deal_id="D-1", invoice_format="ubl")], on=ON)
    asked = approvals.request_credit_note(ctx, invoice.number or "", "service outage", "sales.lead@acme.example")
    done = approvals.approve(ctx, asked["id"], "finance.lead@acme.example")
    credit = issue_draft(ctx, done["result_invoice_id"], "finance.lead@acme.example", on=date(2026, 11, 20))
    number = credit.number or ""
    assert deliver_due(ctx, channels(ctx, port)).dead == 0
    message = received(inbox, f"Credit note {number}")
    files = attached(message)
    assert sorted(files) == [f"{number}-ubl.xml", f"{number}.pdf"]
    root = etree.fromstring(files[f"{number}-ubl.xml"][1], SAFE_PARSER)
    assert etree.QName(root).localname == "CreditNote" and root.findtext(f"{CBC}ID") == number
    assert root.findtext(f"{CAC}BillingReference/{CAC}InvoiceDocumentReference/{CBC}ID") == invoice.number
    assert files[f"{number}.pdf"][1] == render(credit, "pdf")


def test_an_invoice_changed_after_it_was_queued_is_not_sent(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    [invoice] = issued_invoices(ctx, [event("e1", T0, deal_id="D-1")], on=ON)
    with ctx.engine.begin() as conn:
        document = conn.execute(select(schema.invoices.c.document)).scalar_one()
        document["po_number"] = "PO-CHANGED"
        conn.execute(update(schema.invoices).values(document=document))
    report = deliver_due(ctx, channels(ctx, port))
    assert report.dead == 1 and not [m for _, m in inbox.messages if m["Subject"].startswith("Invoice")]
    [dead] = dead_letters(ctx)
    assert dead["key"] == f"email:invoice:{invoice.number}" and invoice.number in dead["last_error"]


def test_a_channel_that_cannot_attach_documents_does_not_send_the_email_bare(
    ctx: AppContext,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp
    issued_invoices(ctx, [event("e1", T0, deal_id="D-1")], on=ON)
    settings = Settings.from_env({"HANDOFF_SMTP_HOST": "127.0.0.1", "HANDOFF_SMTP_PORT": str(port)})
    bare = build_channels(settings)  # built without a context: no documents to attach
    report = deliver_due(ctx, bare)
    assert report.dead == 1 and not [m for _, m in inbox.messages if m["Subject"].startswith("Invoice")]
    assert "attach" in dead_letters(ctx)[0]["last_error"]

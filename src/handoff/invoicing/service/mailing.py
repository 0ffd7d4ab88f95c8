"""The e-mail that carries an issued invoice or credit note to the customer.

Written when the document is issued, from the issued document itself: a text and an HTML part
(Jinja2 templates in `templates/email/`, the HTML part autoescaped) with the payment instructions of
the selling entity's configured means (`invoicing.domain.payment`, as the PDF and the e-invoice
state them), its branding, address block, registration numbers and footer text.

The documents are attached at delivery, not stored in the outbox: its row names the invoice, the
formats the customer takes (`invoicing.domain.formats`, from its `invoice_format` as billed) and the
SHA-256 of the issued document. The channel asks `email_documents` for them when it sends: the
stored invoice is loaded, checked to be that very document (issued, same digest; anything else is a
permanent failure, never an e-mail with other documents) and rendered, deterministically, by
`invoicing.documents`; the logo goes along as an inline part of the HTML. So the outbox stays small,
a retried delivery sends the same files, and the files are those `handoff invoice render` gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from handoff.context import AppContext
from handoff.invoicing.documents import MEDIA_TYPES, DocumentError, render, supports
from handoff.invoicing.documents.common import payment_instructions, shows_vat_ids
from handoff.invoicing.documents.letterhead import address_lines, colours, footer_lines, registration_lines
from handoff.invoicing.domain.contacts import BillingContact, as_issued
from handoff.invoicing.domain.formats import attachments
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind
from handoff.invoicing.repository.invoices import InvoiceRepository
from handoff.kernel.delivery import DeliveryError
from handoff.kernel.encoding import to_json_bytes
from handoff.kernel.escaping import header_text
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"
LOGO_CID = "logo@handoff"  # the HTML part's <img src="cid:..."> of the inline logo
DESCRIPTIONS = {
    "pdf": "the {title} as PDF",
    "facturx": "the {title} as Factur-X PDF (readable, with its EN 16931 e-invoice inside)",
    "ubl": "the e-invoice in UBL 2.1 (Peppol BIS Billing 3.0, EN 16931)",
    "cii": "the e-invoice in UN/CEFACT CII (EN 16931)",
}


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    text: str
    html: str


class MailDocument(NamedTuple):
    """A part the channel adds to the e-mail: an attachment, or (with a content id) an inline
    image of the HTML part."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


def attachment_name(number: str, fmt: str) -> str:
    """`INV-DE-2026-000001.pdf` (also the Factur-X PDF), `...-ubl.xml`, `...-cii.xml`."""
    return f"{number}.pdf" if fmt in ("pdf", "facturx") else f"{number}-{fmt}.xml"


def formats(invoice: Invoice) -> list[str]:
    """What the e-mail of `invoice` carries: what its customer takes (`invoice_format`), of what the
    invoice has (one carrying US sales tax is a PDF only: no EN 16931 file, Factur-X included)."""
    wanted = attachments(invoice.buyer.invoice_format)
    found = [fmt for fmt in wanted if supports(invoice, fmt)]
    return found if any(fmt in ("pdf", "facturx") for fmt in found) else ["pdf", *found]


def digest(invoice: Invoice) -> str:
    """SHA-256 of the invoice document as stored (JSON, keys sorted)."""
    return hashlib.sha256(to_json_bytes(invoice, sort_keys=True)).hexdigest()


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _one_line(text: str) -> str:
    """A header value: no line breaks or other control characters (they would forge headers)."""
    return header_text(text)


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def render_email(invoice: Invoice, to: BillingContact | None = None) -> Email:
    """Subject, text and HTML part of the e-mail carrying `invoice` to `to` (default: the contact
    it was issued to)."""
    contact = to or as_issued(invoice)
    seller, number = invoice.seller, invoice.number or ""
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    title = "credit note" if credit else "invoice"
    primary, accent = colours(seller)
    subject = _one_line(f"{title.capitalize()} {number} from {seller.name}")
    values = {
        "subject": subject,
        "greeting": contact.name or invoice.buyer.legal_name,
        "credit": credit,
        "number": number,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "corrects": invoice.corrects or "",
        "amount": _money(invoice.totals.payable, invoice.currency),
        # a credit note asks for no payment; an invoice says how, as its PDF and e-invoice do
        "pay": () if credit else payment_instructions(invoice).lines(),
        "files": [
            {"name": attachment_name(number, fmt), "description": DESCRIPTIONS[fmt].format(title=title)}
            for fmt in formats(invoice)
        ],
        "seller": seller,
        "letterhead": [
            *address_lines(seller),
            *registration_lines(seller, shows_vat_ids(invoice)),
            *(line for line in (seller.email, seller.phone) if line),
        ],
        "footer": footer_lines(seller),
        "logo": bool(seller.branding.logo),
        "logo_cid": LOGO_CID,
        "primary": primary,
        "accent": accent,
    }
    env = _environment()
    return Email(
        subject,
        env.get_template("document.txt").render(values),
        env.get_template("document.html").render(values),
    )


def notice_payload(invoice: Invoice, to: BillingContact | None = None) -> dict[str, Any]:
    """The outbox payload: addresses, subject, text and HTML, and which documents to attach."""
    contact = to or as_issued(invoice)
    mail = render_email(invoice, contact)
    return {
        "to": [contact.email],
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "documents": {
            "invoice": invoice.number,
            "formats": formats(invoice),
            "sha256": digest(invoice),
        },
    }


def queue(uow: UnitOfWork, issued: Invoice, now: datetime, to: BillingContact | None = None, key: str = "") -> None:
    """The issued invoice or credit note to its billing contact (`to`: as changed since issue),
    through the outbox in `uow`'s transaction; `key` names a further sending (default: the first)."""
    kind = "credit_note" if issued.kind is InvoiceKind.CREDIT_NOTE else "invoice"
    payload = notice_payload(issued, to)
    uow.notify(Notice(key or f"email:{kind}:{issued.number}", "email", "invoice", payload), now)


def _logo(path: str) -> MailDocument | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None  # moved since: the HTML part's alt text names the seller instead
    content_type = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return MailDocument(Path(path).name, content_type, data, LOGO_CID)


def email_documents(ctx: AppContext, spec: Mapping[str, Any]) -> list[MailDocument]:
    """The documents an invoice e-mail's outbox row asks for (`documents` of `notice_payload`),
    rendered from the stored invoice, with the seller's logo for the HTML part. A permanent
    DeliveryError when the invoice is not the issued document the e-mail was written for."""
    number = str(spec.get("invoice") or "")
    with ctx.engine.connect() as conn:
        stored = InvoiceRepository(conn).by_number(number)
    if stored is None or stored.status is not DocumentStatus.ISSUED:
        raise DeliveryError(f"invoice {number!r} is not an issued invoice: nothing to attach", permanent=True)
    if digest(stored.invoice) != spec.get("sha256"):
        raise DeliveryError(
            f"invoice {number} is no longer the document this e-mail was written for: not sent", permanent=True
        )
    try:
        parts = [
            MailDocument(attachment_name(number, fmt), MEDIA_TYPES[fmt], render(stored.invoice, fmt))
            for fmt in spec.get("formats", ())
        ]
    except DocumentError as exc:  # the invoice has no such document: trying again will not change that
        raise DeliveryError(f"invoice {number}: {exc}", permanent=True) from exc
    logo = _logo(stored.invoice.seller.branding.logo) if stored.invoice.seller.branding.logo else None
    return parts + ([logo] if logo else [])

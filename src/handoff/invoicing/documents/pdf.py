"""The human-readable invoice / credit note PDF, drawn with ReportLab.

Shows what EN 16931 and Art. 226 of Directive 2006/112/EC ask a reader to see: seller (BG-4, with
a logo placeholder) and buyer (BG-7) with VAT ids, number and dates (BT-1, BT-2, BT-9), purchase
order (BT-13), the corrected invoice of a credit note (BT-25), the lines (BG-25), the VAT
breakdown (BG-23) with exemption reasons, totals (BG-22) and VAT in accounting currency (BT-111),
payment details (IBAN BT-84, BIC BT-86, RF creditor reference BT-83) and the legal notes (BT-22).

Fonts are embedded (DejaVu Sans when installed) so the file can become PDF/A-3 for Factur-X;
Helvetica is the fallback. `invariant=1` keeps output byte-stable for the same invoice.
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from handoff.invoicing.documents.common import (
    NON_VAT_COUNTRIES,
    amount,
    decimal_text,
    payment_terms_text,
    shows_vat_ids,
    vat_id,
)
from handoff.invoicing.domain.invoices import DocumentStatus, Invoice, InvoiceKind

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CATEGORY_NAMES = {
    "S": "Standard rate",
    "Z": "Zero rated",
    "E": "Exempt",
    "AE": "Reverse charge",
    "K": "Intra-community supply",
    "G": "Export",
    "O": "Not subject to VAT",
}
WIDTH, HEIGHT = A4
LEFT, RIGHT, BOTTOM = 20 * mm, WIDTH - 20 * mm, 25 * mm


@lru_cache(maxsize=1)
def fonts() -> tuple[str, str]:
    """(regular, bold) font names, registering DejaVu Sans once per process when available."""
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
        return "DejaVuSans", "DejaVuSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def money(value: Decimal, currency: str) -> str:
    return f"{Decimal(amount(value)):,.2f} {currency}"


class _Page:
    """A canvas with a cursor that starts a new page when the next block would not fit."""

    def __init__(self, pdf: canvas.Canvas, title: str) -> None:
        self.pdf, self.title = pdf, title
        self.regular, self.bold = fonts()
        self.y = HEIGHT - 20 * mm
        self.page = 1

    def need(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self.footer()
            self.pdf.showPage()
            self.page += 1
            self.y = HEIGHT - 20 * mm
            self.text(LEFT, self.title + f" (continued, page {self.page})", 9, bold=True)
            self.y -= 8 * mm

    def footer(self) -> None:
        self.pdf.setFont(self.regular, 7)
        self.pdf.drawRightString(RIGHT, 12 * mm, f"Page {self.page}")

    def text(
        self,
        x: float,
        value: str,
        size: float = 9,
        bold: bool = False,
        right: bool = False,
        y: float | None = None,
    ) -> None:
        self.pdf.setFont(self.bold if bold else self.regular, size)
        draw = self.pdf.drawRightString if right else self.pdf.drawString
        draw(x, self.y if y is None else y, value)

    def lines(self, x: float, values: list[str], size: float = 9, top: float | None = None) -> float:
        """Draw a block of lines from `top` down; return where it ends."""
        y = self.y if top is None else top
        for value in values:
            if value:
                self.text(x, value, size, y=y)
                y -= size * 1.35
        return y


def _header(page: _Page, invoice: Invoice) -> None:
    seller, buyer, pdf = invoice.seller, invoice.buyer, page.pdf
    # Logo placeholder: a framed box where an entity's logo goes once logos are configured.
    pdf.setStrokeGray(0.6)
    pdf.setFillGray(0.92)
    pdf.rect(LEFT, page.y - 18 * mm, 40 * mm, 18 * mm, stroke=1, fill=1)
    pdf.setFillGray(0.45)
    page.text(LEFT + 20 * mm - 8, "LOGO", 9, bold=True, y=page.y - 10 * mm)
    pdf.setFillGray(0)
    show_vat = shows_vat_ids(invoice)
    seller_vat = f"VAT ID {vat_id(seller.country, seller.vat_id)}" if seller.vat_id and show_vat else ""
    page.lines(
        RIGHT - 70 * mm,
        [
            seller.name,
            seller.address.street,
            f"{seller.address.postal_code} {seller.address.city}".strip(),
            seller.address.country or seller.country,
            seller_vat,
            f"Registration {seller.tax_id}" if seller.tax_id else "",
            seller.email,
            seller.phone,
        ],
        8,
    )
    page.y -= 36 * mm
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    title = "CREDIT NOTE" if credit else "INVOICE"
    if invoice.status is DocumentStatus.DRAFT:
        title = "DRAFT " + title
    page.text(LEFT, title, 18, bold=True)
    page.y -= 10 * mm
    top = page.y
    page.text(LEFT, "Bill to", 8, bold=True)
    buyer_vat = f"VAT ID {vat_id(buyer.country, buyer.vat_id)}" if buyer.vat_id and show_vat else ""
    if buyer.vat_id and buyer.country in NON_VAT_COUNTRIES:
        buyer_vat = f"Tax ID {buyer.vat_id}"
    end_buyer = page.lines(
        LEFT,
        [
            buyer.legal_name,
            buyer.billing_contact_name,
            buyer.address.street,
            f"{buyer.address.postal_code} {buyer.address.city}".strip(),
            buyer.address.country or buyer.country,
            buyer_vat,
        ],
        9,
        top=top - 12,
    )
    meta = [
        ("Number", invoice.number or "(not issued)"),
        ("Issue date", invoice.issue_date.isoformat() if invoice.issue_date else ""),
    ]
    if invoice.due_date and not credit:
        meta.append(("Due date", invoice.due_date.isoformat()))
    if invoice.delivery_date:
        meta.append(("Delivery date", invoice.delivery_date.isoformat()))
    if invoice.po_number:
        meta.append(("Your PO", invoice.po_number))
    if invoice.corrects:
        meta.append(("Corrects invoice", invoice.corrects))
        if invoice.corrects_issue_date:
            meta.append(("dated", invoice.corrects_issue_date.isoformat()))
    meta.append(("Orders", ", ".join(invoice.order_refs)))
    meta.append(("Currency", invoice.currency))
    y = top
    for label, value in meta:
        page.text(RIGHT - 70 * mm, label, 8, bold=True, y=y)
        page.text(RIGHT - 40 * mm, value, 8, y=y)
        y -= 11
    page.y = min(end_buyer, y) - 8 * mm


COLUMNS = (LEFT, LEFT + 10 * mm, RIGHT - 92 * mm, RIGHT - 80 * mm, RIGHT - 56 * mm, RIGHT)


def _items(page: _Page, invoice: Invoice) -> None:
    def head() -> None:
        for x, label, right in (
            (COLUMNS[0], "#", False),
            (COLUMNS[1], "Description", False),
            (COLUMNS[3], "Quantity", True),
            (COLUMNS[4], "Unit price", True),
            (COLUMNS[4] + 6, "VAT", False),
            (COLUMNS[5], "Net amount", True),
        ):
            page.text(x, label, 8, bold=True, right=right)
        page.pdf.line(LEFT, page.y - 3, RIGHT, page.y - 3)
        page.y -= 14

    page.need(40)
    head()
    for line in invoice.lines:
        height = 24 if line.note else 13
        if page.y - height < BOTTOM:
            page.need(height + 20)
            head()
        page.text(COLUMNS[0], str(line.line_no), 8)
        page.text(COLUMNS[1], line.description[:60], 8)
        page.text(COLUMNS[3], decimal_text(line.quantity), 8, right=True)
        page.text(COLUMNS[4], decimal_text(line.unit_price), 8, right=True)
        rate = "" if line.tax.category == "O" else f" {decimal_text(line.tax.rate)}%"
        page.text(COLUMNS[4] + 6, f"{line.tax.category}{rate}", 7)
        page.text(COLUMNS[5], money(line.net_amount, invoice.currency), 8, right=True)
        if line.note:
            page.text(COLUMNS[1], line.note, 7, y=page.y - 10)
        page.y -= height
    page.pdf.line(LEFT, page.y + 8, RIGHT, page.y + 8)
    page.y -= 6


def _summary(page: _Page, invoice: Invoice) -> None:
    cur, totals = invoice.currency, invoice.totals
    page.need(14 * (len(invoice.breakdown) + 8))
    page.text(LEFT, "VAT breakdown", 9, bold=True)
    page.y -= 13
    for b in invoice.breakdown:
        rate = "" if b.category == "O" else f" {decimal_text(b.rate)} %"
        page.text(LEFT, f"{CATEGORY_NAMES.get(b.category, b.category)} ({b.category}){rate}", 8)
        page.text(LEFT + 100 * mm, f"base {money(b.taxable_amount, cur)}", 8, right=True)
        page.text(LEFT + 140 * mm, f"VAT {money(b.tax_amount, cur)}", 8, right=True)
        page.y -= 12
    page.y -= 6
    rows = [
        ("Total without VAT", totals.tax_exclusive),
        ("VAT", totals.tax),
        ("Total with VAT", totals.tax_inclusive),
    ]
    if totals.prepaid:
        rows.append(("Paid in advance", totals.prepaid))
    rows.append(("Amount due" if invoice.kind is InvoiceKind.INVOICE else "Amount credited", totals.payable))
    for i, (label, value) in enumerate(rows):
        last = i == len(rows) - 1
        page.text(RIGHT - 60 * mm, label, 10 if last else 9, bold=last)
        page.text(RIGHT, money(value, cur), 10 if last else 9, bold=last, right=True)
        page.y -= 14
    if invoice.tax_currency and invoice.tax_in_tax_currency is not None:
        page.text(
            RIGHT,
            f"VAT in {invoice.tax_currency}: {money(invoice.tax_in_tax_currency, invoice.tax_currency)}"
            f" (rate {decimal_text(invoice.exchange_rate or Decimal(0))})",
            8,
            right=True,
        )
        page.y -= 14


def _payment(page: _Page, invoice: Invoice) -> None:
    seller = invoice.seller
    details = [payment_terms_text(invoice)]
    if seller.iban:
        details.append(f"IBAN {seller.iban}" + (f"   BIC {seller.bic}" if seller.bic else ""))
    if invoice.payment_reference:
        details.append(f"Payment reference: {invoice.payment_reference}")
    notes = [n for n in invoice.notes if n]
    page.need(14 * (len(details) + len(notes) + 3))
    page.y -= 6
    page.text(LEFT, "Payment" if invoice.kind is InvoiceKind.INVOICE else "Refund details", 9, bold=True)
    page.y = page.lines(LEFT, details, 9, top=page.y - 13) - 6
    if notes:
        page.text(LEFT, "Notes", 9, bold=True)
        page.y = page.lines(LEFT, notes, 8, top=page.y - 13)


def render(invoice: Invoice) -> bytes:
    """The PDF of an invoice or credit note (a draft is marked DRAFT)."""
    buffer = io.BytesIO()
    kind = "Credit note" if invoice.kind is InvoiceKind.CREDIT_NOTE else "Invoice"
    title = f"{kind} {invoice.number or 'draft'}"
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    pdf.setTitle(title)
    pdf.setAuthor(invoice.seller.name)
    pdf.setSubject(title)
    page = _Page(pdf, title)
    _header(page, invoice)
    _items(page, invoice)
    _summary(page, invoice)
    _payment(page, invoice)
    page.footer()
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()

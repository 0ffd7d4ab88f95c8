"""The human-readable invoice / credit note PDF, drawn with ReportLab.

Shows what EN 16931 and Art. 226 of Directive 2006/112/EC ask a reader to see: seller (BG-4, under
its logo, or its legal name where it has none, with its registration numbers) and buyer (BG-7) with
VAT ids, number and dates (BT-1, BT-2, BT-9), purchase order (BT-13), the corrected invoice of a
credit note (BT-25), the lines (BG-25) each with its discount (BG-27) under it, the sum of lines and
the document's discounts (BT-106, BG-20), the VAT breakdown (BG-23) with exemption reasons, totals
(BG-22) and VAT in accounting currency (BT-111), payment instructions from the seller's configured
means (`invoicing.domain.payment`: IBAN or ACH account BT-84, BIC or routing number BT-86, reference
BT-83, payment page), the legal notes (BT-22) and the seller's footer text on every page, in its
brand colours. Texts are drawn as literal strings (the canvas interprets no markup), so an entity's
or customer's text cannot restyle the page.

An invoice billing delivered work (`Invoice.annex`: time entries and expenses) gets a "Time and
expense annex" after the totals, on its own page: a table per kind (time: date, person, role,
description, hours, amount; expenses: date, person, category and description, receipt reference,
amount) and the totals per role (per category for expenses). Its cells are ReportLab paragraphs
(so a long description wraps): their text is XML-escaped, never read as markup.

Fonts are embedded (DejaVu Sans, shipped in `pdfa/` with its licence) so the file can become
PDF/A-3 for Factur-X; Helvetica is the fallback should the files be missing. `invariant=1` keeps
output byte-stable for the same invoice.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.colors import HexColor
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, Table, TableStyle

from handoff.invoicing.documents.common import (
    NON_VAT_COUNTRIES,
    amount,
    decimal_text,
    payment_instructions,
    payment_terms_text,
    shows_vat_ids,
    vat_id,
)
from handoff.invoicing.documents.letterhead import address_lines, colours, footer_lines, registrations
from handoff.invoicing.domain.allowances import LineAllowance
from handoff.invoicing.domain.invoices import ANNEX_EXPENSE, ANNEX_TIME, AnnexRow, DocumentStatus, Invoice, InvoiceKind
from handoff.kernel.parties import LegalEntity

FONT_DIR = Path(__file__).parent / "pdfa"  # DejaVu Sans shipped with handoff, with its licence
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
LOGO_WIDTH, LOGO_HEIGHT = 50 * mm, 18 * mm  # the box a logo is scaled into, keeping its proportions
FOOTER_LINES = 5  # what fits between the page body and the page's lower edge


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
        self.footer_text: list[str] = []  # the seller's footer, wrapped, on every page
        self.primary, self.accent = HexColor(0x1F2937), HexColor(0x6B7280)

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
        if self.footer_text:
            self.pdf.setStrokeColor(self.accent)
            self.pdf.line(LEFT, BOTTOM - 3, RIGHT, BOTTOM - 3)
            self.pdf.setStrokeGray(0)
            self.pdf.setFillGray(0.3)
            for i, line in enumerate(self.footer_text[:FOOTER_LINES]):
                self.pdf.drawString(LEFT, BOTTOM - 11 - i * 8.5, line)
            self.pdf.setFillGray(0)

    def wrap_footer(self, entity: LegalEntity) -> None:
        width = RIGHT - LEFT - 25 * mm  # clear of the page number
        self.footer_text = [part for line in footer_lines(entity) for part in simpleSplit(line, self.regular, 7, width)]

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


def _logo(path: str) -> ImageReader | None:
    """The entity's logo, or None when it has none or its file is gone or unreadable since the
    configuration was checked (then its legal name stands in its place)."""
    if not path:
        return None
    try:
        image = ImageReader(path)
        image.getSize()
    except (OSError, ValueError):
        return None
    return image


def _letterhead(page: _Page, seller: LegalEntity) -> None:
    """The logo scaled into its box at the top left, or else the legal name set in text."""
    image = _logo(seller.branding.logo)
    if image is not None:
        width, height = image.getSize()
        scale = min(LOGO_WIDTH / width, LOGO_HEIGHT / height)
        w, h = width * scale, height * scale
        page.pdf.drawImage(image, LEFT, page.y + 3 * mm - h, w, h, mask="auto")
        return
    page.pdf.setFillColor(page.primary)
    for i, line in enumerate(simpleSplit(seller.name, page.bold, 14, 90 * mm)[:2]):
        page.text(LEFT, line, 14, bold=True, y=page.y - i * 17)
    page.pdf.setFillGray(0)


def _fitted(page: _Page, label: str, value: str, width: float = 70 * mm) -> list[str]:
    """`label value` on one line of the seller block where it fits, else the label above the value
    (wrapped), so a number is never broken across lines."""
    line = f"{label} {value}".strip()
    if pdfmetrics.stringWidth(line, page.regular, 8) <= width:
        return [line]
    wrapped: list[str] = simpleSplit(value, page.regular, 8, width)
    return ([label] if label else []) + wrapped


def _header(page: _Page, invoice: Invoice) -> None:
    seller, buyer = invoice.seller, invoice.buyer
    primary, accent = colours(seller)
    page.primary, page.accent = HexColor(primary), HexColor(accent)
    page.wrap_footer(seller)
    _letterhead(page, seller)
    show_vat = shows_vat_ids(invoice)
    block = [part for line in (seller.name, *address_lines(seller)) for part in _fitted(page, "", line)]
    for label, number in registrations(seller, show_vat):
        block += _fitted(page, label, number)
    end_seller = page.lines(RIGHT - 70 * mm, [*block, seller.email, seller.phone], 8)
    page.y = min(page.y - 36 * mm, end_seller - 6 * mm)
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    title = "CREDIT NOTE" if credit else "INVOICE"
    if invoice.status is DocumentStatus.DRAFT:
        title = "DRAFT " + title
    page.pdf.setFillColor(page.primary)
    page.text(LEFT, title, 18, bold=True)
    page.pdf.setFillGray(0)
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
            _city_line(buyer.address.postal_code, buyer.address.city, buyer.address.region),
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
            (COLUMNS[4] + 6, "Tax" if sales_tax(invoice) else "VAT", False),
            (COLUMNS[5], "Net amount", True),
        ):
            page.text(x, label, 8, bold=True, right=right)
        page.pdf.line(LEFT, page.y - 3, RIGHT, page.y - 3)
        page.y -= 14

    page.need(40)
    head()
    # the description wraps (three lines at most) short of the quantity, which is right-aligned
    width = COLUMNS[3] - 16 * mm - COLUMNS[1]
    for line in invoice.lines:
        discounts = [_discount_text(a, invoice.currency) for a in line.allowances]  # BG-27
        described = simpleSplit(line.description, page.regular, 8, width)[:3] or [""]
        extra = 10 * (len(described) - 1)
        height = (24 if line.note else 13) + extra + 10 * len(discounts)
        if page.y - height < BOTTOM:
            page.need(height + 20)
            head()
        page.text(COLUMNS[0], str(line.line_no), 8)
        for n, text in enumerate(described):
            page.text(COLUMNS[1], text, 8, y=page.y - 10 * n)
        page.text(COLUMNS[3], decimal_text(line.quantity), 8, right=True)
        page.text(COLUMNS[4], decimal_text(line.unit_price), 8, right=True)
        rate = "" if line.tax.category == "O" else f" {decimal_text(line.tax.rate)}%"
        page.text(COLUMNS[4] + 6, f"{line.tax.category}{rate}", 7)
        page.text(COLUMNS[5], money(line.net_amount, invoice.currency), 8, right=True)
        if line.note:
            page.text(COLUMNS[1], line.note, 7, y=page.y - 10 - extra)
        for n, text in enumerate(discounts):  # already off the net amount shown
            page.text(COLUMNS[1], text, 7, y=page.y - (21 if line.note else 10) - extra - 10 * n)
        page.y -= height
    page.pdf.line(LEFT, page.y + 8, RIGHT, page.y + 8)
    page.y -= 6


def _discount_label(reason: str, percentage: Decimal | None, base: Decimal | None, cur: str) -> str:
    """`Discount 10 % of 12,000.00 EUR`, or the reason alone for an amount."""
    if percentage is None or base is None:
        return reason
    return f"{reason} {decimal_text(percentage)} % of {money(base, cur)}"


def _discount_text(a: LineAllowance, cur: str) -> str:
    return f"{_discount_label(a.reason, a.percentage, a.base_amount, cur)}: {money(-a.amount, cur)}"


def sales_tax(invoice: Invoice) -> bool:
    """An invoice carrying US sales tax (its lines decided by `us_*` rules), said as such, not VAT."""
    return any(ln.tax.rule.startswith("us_") for ln in invoice.lines)


def jurisdiction_lines(invoice: Invoice) -> list[str]:
    """Each distinct make-up of a sales tax rate: `8.25 % = Texas (state) 6.25 % + ...`."""
    seen: dict[tuple[object, ...], str] = {}
    for ln in invoice.lines:
        parts = ln.tax.jurisdictions
        if parts and (ln.tax.rate, parts) not in seen:
            terms = " + ".join(f"{j.name} ({j.level}) {decimal_text(j.rate)} %" for j in parts)
            seen[(ln.tax.rate, parts)] = f"{decimal_text(ln.tax.rate)} % = {terms}"
    return list(seen.values())


def _city_line(postal_code: str, city: str, region: str) -> str:
    """`10115 Berlin`, or with a state, as US addresses are written: `Austin, TX 78701`."""
    if region:
        return f"{city}, {region} {postal_code}".strip(" ,")
    return f"{postal_code} {city}".strip()


def _summary(page: _Page, invoice: Invoice) -> None:
    cur, totals = invoice.currency, invoice.totals
    page.need(14 * (len(invoice.breakdown) + len(invoice.allowances) + len(jurisdiction_lines(invoice)) + 9))
    word = "Sales tax" if sales_tax(invoice) else "VAT"
    names = {**CATEGORY_NAMES, "S": "Sales tax"} if sales_tax(invoice) else CATEGORY_NAMES
    page.text(LEFT, f"{word} breakdown", 9, bold=True)
    page.y -= 13
    for b in invoice.breakdown:
        rate = "" if b.category == "O" else f" {decimal_text(b.rate)} %"
        page.text(LEFT, f"{names.get(b.category, b.category)} ({b.category}){rate}", 8)
        page.text(LEFT + 100 * mm, f"base {money(b.taxable_amount, cur)}", 8, right=True)
        page.text(LEFT + 140 * mm, f"{'VAT' if word == 'VAT' else 'Tax'} {money(b.tax_amount, cur)}", 8, right=True)
        page.y -= 12
    for text in jurisdiction_lines(invoice):  # what each US sales tax rate is made of
        page.text(LEFT, text, 7)
        page.y -= 10
    page.y -= 6
    if invoice.allowances:  # BT-106, then each BG-20 (a deal's discount per VAT category)
        page.text(RIGHT - 60 * mm, "Sum of lines", 9)
        page.text(RIGHT, money(totals.line_net, cur), 9, right=True)
        page.y -= 14
        for a in invoice.allowances:
            rate = "" if a.category == "O" else f" {decimal_text(a.rate)} %"
            label = f"{_discount_label(a.reason, a.percentage, a.base_amount, cur)} ({a.category}{rate})"
            # in line with the labels below; a long one reaches further left, clear of the amount
            width = pdfmetrics.stringWidth(label, page.regular, 8)
            page.text(min(RIGHT - 60 * mm, RIGHT - 32 * mm - width), label, 8)
            page.text(RIGHT, money(-a.amount, cur), 9, right=True)
            page.y -= 14
    rows = [
        (f"Total without {word if word == 'VAT' else 'tax'}", totals.tax_exclusive),
        (word, totals.tax),
        (f"Total with {word if word == 'VAT' else 'tax'}", totals.tax_inclusive),
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
    # the seller's configured means, as the e-invoice's BG-16 and the e-mail state them
    details = [payment_terms_text(invoice), *payment_instructions(invoice).lines()]
    notes = [n for n in invoice.notes if n]
    page.need(14 * (len(details) + len(notes) + 3))
    page.y -= 6
    page.text(LEFT, "Payment" if invoice.kind is InvoiceKind.INVOICE else "Refund details", 9, bold=True)
    page.y = page.lines(LEFT, details, 9, top=page.y - 13) - 6
    if notes:
        page.text(LEFT, "Notes", 9, bold=True)
        page.y = page.lines(LEFT, notes, 8, top=page.y - 13)


ANNEX_TEXT_LIMIT = 400  # characters of an entry's description shown in the annex (a row fits a page)


def _cell(value: str, style: ParagraphStyle) -> Paragraph:
    """A table cell of user text: escaped, so `<`, `&` and markup print as they are."""
    return Paragraph(escape(value[:ANNEX_TEXT_LIMIT]), style)


def _place(page: _Page, table: Table) -> None:
    """Draw `table` at the cursor, splitting it across pages (its heading row repeated)."""
    width = RIGHT - LEFT
    part: Table | None = table
    fresh = False
    while part is not None:
        avail = page.y - BOTTOM
        _, height = part.wrapOn(page.pdf, width, avail)
        if height <= avail:
            part.drawOn(page.pdf, LEFT, page.y - height)
            page.y -= height
            return
        pieces = part.split(width, avail)
        if len(pieces) < 2:
            if fresh:  # one row taller than a page (cannot be, descriptions are cut): drawn as it is
                part.drawOn(page.pdf, LEFT, page.y - height)
                page.y -= height
                return
            page.need(avail + 1)
            fresh = True
            continue
        first, part = pieces[0], pieces[1]
        _, used = first.wrapOn(page.pdf, width, avail)
        first.drawOn(page.pdf, LEFT, page.y - used)
        page.y -= used
        page.need(page.y - BOTTOM + 1)  # the rest on the next page
        fresh = True


def _annex_table(
    header: Sequence[str], rows: Sequence[Sequence[str | Paragraph]], widths: Sequence[float], right_from: int
) -> Table:
    table = Table([list(header), *[list(r) for r in rows]], colWidths=list(widths), repeatRows=1)
    regular, bold = fonts()
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), regular, 7.5),
                ("FONT", (0, 0), (-1, 0), bold, 7.5),
                ("FONT", (0, -1), (-1, -1), bold, 7.5),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (right_from, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, HexColor(0x1F2937)),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, HexColor(0x1F2937)),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _totals_by(rows: Sequence[AnnexRow]) -> list[tuple[str, Decimal, Decimal]]:
    """(role or category, quantity, amount) in name order."""
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        sums[row.role][0] += row.quantity
        sums[row.role][1] += row.amount
    return [(name, q, a) for name, (q, a) in sorted(sums.items())]


def _annex(page: _Page, invoice: Invoice) -> None:
    """The time and expense annex on a page of its own after the totals."""
    cur = invoice.currency
    regular, _ = fonts()
    style = ParagraphStyle("annex", fontName=regular, fontSize=7.5, leading=9)
    number = ParagraphStyle("annex-number", parent=style, alignment=TA_RIGHT)
    page.footer()
    page.pdf.showPage()
    page.page += 1
    page.y = HEIGHT - 20 * mm
    page.pdf.setFillColor(page.primary)
    page.text(LEFT, "Time and expense annex", 14, bold=True)
    page.pdf.setFillGray(0)
    page.y -= 6 * mm
    page.text(LEFT, f"{page.title}: the time and expenses it bills", 8)
    page.y -= 8 * mm
    time = [r for r in invoice.annex if r.kind == ANNEX_TIME]
    expenses = [r for r in invoice.annex if r.kind == ANNEX_EXPENSE]
    if time:
        page.need(60)
        page.text(LEFT, "Time", 10, bold=True)
        page.y -= 4 * mm
        rows: list[list[str | Paragraph]] = [
            [
                r.day.isoformat(),
                _cell(r.person, style),
                _cell(r.role, style),
                _cell(r.description, style),
                decimal_text(r.quantity),
                _cell(money(r.amount, cur), number),
            ]
            for r in time
        ]
        hours, total = sum((r.quantity for r in time), Decimal(0)), sum((r.amount for r in time), Decimal(0))
        rows.append(["Total", "", "", "", decimal_text(hours), money(total, cur)])
        widths = [18 * mm, 30 * mm, 26 * mm, 58 * mm, 14 * mm, 24 * mm]
        _place(page, _annex_table(["Date", "Person", "Role", "Description", "Hours", "Amount"], rows, widths, 4))
        page.y -= 6 * mm
        page.need(40)
        page.text(LEFT, "Totals per role", 9, bold=True)
        page.y -= 4 * mm
        per_role: list[list[str | Paragraph]] = [
            [_cell(role, style), decimal_text(q), money(a, cur)] for role, q, a in _totals_by(time)
        ]
        per_role.append(["Total", decimal_text(hours), money(total, cur)])
        _place(page, _annex_table(["Role", "Hours", "Amount"], per_role, [70 * mm, 20 * mm, 30 * mm], 1))
        page.y -= 8 * mm
    if expenses:
        page.need(60)
        page.text(LEFT, "Expenses", 10, bold=True)
        page.y -= 4 * mm
        rows = [
            [
                r.day.isoformat(),
                _cell(r.person, style),
                _cell(f"{r.role}: {r.description}" if r.role else r.description, style),
                _cell(r.reference, style),
                _cell(money(r.amount, cur), number),
            ]
            for r in expenses
        ]
        total = sum((r.amount for r in expenses), Decimal(0))
        rows.append(["Total", "", "", "", money(total, cur)])
        widths = [18 * mm, 30 * mm, 70 * mm, 28 * mm, 24 * mm]
        header = ["Date", "Person", "Category / description", "Receipt", "Amount"]
        _place(page, _annex_table(header, rows, widths, 4))
        page.y -= 6 * mm
        page.need(40)
        page.text(LEFT, "Totals per category", 9, bold=True)
        page.y -= 4 * mm
        per_category: list[list[str | Paragraph]] = [
            [_cell(category or "(none)", style), money(a, cur)] for category, _, a in _totals_by(expenses)
        ]
        per_category.append(["Total", money(total, cur)])
        _place(page, _annex_table(["Category", "Amount"], per_category, [70 * mm, 30 * mm], 1))


def render(invoice: Invoice) -> bytes:
    """The PDF of an invoice or credit note (a draft is marked DRAFT)."""
    buffer = io.BytesIO()
    kind = "Credit note" if invoice.kind is InvoiceKind.CREDIT_NOTE else "Invoice"
    title = f"{kind} {invoice.number or 'draft'}"
    # the initial font too is the embedded one: PDF/A allows no font that is not embedded
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1, initialFontName=fonts()[0])
    pdf.setTitle(title)
    pdf.setAuthor(invoice.seller.name)
    pdf.setSubject(title)
    page = _Page(pdf, title)
    _header(page, invoice)
    _items(page, invoice)
    _summary(page, invoice)
    _payment(page, invoice)
    if invoice.annex:
        _annex(page, invoice)
    page.footer()
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()

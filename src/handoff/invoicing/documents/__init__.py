"""Invoice documents: EN 16931 e-invoices (UBL 2.1 per Peppol BIS Billing 3.0, CII D16B),
the readable PDF and Factur-X (CII inside a PDF/A-3).

One entry point: `render(invoice, fmt)` with fmt in `ubl | cii | pdf | facturx`. XML formats need
an issued invoice (BT-1 number, BT-2 date); the PDF of a draft is marked DRAFT.
"""

from __future__ import annotations

from collections.abc import Callable

from handoff.invoicing.documents.common import DocumentError
from handoff.invoicing.domain.invoices import Invoice

FORMATS = ("ubl", "cii", "pdf", "facturx")
MEDIA_TYPES = {
    "ubl": "application/xml",
    "cii": "application/xml",
    "pdf": "application/pdf",
    "facturx": "application/pdf",
}


def _renderer(fmt: str) -> Callable[[Invoice], bytes]:
    # Imported per format so that, say, rendering UBL never loads ReportLab or pypdf.
    if fmt == "ubl":
        from handoff.invoicing.documents import ubl

        return ubl.render
    if fmt == "cii":
        from handoff.invoicing.documents import cii

        return cii.render
    if fmt == "pdf":
        from handoff.invoicing.documents import pdf

        return pdf.render
    if fmt == "facturx":
        from handoff.invoicing.documents import facturx

        return facturx.render
    raise DocumentError(f"unknown document format {fmt!r}: expected one of {', '.join(FORMATS)}")


def supports(invoice: Invoice, fmt: str) -> bool:
    """Whether `invoice` has a document in `fmt`: one carrying US sales tax only a PDF (see `render`)."""
    return fmt.lower() == "pdf" or not any(ln.tax.rule.startswith("us_") for ln in invoice.lines)


def render(invoice: Invoice, fmt: str) -> bytes:
    """The invoice as a document in format `fmt` (ubl, cii, pdf or facturx). An invoice under US
    sales tax is a PDF only: the XML formats are EN 16931, whose VAT categories and rules are the
    EU's (a US sale would be outside their scope, category O, which carries no tax)."""
    fmt = fmt.lower()
    if fmt in FORMATS and not supports(invoice, fmt):
        raise DocumentError(
            f"invoice {invoice.number or '(draft)'} carries US sales tax: {fmt} is an EN 16931 (EU) "
            "e-invoice format; render it as pdf"
        )
    return _renderer(fmt)(invoice)


__all__ = ["FORMATS", "MEDIA_TYPES", "DocumentError", "render", "supports"]

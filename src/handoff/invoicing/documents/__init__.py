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


def render(invoice: Invoice, fmt: str) -> bytes:
    """The invoice as a document in format `fmt` (ubl, cii, pdf or facturx)."""
    return _renderer(fmt.lower())(invoice)


__all__ = ["FORMATS", "MEDIA_TYPES", "DocumentError", "render"]

"""Factur-X / ZUGFeRD 2: the readable PDF with the CII XML (EN 16931 profile) embedded as
`factur-x.xml`, with the PDF/A-3 XMP metadata that marks it as such, via the `factur-x` library.

The library checks the XML against the Factur-X XSD of its level before embedding it; schematron
checks stay with `handoff.invoicing.documents.validation`.
"""

from __future__ import annotations

from handoff.invoicing.documents import cii, pdf
from handoff.invoicing.documents.common import require_issued
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind


def render(invoice: Invoice) -> bytes:
    number, _ = require_issued(invoice)
    from facturx import generate_from_binary  # lazy: pulls in pypdf, needed only here

    kind = "Credit note" if invoice.kind is InvoiceKind.CREDIT_NOTE else "Invoice"
    metadata = {
        "author": invoice.seller.name,
        "keywords": "Factur-X, EN 16931, " + kind,
        "title": f"{invoice.seller.name}: {kind} {number}",
        "subject": f"Factur-X {kind.lower()} {number} of {invoice.issue_date} from {invoice.seller.name}",
    }
    result: bytes = generate_from_binary(
        pdf.render(invoice),
        cii.render(invoice),
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata=metadata,
        lang="en-GB",
    )
    return result


def extract_xml(document: bytes) -> bytes:
    """The embedded CII of a Factur-X PDF (b"" when there is none)."""
    from facturx import get_facturx_xml_from_pdf

    _, xml = get_facturx_xml_from_pdf(document, check_xsd=False)
    return xml or b""

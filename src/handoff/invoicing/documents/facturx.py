"""Factur-X / ZUGFeRD 2: the readable PDF with the CII XML (EN 16931 profile) embedded as
`factur-x.xml`, with the PDF/A-3 XMP metadata that marks it as such, via the `factur-x` library.

A PDF/A-3b file: fonts embedded (DejaVu Sans, shipped in `pdfa/`), an sRGB output intent with its
ICC profile (shipped in `pdfa/`), XMP metadata matching the document information, a file
identifier and a PDF 1.7 header. The library checks the XML against the Factur-X XSD of its level
before embedding it; schematron checks stay with `handoff.invoicing.documents.validation`.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

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
    return pdf_a3(result)


ICC_PROFILE = Path(__file__).parent / "pdfa" / "sRGB.icc"


def pdf_a3(document: bytes) -> bytes:
    """The Factur-X file completed as PDF/A-3: an sRGB output intent (GTS_PDFA1) carrying the ICC
    profile, a file identifier (the same for the same content) and the PDF 1.7 header."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(document)))
    writer.pdf_header = b"%PDF-1.7"
    icc = DecodedStreamObject()
    icc.set_data(ICC_PROFILE.read_bytes())
    icc.update({NameObject("/N"): NumberObject(3)})
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/DestOutputProfile"): writer._add_object(icc),
        }
    )
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    digest = ByteStringObject(hashlib.md5(document, usedforsecurity=False).digest())
    writer._ID = ArrayObject([digest, digest])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def extract_xml(document: bytes) -> bytes:
    """The embedded CII of a Factur-X PDF (b"" when there is none)."""
    from facturx import get_facturx_xml_from_pdf

    _, xml = get_facturx_xml_from_pdf(document, check_xsd=False)
    return xml or b""

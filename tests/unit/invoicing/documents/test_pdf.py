"""The readable PDF and Factur-X: page 1 is not blank, the text carries the invoice number and
total, and a Factur-X file carries a CII that still validates."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from handoff.invoicing.documents import render
from handoff.invoicing.documents.facturx import extract_xml
from handoff.invoicing.documents.pdf import money
from handoff.invoicing.documents.validation import validate
from handoff.invoicing.domain.invoices import amend, draft_invoice
from tests.corpus import DE_BUYER, DE_SELLER, RATES, TERMS, build_corpus, order

CORPUS = build_corpus()
SAMPLES = ["domestic_standard", "consolidated", "credit_note_usd", "domestic_sek", "outside_scope_gb_seller"]
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="pdftoppm/pdftotext not installed (Debian: apt-get install poppler-utils)",
)


def _dark_pixel_share(pgm: Path) -> float:
    """Share of pixels darker than mid-grey in pdftoppm's greyscale (PGM) rendering."""
    data = pgm.read_bytes()
    # Binary PGM (P5): header "P5\n<w> <h>\n<max>\n" then one byte per pixel.
    parts = data.split(b"\n", 3)
    width, height = map(int, parts[1].split())
    pixels = parts[3][: width * height]
    return sum(1 for p in pixels if p < 128) / len(pixels)


@needs_poppler
@pytest.mark.parametrize("name", SAMPLES)
def test_pdf_page_one_is_not_blank_and_shows_number_and_total(name: str, tmp_path: Path) -> None:
    invoice = CORPUS[name]
    document = tmp_path / "invoice.pdf"
    document.write_bytes(render(invoice, "pdf"))
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "50",
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(document),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    # -gray writes a PGM: no image library needed to count pixels.
    share = _dark_pixel_share(tmp_path / "page.pgm")
    assert 0.005 < share < 0.5, f"page 1 looks blank or solid: {share:.4f} dark"
    text = subprocess.run(
        ["pdftotext", "-layout", str(document), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert invoice.number and invoice.number in text
    assert money(invoice.totals.payable, invoice.currency) in text
    assert invoice.payment_reference in text


@needs_poppler
def test_long_invoice_flows_onto_more_pages(tmp_path: Path) -> None:
    lines = [(f"Item {i}", "1", "10.00", "standard", "services") for i in range(120)]
    draft = draft_invoice(order("L-1", DE_BUYER, "EUR", lines), DE_SELLER, RATES, TERMS)
    draft = amend(draft, lines=tuple(replace(ln, note="") for ln in draft.lines))
    document = tmp_path / "long.pdf"
    document.write_bytes(render(draft, "pdf"))
    text = subprocess.run(["pdftotext", str(document), "-"], check=True, capture_output=True, text=True).stdout
    assert "Page 3" in text and "Item 119" in text and "DRAFT INVOICE" in text
    assert money(Decimal("1428.00"), "EUR") in text  # 1200 + 19 % VAT


@pytest.mark.parametrize("name", ["domestic_standard", "credit_note_partial", "domestic_usd_tax_currency"])
def test_facturx_embeds_a_cii_that_validates(name: str) -> None:
    document = render(CORPUS[name], "facturx")
    reader = PdfReader(io.BytesIO(document))
    assert list(reader.attachments) == ["factur-x.xml"]
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp and b"EN 16931" in xmp
    xml = extract_xml(document)
    assert xml == render(CORPUS[name], "cii")
    assert validate(xml) == []

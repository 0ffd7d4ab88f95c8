"""The PDF carries the selling entity's branding and legal details, never a placeholder: its logo
(embedded as an image) or else its legal name in text, its registration numbers, its footer text on
every page and its brand colour; the entity's texts are drawn as they are, markup and all."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from handoff.invoicing.documents import render
from handoff.invoicing.domain.invoices import Invoice, amend, draft_invoice
from handoff.kernel.parties import Branding, LegalEntity
from tests.corpus import DE_BUYER, DE_SELLER, RATES, TERMS, build_corpus, order

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("pdftotext", "pdfimages", "pdftoppm")),
    reason="poppler-utils not installed (Debian: apt-get install poppler-utils)",
)
CORPUS = build_corpus()
FOOTER = "Managing directors: Jane Doe, <b>John</b> Roe & Co\nRegistered office: Berlin"


def with_seller(invoice: Invoice, seller: LegalEntity) -> Invoice:
    return replace(invoice, seller=seller)


def branded(tmp_path: Path, **branding: str) -> LegalEntity:
    logo = tmp_path / "logo.png"
    Image.new("RGB", (240, 80), "#C81E1E").save(logo, "PNG")
    values = {"logo": str(logo), "primary_colour": "#C81E1E", "footer": FOOTER, **branding}
    return replace(
        DE_SELLER,
        company_register="Amtsgericht Charlottenburg, HRB 123456 B",
        tax_id="37/123/45678",
        branding=Branding(**values),
    )


def pdf(tmp_path: Path, invoice: Invoice, name: str = "invoice.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(render(invoice, "pdf"))
    return path


def text_of(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def images_in(path: Path) -> list[str]:
    listing = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True).stdout
    return listing.splitlines()[2:]  # after the two header lines


def red_pixels(path: Path, tmp_path: Path) -> int:
    """Pixels of page 1 close to the brand red #C81E1E, in pdftoppm's colour rendering."""
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-singlefile", str(path), str(tmp_path / "p")])
    data = (tmp_path / "p.ppm").read_bytes()
    header, pixels = data.split(b"\n", 3)[:3], data.split(b"\n", 3)[3]
    width, height = map(int, header[1].split())
    rgb = pixels[: width * height * 3]
    return sum(
        1
        for i in range(0, len(rgb), 3)
        if abs(rgb[i] - 0xC8) < 30 and abs(rgb[i + 1] - 0x1E) < 30 and abs(rgb[i + 2] - 0x1E) < 30
    )


def test_the_logo_is_embedded_and_no_placeholder_is_printed(tmp_path: Path) -> None:
    document = pdf(tmp_path, with_seller(CORPUS["domestic_standard"], branded(tmp_path)))
    text = text_of(document)
    assert "LOGO" not in text
    assert len(images_in(document)) == 1  # the logo, embedded
    assert "Amtsgericht Charlottenburg, HRB 123456 B" in text
    assert "DE136695976" in text and "37/123/45678" in text
    assert "Registered office: Berlin" in text
    # entity text is drawn as written: markup is not interpreted or dropped
    assert "Managing directors: Jane Doe, <b>John</b> Roe & Co" in text
    assert red_pixels(document, tmp_path) > 50  # the logo and the brand colour


def test_without_a_logo_the_legal_name_is_set_in_text(tmp_path: Path) -> None:
    seller = replace(branded(tmp_path), branding=Branding(footer="Thank you for your business"))
    document = pdf(tmp_path, with_seller(CORPUS["domestic_standard"], seller))
    text = text_of(document)
    assert "LOGO" not in text and images_in(document) == []
    assert text.count(DE_SELLER.name) >= 2  # the letterhead and the address block
    assert "Thank you for your business" in text
    assert red_pixels(document, tmp_path) == 0  # no brand colour configured: black and grey


def test_the_footer_is_on_every_page(tmp_path: Path) -> None:
    lines = [(f"Item {i}", "1", "10.00", "standard", "services") for i in range(120)]
    draft = draft_invoice(order("L-1", DE_BUYER, "EUR", lines), branded(tmp_path), RATES, TERMS)
    draft = amend(draft, lines=tuple(replace(ln, note="") for ln in draft.lines))
    document = pdf(tmp_path, draft)
    pages = text_of(document).split("\f")
    filled = [p for p in pages if p.strip()]
    assert len(filled) >= 3
    assert all("Registered office: Berlin" in p for p in filled)


def test_a_logo_gone_since_issue_falls_back_to_the_name(tmp_path: Path) -> None:
    seller = branded(tmp_path, logo=str(tmp_path / "moved-away.png"))
    document = pdf(tmp_path, with_seller(CORPUS["credit_note_full"], seller))
    text = text_of(document)
    assert "LOGO" not in text and images_in(document) == [] and DE_SELLER.name in text

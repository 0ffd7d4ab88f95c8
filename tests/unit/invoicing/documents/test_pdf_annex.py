"""The time and expense annex: an invoice billing delivered work prints its entries after the totals
(a table per kind, totals per role), user text as typed (escaped for ReportLab's paragraphs), over as
many pages as it takes; Factur-X embeds the same PDF (fonts embedded, its CII valid); an invoice
without an annex renders as before. The UBL carries each line's note (BT-127) and period (BG-26)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pikepdf
from facturx import get_facturx_xml_from_pdf
from lxml import etree
from pypdf import PdfReader

from handoff.invoicing.documents import render
from handoff.invoicing.documents.validation import SAFE_PARSER, validate
from handoff.invoicing.domain.invoices import AnnexRow, Invoice
from tests.corpus import build_corpus

HOSTILE = 'Review <b>schema</b> & <font size="40">PAID</font>'
UBL = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def _invoice(entries: int = 3) -> Invoice:
    base = build_corpus()["domestic_standard"]
    time = [
        AnnexRow(
            "time",
            date(2027, 1, 4) + timedelta(days=n % 20),
            "Ada Byrne" if n % 2 else "Lin Okafor",
            "architect" if n % 3 else "developer",
            HOSTILE if n == 0 else f"Task {n:03d}",
            Decimal("1.25"),
            Decimal("187.50"),
            f"h-{n}",
        )
        for n in range(entries)
    ]
    expense = AnnexRow(
        "expense", date(2027, 1, 6), "Ada Byrne", "travel", "Train Berlin-Hamburg", Decimal(1), Decimal("89.90"), "R-77"
    )
    return replace(base, annex=(*time, expense))


def _with_note(invoice: Invoice) -> Invoice:
    """The first line billing a month of delivered work: its source as the note, its period."""
    line = replace(
        invoice.lines[0],
        note="project PRJ-C-1: 2 time entries (harvest), January 2027",
        period_start=date(2027, 1, 1),
        period_end=date(2027, 1, 31),
    )
    return replace(invoice, lines=(line, *invoice.lines[1:]))


def _text(document: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(document))
    return len(reader.pages), " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_the_annex_lists_the_entries_and_the_totals_per_role() -> None:
    plain = build_corpus()["domestic_standard"]
    pages_before, before = _text(render(plain, "pdf"))
    assert "Time and expense annex" not in before
    pages, text = _text(render(_invoice(), "pdf"))
    assert pages == pages_before + 1  # the annex on its own page
    assert "Time and expense annex" in text
    assert HOSTILE in text  # escaped: printed as typed, not read as markup
    assert "2027-01-05 Ada Byrne architect Task 001 1.25 187.50 EUR" in text
    # totals per role: developer n=0 (1.25 h), architect n=1,2 (2.5 h); all 3.75 h
    assert "developer 1.25 187.50 EUR" in text
    assert "architect 2.5 375.00 EUR" in text
    assert "Total 3.75 562.50 EUR" in text
    assert "2027-01-06 Ada Byrne travel: Train Berlin-Hamburg R-77 89.90 EUR" in text
    assert "travel 89.90 EUR" in text


def test_a_long_annex_runs_over_pages_with_every_entry() -> None:
    pages, text = _text(render(_invoice(150), "pdf"))
    assert pages >= 4
    assert all(f"Task {n:03d}" in text for n in range(1, 150))
    assert "Total 187.5 28,125.00 EUR" in text  # 150 x 1.25 h


def test_factur_x_embeds_the_annex_with_fonts_embedded_and_a_valid_cii() -> None:
    document = render(_with_note(_invoice()), "facturx")
    _, text = _text(document)
    assert "Time and expense annex" in text and "Task 002" in text
    with pikepdf.open(io.BytesIO(document)) as pdf:
        for page in pdf.pages:
            for _, font in page.Resources.Font.items():
                descendants = font.get("/DescendantFonts")
                target = descendants[0] if descendants is not None else font
                descriptor = target.get("/FontDescriptor")
                assert descriptor is not None and any(k in descriptor for k in ("/FontFile", "/FontFile2")), font
    _, xml = get_facturx_xml_from_pdf(document, check_xsd=True)
    assert validate(xml) == []
    cii = etree.fromstring(xml, SAFE_PARSER)
    notes = [el.text for el in cii.iter("{*}Content")]
    assert "project PRJ-C-1: 2 time entries (harvest), January 2027" in notes
    assert cii.find(".//{*}BillingSpecifiedPeriod") is not None


def test_ubl_lines_carry_their_note_and_period() -> None:
    invoice = _with_note(_invoice())
    line = invoice.lines[0]
    xml = render(invoice, "ubl")
    root = etree.fromstring(xml, SAFE_PARSER)
    first = root.find("{*}InvoiceLine")
    assert first is not None
    assert first.findtext("cbc:Note", namespaces=UBL) == line.note
    period = first.find("{*}InvoicePeriod")
    assert period is not None
    assert period.findtext("cbc:StartDate", namespaces=UBL) == "2027-01-01"
    assert period.findtext("cbc:EndDate", namespaces=UBL) == "2027-01-31"
    assert validate(xml) == []
    assert b"Task 001" not in xml  # the annex is the PDF's, not the e-invoice's


def test_a_long_line_description_wraps_in_full_beside_the_quantity() -> None:
    """A description wider than its column is wrapped (up to three lines), not cut, and the line
    below starts under it: nothing of it is lost and nothing is drawn over the quantity."""
    base = build_corpus()["domestic_standard"]
    long = "Senior consultant, February 2027: 76.50 h at 130.00 (solution design workshops, Hamburg)"
    document = render(replace(base, lines=(replace(base.lines[0], description=long), *base.lines[1:])), "pdf")
    _, text = _text(document)
    assert "workshops, Hamburg)" in text  # beyond the 60 characters the table used to cut at
    drawn: list[tuple[float, float, str]] = []  # (x, y, text) of each fragment on page 1

    def visit(fragment: str, _cm: object, tm: list[float], _font: object, _size: object) -> None:
        if fragment.strip():
            drawn.append((tm[4], tm[5], fragment.strip()))

    PdfReader(io.BytesIO(document)).pages[0].extract_text(visitor_text=visit)
    rows = {round(y) for x, y, t in drawn if "Senior consultant" in t or "Hamburg" in t}
    assert len(rows) == 2  # over two lines of the table
    quantity_x = next(x for x, _, t in drawn if t == "Quantity")
    assert all(x < quantity_x for x, y, t in drawn if round(y) in rows and ("Senior" in t or "Hamburg" in t))

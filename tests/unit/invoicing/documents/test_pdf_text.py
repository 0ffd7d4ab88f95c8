"""The PDF shows a customer's or seller's text as typed: `<`, `&` and markup-looking text are drawn
literally (the canvas interprets no markup, unlike ReportLab's Paragraph), so a name can neither
break the rendering nor restyle the page."""

from __future__ import annotations

import io
from dataclasses import replace

from pypdf import PdfReader

from handoff.invoicing.documents import render
from tests.corpus import build_corpus

HOSTILE = 'Müller & <b>Söhne</b> <font color="red" size="40">PAID</font> &amp; <br/>'


def test_markup_in_names_is_drawn_literally() -> None:
    invoice = build_corpus()["domestic_standard"]
    invoice = replace(
        invoice,
        buyer=replace(invoice.buyer, legal_name=HOSTILE),
        seller=replace(invoice.seller, name=HOSTILE),
    )
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render(invoice, "pdf"))).pages)
    flat = " ".join(text.split())
    assert flat.count(" ".join(HOSTILE.split())) >= 2, flat[:400]

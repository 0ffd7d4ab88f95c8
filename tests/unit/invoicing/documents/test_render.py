"""The `render(invoice, fmt)` entry point."""

from __future__ import annotations

import pytest

from handoff.invoicing.documents import FORMATS, DocumentError, render
from handoff.invoicing.domain.invoices import draft_invoice
from tests.corpus import DE_BUYER, DE_SELLER, RATES, SAAS, TERMS, build_corpus, order

ISSUED = build_corpus()["domestic_standard"]


def test_every_format_renders_its_kind_of_bytes() -> None:
    magic = {"ubl": b"<?xml", "cii": b"<?xml", "pdf": b"%PDF", "facturx": b"%PDF"}
    for fmt in FORMATS:
        assert render(ISSUED, fmt).startswith(magic[fmt]), fmt
    assert b"<Invoice " in render(ISSUED, "UBL")


def test_unknown_format_and_unissued_xml_are_refused() -> None:
    with pytest.raises(DocumentError, match="unknown document format"):
        render(ISSUED, "docx")
    draft = draft_invoice(order("R-9", DE_BUYER, "EUR", [SAAS]), DE_SELLER, RATES, TERMS)
    for fmt in ("ubl", "cii", "facturx"):
        with pytest.raises(DocumentError, match="only an issued invoice"):
            render(draft, fmt)
    assert render(draft, "pdf").startswith(b"%PDF")  # a draft can be previewed


def test_rendering_is_deterministic() -> None:
    for fmt in ("ubl", "cii", "pdf"):
        assert render(ISSUED, fmt) == render(ISSUED, fmt), fmt

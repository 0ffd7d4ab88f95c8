"""Stored invoices read back equal to what was stored, for every document in the corpus."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handoff.invoicing.domain.invoices import InvoiceError, compute_breakdown, invoice_from_json
from handoff.kernel.encoding import to_json_bytes, to_json_bytes_sharing, to_jsonable
from tests.corpus import build_corpus


def test_every_corpus_invoice_round_trips_exactly() -> None:
    corpus = build_corpus()
    assert len(corpus) >= 10
    for name, invoice in corpus.items():
        assert invoice_from_json(to_jsonable(invoice)) == invoice, name


def test_sharing_the_seller_writes_the_same_bytes() -> None:
    """A draft's document is written with its seller serialised once per entity: the bytes must be
    those of the plain serialisation, for every corpus document, and a changed seller must show."""
    corpus = build_corpus()
    for name, invoice in corpus.items():
        assert to_json_bytes_sharing(invoice, ("seller",)) == to_json_bytes(invoice), name
    invoice = next(iter(corpus.values()))
    renamed = replace(invoice, seller=replace(invoice.seller, name="Another Name GmbH"))
    assert b"Another Name GmbH" in to_json_bytes_sharing(renamed, ("seller",))
    assert to_json_bytes_sharing(renamed, ("seller",)) == to_json_bytes(renamed)


def test_breakdown_and_totals_are_recomputed_for_other_lines() -> None:
    """Invoices remember the last breakdown by the identity of its lines; new lines must not get it."""
    invoice = next(iter(build_corpus().values()))
    line = invoice.lines[0]
    doubled = replace(line, quantity=line.quantity * 2, net_amount=line.net_amount * 2)
    lines = (doubled, *invoice.lines[1:])
    assert compute_breakdown(invoice.lines, invoice.allowances) == invoice.breakdown
    assert compute_breakdown(lines, invoice.allowances) != invoice.breakdown
    assert compute_breakdown(list(lines), invoice.allowances) == compute_breakdown(lines, invoice.allowances)
    with pytest.raises(InvoiceError):
        replace(invoice, lines=lines)  # the old totals no longer follow from the lines

"""Stored invoices read back equal to what was stored, for every document in the corpus."""

from __future__ import annotations

from handoff.invoicing.domain.invoices import invoice_from_json
from handoff.kernel.encoding import to_jsonable
from tests.corpus import build_corpus


def test_every_corpus_invoice_round_trips_exactly() -> None:
    corpus = build_corpus()
    assert len(corpus) >= 10
    for name, invoice in corpus.items():
        assert invoice_from_json(to_jsonable(invoice)) == invoice, name

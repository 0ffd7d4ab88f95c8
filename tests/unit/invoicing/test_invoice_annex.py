"""An invoice's time and expense annex in JSON: without one, an invoice serialises to exactly the bytes
it did before `annex` existed (so a digest taken then still matches, and a stored document without the
key reads back with an empty annex); with one, it round-trips. A contract charge carries its note to
its invoice line (BT-127) and its annex rows to the invoice, in charge order."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import date
from decimal import Decimal

import orjson

from handoff.invoicing.domain.contract_invoices import ContractCharge, draft_for_charges
from handoff.invoicing.domain.invoices import AnnexRow, Invoice, annex_from_json, invoice_from_json
from handoff.kernel.encoding import _default, to_json_bytes, to_json_bytes_sharing, to_jsonable
from tests.corpus import DE_BUYER, DE_SELLER, RATES, TERMS, build_corpus

ROWS = (
    AnnexRow(
        "time", date(2027, 1, 4), "Ada Byrne", "architect", "Data model", Decimal("3.50"), Decimal("525.00"), "h-1"
    ),
    AnnexRow("expense", date(2027, 1, 6), "Ada Byrne", "travel", "Train", Decimal(1), Decimal("89.90"), "R-77"),
)


def _before_annex(invoice: Invoice, sort_keys: bool = False) -> bytes:
    """The invoice's JSON as it was written before the field existed: every other field, in order."""
    fields = {f.name: getattr(invoice, f.name) for f in dataclasses.fields(Invoice) if f.name != "annex"}
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(fields, default=_default, option=option)


def test_an_invoice_without_annex_serialises_as_before() -> None:
    invoice = build_corpus()["domestic_standard"]
    assert invoice.annex == ()
    assert to_json_bytes(invoice) == _before_annex(invoice)
    assert to_json_bytes(invoice, sort_keys=True) == _before_annex(invoice, sort_keys=True)  # mail digests
    assert to_json_bytes_sharing(invoice, ("seller",)) == _before_annex(invoice)
    doc = to_jsonable(invoice)
    assert "annex" not in doc
    assert invoice_from_json(doc) == invoice


def test_an_invoice_with_annex_round_trips() -> None:
    invoice = replace(build_corpus()["domestic_standard"], annex=ROWS)
    doc = to_jsonable(invoice)
    assert doc["annex"][0] == {
        "kind": "time",
        "day": "2027-01-04",
        "person": "Ada Byrne",
        "role": "architect",
        "description": "Data model",
        "quantity": "3.50",
        "amount": "525.00",
        "reference": "h-1",
    }
    back = invoice_from_json(doc)
    assert back == invoice and back.annex == ROWS
    assert to_json_bytes_sharing(invoice, ("seller",)) == to_json_bytes(invoice)
    assert invoice_from_json(orjson.loads(to_json_bytes(invoice))).annex == ROWS
    assert annex_from_json(doc["annex"]) == ROWS


def test_a_charge_brings_its_note_to_the_line_and_its_rows_to_the_annex() -> None:
    time = ContractCharge(
        "C-1",
        "L1",
        "time:2027-01:1",
        "Architect, January 2027: 3.50 h",
        Decimal("3.50"),
        Decimal("150.00"),
        Decimal("525.00"),
        Decimal(0),
        "standard",
        "services",
        period_start=date(2027, 1, 1),
        period_end=date(2027, 2, 1),
        trigger="time",
        note="project PRJ-C-1: 1 time entry, January 2027",
        annex=ROWS[:1],
    )
    expense = replace(
        time,
        line_key="expenses",
        period_key="expenses:2027-01:1",
        quantity=Decimal(1),
        unit_price=Decimal("89.90"),
        gross=Decimal("89.90"),
        note="project PRJ-C-1: 1 expense",
        annex=ROWS[1:],
    )
    plain = replace(time, line_key="L2", period_key="once", note="", annex=())
    invoice = draft_for_charges(
        [time, plain, expense], DE_BUYER, DE_SELLER, RATES, TERMS, currency="EUR", payment_terms="net30"
    )
    assert [ln.note for ln in invoice.lines] == [time.note, "", expense.note]
    assert invoice.lines[0].period_end == date(2027, 1, 31)
    assert invoice.annex == ROWS

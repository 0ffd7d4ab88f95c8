"""A reminder says how to pay as the invoice did: the selling entity's configured means (an IBAN
for the German entity, the ACH account for the US one), never an IBAN the entity does not have."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from handoff.collections.service import run_dunning
from handoff.context import AppContext
from tests.builders import by_deal, event, issued_invoices

T0 = datetime(2026, 11, 1, tzinfo=UTC)
US = {
    "country": "US",
    "billing_state": "OR",  # no sales tax in Oregon
    "billing_city": "Portland",
    "billing_postal_code": "97201",
    "vat_id": "",
    "legal_entity": "ACME-US",
    "currency": "USD",
}


def test_reminders_give_each_entity_s_own_payment_means(ctx: AppContext) -> None:
    events = [event("e1", T0, deal_id="D-DE"), event("e2", T0, deal_id="D-US", customer_id="C-US", **US)]
    issued = by_deal(issued_invoices(ctx, events, on=date(2026, 11, 2)))
    due = max(inv.due_date for inv in issued.values() if inv.due_date)
    run = run_dunning(ctx, today=due + timedelta(days=20), dry_run=True)
    letters = {letter.reminder.invoice_number: letter.text for letter in run.letters}
    de, us = letters[issued["D-DE"].number or ""], letters[issued["D-US"].number or ""]
    assert f"IBAN {ctx.config.entities['ACME-DE'].iban}" in de and issued["D-DE"].payment_reference in de
    entity = ctx.config.entities["ACME-US"]
    assert f"ABA routing number {entity.ach_routing_number}, account number {entity.ach_account_number}" in us
    assert "IBAN" not in us and issued["D-US"].number in us

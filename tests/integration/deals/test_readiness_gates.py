"""What readiness keeps out, against a real database (SQLite and PostgreSQL): a deal file's bad line
values and a deal amount that disagrees with its lines land in the exception queue (the event is
applied, not failed, and no invoice is drafted); and only a deal that passes readiness changes the
customer master, with its country resolved to the ISO code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.formats import read_deal_file
from handoff.deals.service.intake import ingest
from handoff.deals.service.orders import exception_queue
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.storage import schema
from tests.builders import GOOD, event, line, owner_user
from tests.integration.deals.test_intake_flow import count, state

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def import_file(ctx: AppContext, tmp_path: Path, deals: list[dict[str, Any]]) -> Any:
    path = tmp_path / "deals.json"
    path.write_text(json.dumps(deals), encoding="utf-8")
    _, report = ingest(ctx, read_deal_file(path), render_ahead=True)
    return report


def problems(ctx: AppContext, deal_id: str) -> list[tuple[str, str]]:
    [item] = [x for x in exception_queue(ctx) if x["deal_id"] == deal_id]
    return [(p["code"], p["field"]) for p in item["problems"]]


def customer(ctx: AppContext, customer_id: str = "C-1") -> tuple[str, str, str]:
    c = schema.customers
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(c.c.billing_email, c.c.country, c.c.legal_name).where(c.c.customer_id == customer_id)
        ).one()
    return row.billing_email, row.country, row.legal_name


def test_import_of_a_bad_line_opens_the_exception_and_fails_no_event(ctx: AppContext, tmp_path: Path) -> None:
    owner_user(ctx)
    bad = {**GOOD, "deal_id": "BAD", "lines": [line(), line(), line(unit_price="abc")]}
    good = {**GOOD, "deal_id": "OK", "lines": [line(), line(), line()]}
    report = import_file(ctx, tmp_path, [bad, good])
    assert (report.applied, report.failed) == (2, 0)
    assert count(ctx, schema.inbox, schema.inbox.c.status == "failed") == 0
    assert state(ctx, "BAD") == "blocked"
    assert problems(ctx, "BAD") == [("invalid", "lines[2].unit_price")]
    assert state(ctx, "OK") == "drafted"
    assert count(ctx, schema.invoices) == 1  # the good deal's draft only


def test_amount_mismatch_blocks_instead_of_invoicing_the_lines(ctx: AppContext, tmp_path: Path) -> None:
    owner_user(ctx)
    lines = [line(quantity="3", unit_price="5000.00"), line(unit_price="2850.00")]  # 17,850.00
    import_file(ctx, tmp_path, [{**GOOD, "amount": "1000.00", "lines": lines}])
    assert state(ctx) == "blocked"
    assert problems(ctx, "D-1") == [("amount_mismatch", "amount")]
    assert count(ctx, schema.invoices) == 0


def test_a_blocked_deal_leaves_the_customer_master_as_it_was(ctx: AppContext) -> None:
    ingest(ctx, [event("e1", T0)])
    assert customer(ctx) == ("ap@kestrel.de", "DE", "Kestrel Labs GmbH")
    upsell = event(
        "e2",
        T0 + timedelta(days=30),
        deal_id="D-2",
        billing_email="ap at wrong",
        country="Germany",
        customer_legal_name="Kestrel Labs AG",
    )
    ingest(ctx, [upsell])
    assert state(ctx, "D-2") == "blocked"
    assert customer(ctx) == ("ap@kestrel.de", "DE", "Kestrel Labs GmbH")


def test_a_deal_not_won_leaves_the_customer_master_as_it_was(ctx: AppContext) -> None:
    ingest(ctx, [event("e1", T0)])
    ingest(ctx, [event("e2", T0, deal_id="D-2", stage="negotiation", billing_email="new@kestrel.de")])
    assert customer(ctx)[0] == "ap@kestrel.de"


def test_a_ready_deal_stores_the_resolved_country(ctx: AppContext) -> None:
    ingest(
        ctx,
        [
            event("e1", T0, country="Germany"),
            event("e2", T0, deal_id="D-2", customer_id="C-2", country="Georgia", vat_id=""),
            event("e3", T0, deal_id="D-3", customer_id="C-3", country="United States", vat_id="", billing_state="NY"),
        ],
    )
    assert [state(ctx, d) for d in ("D-1", "D-2", "D-3")] == ["drafted"] * 3
    assert [customer(ctx, c)[1] for c in ("C-1", "C-2", "C-3")] == ["DE", "GE", "US"]
    with ctx.engine.connect() as conn:
        tax = conn.execute(
            select(schema.invoices.c.tax_amount).where(schema.invoices.c.customer_id == "C-1")
        ).scalar_one()
    assert tax == 2280  # a domestic German sale: 19 % of 12,000


def test_an_amendment_after_issue_updates_the_customer_only_when_it_passes(ctx: AppContext) -> None:
    ingest(ctx, [event("e1", T0)])
    issue_all_drafts(ctx, "finance@test")
    ingest(ctx, [event("e2", T0 + timedelta(days=1), billing_email="ap at wrong")])
    assert customer(ctx)[0] == "ap@kestrel.de"
    ingest(ctx, [event("e3", T0 + timedelta(days=2), billing_email="payables@kestrel.de")])
    assert customer(ctx)[0] == "payables@kestrel.de"  # the customer's new address, for reminders

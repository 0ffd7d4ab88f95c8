"""Discounts through intake, against a real database (SQLite and PostgreSQL): a deal with 12,000 of
lines and `discount: "10%"` is drafted and issued at a net of 10,800 with VAT on 10,800 (it was
billed at 12,000, the discount dropped); a line's discount lowers that line; and a bad discount
blocks the deal in the exception queue, naming the field, without failing its event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.formats import read_deal_file
from handoff.deals.service.intake import ingest
from handoff.invoicing.documents import render
from handoff.invoicing.documents.validation import validate
from handoff.invoicing.domain.invoices import invoice_from_json
from handoff.invoicing.service.issuing import issue_all_drafts
from handoff.kernel.storage import schema
from tests.builders import GOOD, deal_with_lines, line, owner_user
from tests.integration.deals.test_intake_flow import count, state
from tests.integration.deals.test_readiness_gates import problems

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def draft_amounts(ctx: AppContext, deal_id: str) -> tuple[Decimal, Decimal, Decimal]:
    i, io, o = schema.invoices, schema.invoice_orders, schema.orders
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(i.c.net_amount, i.c.tax_amount, i.c.gross_amount)
            .join(io, io.c.invoice_id == i.c.id)
            .join(o, o.c.id == io.c.order_id)
            .where(o.c.deal_id == deal_id)
        ).one()
    return Decimal(row.net_amount), Decimal(row.tax_amount), Decimal(row.gross_amount)


def test_a_ten_percent_deal_discount_is_invoiced_at_10800_with_vat_on_10800(ctx: AppContext) -> None:
    deal = deal_with_lines([line(), line(), line()], discount="10%")  # 3 x 4,000.00, amount 12,000.00
    ingest(ctx, [DealEvent("crm", "e1", T0, deal)])
    assert state(ctx, "D-1") == "drafted"
    assert draft_amounts(ctx, "D-1") == (Decimal("10800.00"), Decimal("2052.00"), Decimal("12852.00"))
    (issued,) = issue_all_drafts(ctx, "finance@test")
    totals = issued.totals
    assert (totals.line_net, totals.allowances, totals.tax_exclusive) == (12000, 1200, 10800)
    assert [(b.category, b.rate, b.taxable_amount, b.tax_amount) for b in issued.breakdown] == [
        ("S", Decimal("19"), Decimal("10800.00"), Decimal("2052.00"))
    ]
    (allowance,) = issued.allowances
    assert (allowance.amount, allowance.base_amount, allowance.percentage) == (1200, 12000, 10)
    for fmt in ("ubl", "cii"):  # EN 16931 (the configured entities are not all Peppol-complete)
        assert validate(render(issued, fmt), peppol=False) == [], fmt


def test_the_deal_amount_may_be_given_after_the_deal_discount_too(ctx: AppContext) -> None:
    deal = deal_with_lines([line(), line(), line()], discount="10%", amount="10800.00")
    ingest(ctx, [DealEvent("crm", "e1", T0, deal)])
    assert draft_amounts(ctx, "D-1")[0] == Decimal("10800.00")


def test_a_deal_file_with_a_discount_column_and_line_discounts(ctx: AppContext, tmp_path: Path) -> None:
    csv_path = tmp_path / "deals.csv"
    header = [*GOOD, "discount"]
    row = [GOOD[k] for k in GOOD] + ["10%"]
    csv_path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    ingest(ctx, read_deal_file(csv_path))
    assert draft_amounts(ctx, "D-1") == (Decimal("10800.00"), Decimal("2052.00"), Decimal("12852.00"))

    lines = [line(discount="10%"), line(discount="400.00"), line()]  # 3,600 + 3,600 + 4,000
    json_path = tmp_path / "deals.json"
    json_path.write_text(json.dumps([{**GOOD, "deal_id": "D-2", "amount": "11200.00", "lines": lines}]), "utf-8")
    ingest(ctx, read_deal_file(json_path))
    assert draft_amounts(ctx, "D-2") == (Decimal("11200.00"), Decimal("2128.00"), Decimal("13328.00"))
    i = schema.invoices
    with ctx.engine.connect() as conn:
        docs = [invoice_from_json(d) for d in conn.execute(select(i.c.document).order_by(i.c.id)).scalars()]
    second = docs[1]
    assert [ln.net_amount for ln in second.lines] == [Decimal("3600.00"), Decimal("3600.00"), Decimal("4000.00")]
    assert [(a.amount, a.percentage) for ln in second.lines for a in ln.allowances] == [
        (Decimal("400.00"), Decimal("10")),
        (Decimal("400.00"), None),
    ]


def deals_file(tmp_path: Path, deals: list[dict[str, Any]]) -> Path:
    path = tmp_path / "deals.json"
    path.write_text(json.dumps(deals), encoding="utf-8")
    return path


def test_a_bad_discount_blocks_the_deal_and_fails_no_event(ctx: AppContext, tmp_path: Path) -> None:
    owner_user(ctx)
    deals = [
        {**GOOD, "deal_id": "PCT", "discount": "110%"},
        {**GOOD, "deal_id": "TEXT", "discount": "ten percent"},
        {**GOOD, "deal_id": "MORE", "discount": "12000.01"},
        {**GOOD, "deal_id": "LINE", "lines": [line(), line(discount="4000.01"), line()]},
        {**GOOD, "deal_id": "NEG", "lines": [line(), line(), line(discount="-5%")]},
    ]
    _, report = ingest(ctx, read_deal_file(deals_file(tmp_path, deals)))
    assert (report.applied, report.failed) == (5, 0)
    assert count(ctx, schema.inbox, schema.inbox.c.status == "failed") == 0
    assert count(ctx, schema.invoices) == 0
    expected = {
        "PCT": [("invalid", "discount")],
        "TEXT": [("invalid", "discount")],
        "MORE": [("invalid", "discount")],
        "LINE": [("invalid", "lines[1].discount")],
        "NEG": [("invalid", "lines[2].discount")],
    }
    for deal_id, found in expected.items():
        assert state(ctx, deal_id) == "blocked", deal_id
        assert problems(ctx, deal_id) == found, deal_id

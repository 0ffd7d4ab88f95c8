"""The demo's usage contract billed on SQLite and PostgreSQL: its invoice equals a hand calculation.

The story is the demo's (`handoff.demo.usage.run_usage_story`): Brightwave Software's contract
locked with two usage lines, January 2027's events recorded a day at a time (three servers'
hourly API-call reports, two regions' daily storage snapshots), one report sent twice, one
cancelled by a reversal, one arriving inside the grace period and one after January was rated;
January rated on 2027-02-04 and drafted by the billing run of that day. The expected numbers below
were worked out by hand from the story's rules (`calls`, `stored_gb`), not by running the code.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.demo import usage as demo
from handoff.invoicing.domain.invoices import Invoice
from handoff.kernel.storage import schema
from handoff.usage.service.queries import SubscriptionUsage
from handoff.usage.service.rating import rate_usage
from handoff.users import service as users
from handoff.users.service import Role

D = Decimal

# API calls, January: a server's hour reports 400 + 20 x hour + 100 x server calls; a day of
# web-1 = 24 x 400 + 20 x (0 + 1 + ... + 23) = 9,600 + 5,520 = 15,120; web-2 17,520; web-3 19,920;
# the three 52,560 a day, 31 days 1,629,360. Less the reversed report (web-2, 10th 14:00:
# 400 + 280 + 100 = 780) and the report that came after rating (web-1, 31st 22:00: 400 + 440 = 840,
# billed in February); the repeat adds nothing; the report late inside the grace period (web-3,
# 31st 23:00) counts: 1,629,360 - 780 - 840 = 1,627,740 calls.
# Graduated: 100,000 x 0 + 900,000 x 0.0008 = 720.00, 627,740 x 0.0005 = 313.87: 1,033.87, on one
# invoice line as 1 x 1,033.87 (no price to six decimals times the calls rounds to it).
API_CALLS = D(1_627_740)
API_AMOUNT = D("1033.87")
# Storage, the month's peak per region x 0.25: eu-central 1,200 + 10 x 20 = 1,400 GB on the 20th
# (then a clean-up: 1,150 + 5 x day) = 350.00; us-east 800 + 5 x 31 = 955 GB = 238.75.
EXPECTED_LINES = [
    ("L1", D(1), API_AMOUNT, API_AMOUNT),
    ("L2", D(1400), D("0.25"), D("350.00")),
    ("L2", D(955), D("0.25"), D("238.75")),
]
# net 1,033.87 + 350.00 + 238.75 = 1,622.62; VAT 19 % = 308.2978 -> 308.30; gross 1,930.92
TOTALS = (D("1622.62"), D("308.30"), D("1930.92"))
# Mid-month (the 16th, after 15 days' reports): API calls 15 x 52,560 - 780 = 787,620, amount
# (787,620 - 100,000) x 0.0008 = 550.096 -> 550.10; storage eu-central 1,200 + 150 = 1,350 GB
# -> 337.50, us-east 800 + 75 = 875 GB -> 218.75.
MID_MONTH = {
    ("L1", ""): (D(787_620), D("550.10")),
    ("L2", "eu-central"): (D(1350), D("337.50")),
    ("L2", "us-east"): (D(875), D("218.75")),
}


def _lines(invoice: Invoice) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return sorted(
        ((ln.contract_line, ln.quantity, ln.unit_price, ln.net_amount) for ln in invoice.lines),
        key=lambda t: (t[0], -t[1]),
    )


def _usage(found: list[SubscriptionUsage]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(s.line_key, ",".join(g.group.values())): (g.quantity, g.amount) for s in found for g in s.groups}


@pytest.fixture
def finance(ctx: AppContext) -> str:
    users.add_user(ctx, demo.FINANCE, Role.FINANCE, "finance-password-long", actor="test")
    return demo.FINANCE


def test_the_invoice_equals_the_hand_calculation(ctx: AppContext, finance: str) -> None:
    story = demo.run_usage_story(ctx, finance)
    # 3 servers x 24 h x 31 days + 2 regions x 31 days + the reversal + the repeat
    assert story.sent == 2232 + 62 + 2
    assert (story.total("accepted"), story.total("duplicates"), story.total("refused")) == (2295, 1, 0)
    invoices = demo.usage_invoices(ctx, story.drafts)
    assert len(invoices) == 1
    invoice = invoices[0][1]
    assert _lines(invoice) == EXPECTED_LINES
    assert (invoice.totals.tax_exclusive, invoice.totals.tax, invoice.totals.tax_inclusive) == TOTALS
    assert invoice.buyer.legal_name == "Brightwave Software GmbH" and invoice.currency == "EUR"
    assert all(ln.period_start == date(2027, 1, 1) for ln in invoice.lines)
    assert story.rating is not None and story.rating.amount == TOTALS[0]


def test_usage_so_far_and_the_late_report(ctx: AppContext, finance: str) -> None:
    story = demo.run_usage_story(ctx, finance)
    assert _usage(story.mid_month) == MID_MONTH
    assert {s.period for s in story.mid_month} == {"2027-01"}
    # the report that came after January was rated: February's, with a note; 840 calls, all free
    later = story.batches[-1][1]
    assert later.accepted == [0] and "2027-02" in later.notes[0]
    assert _usage(story.february) == {("L1", ""): (D(840), D("0.00"))}
    events = schema.usage_events.c
    with ctx.engine.connect() as conn:
        period, note = conn.execute(select(events.period, events.note).where(events.transaction_id == demo.LATER)).one()
    assert period == "2027-02" and "late" in note


def test_rating_and_billing_again_change_nothing(ctx: AppContext, finance: str) -> None:
    story = demo.run_usage_story(ctx, finance)
    tables = (schema.schedule_items, schema.invoices, schema.usage_aggregates, schema.usage_events)

    def counts() -> list[int]:
        with ctx.engine.connect() as conn:
            return [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables]

    before = counts()
    assert before[1] == len(story.drafts) == 1
    again = rate_usage(ctx, demo.RATING_DAY, finance, contract_id=demo.CONTRACT_ID)
    assert again.items == 0 and not again.failures
    assert run_billing(ctx, demo.RATING_DAY, "test").drafts == 0
    assert counts() == before

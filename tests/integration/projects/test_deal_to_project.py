"""Opportunity to project, on SQLite and PostgreSQL: a closed-won deal with hourly role lines and a
milestone line is locked by intake as a contract, the project opens from it with the roles and
rates the deal sold, and time recorded against it is billed by the billing run at those rates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.invoices import invoice_from_json
from handoff.kernel.storage import schema
from handoff.projects.domain.signals import TimeEntryInput
from handoff.projects.service.delivery import record_time
from handoff.projects.service.posting import post_delivery
from handoff.projects.service.projects import get_project, open_projects
from tests.builders import deal_with_lines, line
from tests.integration.deals.test_intake_flow import state

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ACTOR = "automation:test"


def services_deal():  # type: ignore[no-untyped-def]
    return deal_with_lines(
        [
            line("Architect, by the hour", "100", "160.00", billing="time_and_materials", product="architect"),
            line("Consultant, by the hour", "200", "110.00", billing="time_and_materials", product="consultant"),
            line("Go-live", "1", "9000.00", billing="milestone", milestones="blueprint=4000; go-live=5000"),
        ],
        amount="9000.00",
    )


def entry(external_id: str, role: str, day: date, hours: str) -> TimeEntryInput:
    return TimeEntryInput("harvest", external_id, "PRJ-D-1", role, "ana@example.com", day, Decimal(hours))


def test_a_won_services_deal_opens_a_project_whose_time_the_billing_run_invoices(ctx: AppContext) -> None:
    ingest(ctx, [DealEvent("crm", "e1", T0, services_deal())])
    assert state(ctx, "D-1") == "ready"  # locked as a contract, no one-shot draft

    assert open_projects(ctx, ACTOR) == ["PRJ-D-1"]
    assert open_projects(ctx, ACTOR) == []  # opened once
    project = get_project(ctx, "PRJ-D-1").project
    assert {(r.role, r.rate, r.budget_hours) for r in project.roles} == {
        ("architect", Decimal("160.00"), Decimal("100")),
        ("consultant", Decimal("110.00"), Decimal("200")),
    }
    assert [m.key for m in project.milestones] == ["blueprint", "go-live"]

    report = record_time(
        ctx,
        [
            entry("t1", "architect", date(2027, 1, 5), "7.5"),
            entry("t2", "consultant", date(2027, 1, 6), "8"),
            entry("t3", "consultant", date(2027, 1, 7), "4.25"),
        ],
        ACTOR,
    )
    assert report.ok and report.created == 3
    posted = post_delivery(ctx, date(2027, 2, 1), ACTOR)
    assert posted.amount == Decimal("2547.50")  # 7.5 h x 160 + 12.25 h x 110 = 1,200.00 + 1,347.50

    billed = run_billing(ctx, date(2027, 2, 1))
    assert len(billed.invoice_ids) == 1
    with ctx.engine.connect() as conn:
        doc = conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == billed.invoice_ids[0]))
        invoice = invoice_from_json(doc.scalar_one())
    lines = sorted((ln.contract_line, ln.quantity, ln.unit_price, ln.net_amount) for ln in invoice.lines)
    assert lines == [
        ("L1", Decimal("7.50"), Decimal("160.00"), Decimal("1200.00")),
        ("L2", Decimal("12.25"), Decimal("110.00"), Decimal("1347.50")),
    ]
    assert all(ln.period_start == date(2027, 1, 1) and ln.note for ln in invoice.lines)  # BG-26 and its source
    assert len(invoice.annex) == 3  # the entries, for the PDF's time annex
    assert post_delivery(ctx, date(2027, 2, 1), ACTOR).amount == 0  # posted once

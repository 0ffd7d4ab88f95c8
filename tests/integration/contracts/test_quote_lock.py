"""Quote lock through intake, on SQLite and PostgreSQL: a closed-won deal with a recurring ramp line
and a one-time fee is imported and becomes contract version 1 with those lines, in the same
transaction, with no one-shot invoice draft (the billing run invoices it); a later version of it is
an amendment for finance to review; a plain deal imported beside it is drafted exactly as before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from handoff.context import AppContext
from handoff.contracts.domain.model import BillingKind, ContractError, Frequency, RampStep
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import show_contract
from handoff.deals.domain.drafting import render_draft
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import contract_problem, ingest
from handoff.kernel.storage import schema
from tests.builders import deal_with_lines, line
from tests.integration.deals.test_intake_flow import count, state
from tests.integration.deals.test_readiness_gates import problems

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PLATFORM = line(
    "Platform subscription",
    "1",
    "10000.00",
    billing="recurring",
    frequency="annual",
    start="2027-01-01",
    end="2030-01-01",
    ramp="2028-01-01=12000; 2029-01-01=15000",
    product="PLAT-ANNUAL",
)
SETUP = line("Onboarding fee", "1", "2000.00")


def contract_deal(**changes: str):  # type: ignore[no-untyped-def]
    return deal_with_lines([PLATFORM, SETUP], amount="12000.00", **changes)


def tasks(ctx: AppContext, deal_id: str) -> list[tuple[str, str]]:
    t = schema.tasks
    with ctx.engine.connect() as conn:
        q = select(t.c.kind, t.c.status).where(t.c.deal_id == deal_id).order_by(t.c.id)
        return [(r.kind, r.status) for r in conn.execute(q)]


def invoices_of(ctx: AppContext, deal_id: str) -> int:
    io, o = schema.invoice_orders, schema.orders
    return count(ctx, io.join(o, o.c.id == io.c.order_id), o.c.deal_id == deal_id)


def audited(ctx: AppContext, action: str, entity_id: str) -> list[str]:
    a = schema.audit_log
    with ctx.engine.connect() as conn:
        q = select(a.c.reason).where(a.c.action == action, a.c.entity_id == entity_id).order_by(a.c.seq)
        return list(conn.execute(q).scalars())


def test_a_recurring_ramp_deal_is_locked_as_a_contract_and_a_plain_deal_is_drafted_as_before(ctx: AppContext) -> None:
    plain = deal_with_lines([line(), line(), line()], deal_id="D-2")
    ingest(ctx, [DealEvent("crm", "e1", T0, contract_deal()), DealEvent("crm", "e2", T0, plain)])

    assert state(ctx, "D-1") == "ready"
    assert invoices_of(ctx, "D-1") == 0  # no one-shot draft
    assert tasks(ctx, "D-1") == []  # nothing for finance to issue until the billing run drafts
    view = show_contract(ctx, "D-1")
    assert (view.contract.current_version, view.contract.currency) == (1, "EUR")
    version = view.current
    assert (version.version, version.terms.billing_start) == (1, date(2026, 10, 30))  # the close date
    platform, setup = version.lines
    assert (platform.key, platform.product, platform.rule.kind) == ("L1", "PLAT-ANNUAL", BillingKind.RECURRING)
    assert platform.rule.frequency is Frequency.ANNUAL and platform.rule.end == date(2030, 1, 1)
    assert platform.rule.ramp == (
        RampStep(date(2028, 1, 1), Decimal("12000")),
        RampStep(date(2029, 1, 1), Decimal("15000")),
    )
    assert (setup.key, setup.unit_price, setup.rule.kind) == ("L2", Decimal("2000.00"), BillingKind.ONE_TIME)
    assert [(i.line_key, i.period_key, i.amount) for i in view.items] == [
        ("L1", "2027-01-01", Decimal("10000.00")),
        ("L1", "2028-01-01", Decimal("12000.00")),
        ("L1", "2029-01-01", Decimal("15000.00")),
        ("L2", "once", Decimal("2000.00")),
    ]
    assert audited(ctx, "contract.locked", "D-1") == ["quote of deal D-1 locked on closing"]
    [applied] = audited(ctx, "order.version_applied", "D-1")
    assert "the billing run invoices it" in applied

    # the plain deal: its one-shot draft, as intake always made it, and its task
    assert state(ctx, "D-2") == "drafted"
    assert tasks(ctx, "D-2") == [("issue_invoice", "open")]
    i, io, o = schema.invoices, schema.invoice_orders, schema.orders
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(i.c.gross_amount, i.c.document)
            .join(io, io.c.invoice_id == i.c.id)
            .join(o, o.c.id == io.c.order_id)
            .where(o.c.deal_id == "D-2")
        ).one()
    expected = render_draft(plain, ctx.config)
    assert Decimal(row.gross_amount) == expected.gross == Decimal("14280.00")
    assert count(ctx, schema.contracts, schema.contracts.c.contract_id == "D-2") == 0

    # the billing run invoices the contract as it comes due: the fee at once, the first year in January
    assert run_billing(ctx, date(2026, 11, 2)).items == 1
    assert run_billing(ctx, date(2027, 1, 1)).items == 1
    assert invoices_of(ctx, "D-1") == 2


def test_a_later_version_of_a_locked_deal_is_an_amendment_for_finance(ctx: AppContext) -> None:
    ingest(ctx, [DealEvent("crm", "e1", T0, contract_deal())])
    changed = deal_with_lines([{**PLATFORM, "quantity": "2"}, SETUP], amount="12000.00")
    plain_now = deal_with_lines([line(), line(), line()])  # even one no longer billed over time
    ingest(ctx, [DealEvent("crm", "e2", T0 + timedelta(hours=1), changed)])
    ingest(ctx, [DealEvent("crm", "e3", T0 + timedelta(hours=2), plain_now)])

    assert state(ctx, "D-1") == "ready"
    assert tasks(ctx, "D-1") == [("review_amendment", "open")]
    assert invoices_of(ctx, "D-1") == 0  # never a one-shot draft after the lock
    view = show_contract(ctx, "D-1")
    assert view.contract.current_version == 1 and view.current.lines[0].quantity == Decimal("1")
    assert audited(ctx, "contract.locked", "D-1") == ["quote of deal D-1 locked on closing"]
    # the same version again changes nothing
    ingest(ctx, [DealEvent("crm", "e4", T0 + timedelta(hours=3), plain_now)])
    assert tasks(ctx, "D-1") == [("review_amendment", "open")]


def test_a_quote_that_cannot_be_a_contract_waits_in_the_exception_queue(ctx: AppContext) -> None:
    bad = deal_with_lines([{**PLATFORM, "end": ""}, SETUP], amount="12000.00", discount="5%")
    ingest(ctx, [DealEvent("crm", "e1", T0, bad)])
    assert state(ctx, "D-1") == "blocked"
    found = [p for p in problems(ctx, "D-1") if p[1] != "owner_email"]  # its owner is no user here
    assert sorted(found) == [("invalid", "discount"), ("missing", "lines[0].end")]
    assert count(ctx, schema.contracts, schema.contracts.c.contract_id == "D-1") == 0
    assert invoices_of(ctx, "D-1") == 0
    # fixed in the CRM: locked then
    ingest(ctx, [DealEvent("crm", "e2", T0 + timedelta(hours=1), contract_deal())])
    assert state(ctx, "D-1") == "ready" and show_contract(ctx, "D-1").contract.current_version == 1


def test_a_contract_error_names_the_deal_field_in_the_exception_queue() -> None:
    error = ContractError.at("D-1", "frequency", "is missing", line="L3")
    assert (contract_problem(error).field, contract_problem(error).code) == ("lines[2].frequency", "invalid")
    assert contract_problem(ContractError.at("D-1", "legal_entity", "is missing")).field == "legal_entity"


def test_a_drafted_deal_that_becomes_a_contract_deal_loses_its_draft_and_is_locked(ctx: AppContext) -> None:
    ingest(ctx, [DealEvent("crm", "e1", T0, deal_with_lines([line(), line(), line()]))])
    assert state(ctx, "D-1") == "drafted" and invoices_of(ctx, "D-1") == 1
    ingest(ctx, [DealEvent("crm", "e2", T0 + timedelta(hours=1), contract_deal())])
    assert state(ctx, "D-1") == "ready"
    assert invoices_of(ctx, "D-1") == 0  # the one-shot draft is discarded
    assert tasks(ctx, "D-1") == [("issue_invoice", "cancelled")]
    assert show_contract(ctx, "D-1").contract.current_version == 1

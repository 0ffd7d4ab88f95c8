"""EU distance sales through the real flow, on SQLite and PostgreSQL (issue 16, item 9): the German
entity sells goods to French consumers; below EUR 10,000 in the year (and the year before) at the
German rate, the sale that crosses it and every one after at the French rate, reported as OSS.
The running total is kept on issue, under a lock, and credit notes reduce it; each line's evidence
says which rule applied and the total it saw."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from handoff.approvals import service as approvals
from handoff.audit import service as audit
from handoff.config import BusinessConfig, DistanceSalesModel, TaxModel
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service import tax_holds
from handoff.deals.service.intake import ingest
from handoff.invoicing.domain.invoices import Invoice, invoice_from_json
from handoff.invoicing.domain.tax import VatRates
from handoff.invoicing.service import taxation
from handoff.invoicing.service.issuing import InvoicingError, issue_all_drafts, issue_draft
from handoff.kernel.storage import schema
from tests.builders import deal_with_lines, issued_invoices, line
from tests.conftest import Clock

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ON = date(2026, 11, 2)
FR_CONSUMER = {
    "country": "FR",
    "customer_type": "consumer",
    "customer_legal_name": "Camille Martin",
    "vat_id": "",
    "requires_po": "false",
    "po_number": "",
    "billing_city": "Paris",
    "billing_postal_code": "75001",
}


def sale(deal_id: str, amount: str, at: datetime = T0, category: str = "standard", **changes: Any) -> DealEvent:
    """A French consumer buying goods (one line, of product tax `category`) from the German entity."""
    lines = [line("Espresso machine", unit_price=amount, supply="goods", tax_category=category)]
    deal = deal_with_lines(lines, deal_id=deal_id, customer_id=f"C-{deal_id}", amount=amount, **FR_CONSUMER, **changes)
    return DealEvent("crm", f"e-{deal_id}", at, deal)


def sold(ctx: AppContext, deal_id: str, amount: str, on: date = ON, **changes: Any) -> Invoice:
    """One sale, drafted and issued on `on`."""
    [invoice] = issued_invoices(ctx, [sale(deal_id, amount, **changes)], on=on)
    return invoice


def decided(invoice: Invoice) -> tuple[str, Decimal, str, str]:
    tax = invoice.lines[0].tax
    return tax.rule, tax.rate, tax.evidence["distance_sales_basis"], tax.evidence["distance_sales_total_eur"]


def total(ctx: AppContext, year: int, entity: str = "ACME-DE") -> Decimal | None:
    t = schema.distance_sales_totals
    with ctx.engine.connect() as conn:
        found = conn.execute(select(t.c.total_eur).where(t.c.legal_entity == entity, t.c.year == year)).scalar()
    return None if found is None else Decimal(found)


def stored(ctx: AppContext, number: str) -> Any:
    with ctx.engine.connect() as conn:
        return conn.execute(select(schema.invoices).where(schema.invoices.c.number == number)).one()


def test_origin_below_the_threshold_destination_for_the_sale_crossing_it_and_after(ctx: AppContext) -> None:
    first = sold(ctx, "D-1", "6000.00")
    assert decided(first) == ("eu_b2c_origin", Decimal("19"), "below_threshold", "0.00")
    assert first.totals.tax == Decimal("1140.00") and "oss" not in first.lines[0].tax.evidence

    crossing = sold(ctx, "D-2", "5000.00")  # 6,000 + 5,000: this sale takes the year over 10,000
    assert decided(crossing) == ("eu_b2c_destination", Decimal("20"), "crossed_by_this_sale", "6000.00")
    assert crossing.totals.tax == Decimal("1000.00")
    evidence = crossing.lines[0].tax.evidence
    assert (evidence["oss"], evidence["distance_sale_eur"], crossing.lines[0].tax.place_of_supply) == (
        "union_scheme",
        "5000.00",
        "FR",
    )

    after = sold(ctx, "D-3", "100.00")
    assert decided(after) == ("eu_b2c_destination", Decimal("20"), "exceeded_this_year", "11000.00")
    assert total(ctx, 2026) == Decimal("11100.00")
    row = stored(ctx, after.number or "")
    assert (row.tax_amount, row.gross_amount) == (Decimal("20.00"), Decimal("120.00"))


def test_the_previous_years_total_counts(ctx: AppContext) -> None:
    last_year = sold(ctx, "D-1", "10500.00", on=date(2025, 12, 15))  # crossed in 2025
    assert decided(last_year)[:3] == ("eu_b2c_destination", Decimal("20"), "crossed_by_this_sale")
    this_year = sold(ctx, "D-2", "100.00")
    tax = this_year.lines[0].tax
    assert decided(this_year) == ("eu_b2c_destination", Decimal("20"), "exceeded_previous_year", "0.00")
    assert tax.evidence["distance_sales_previous_year_eur"] == "10500.00"
    assert (total(ctx, 2025), total(ctx, 2026)) == (Decimal("10500.00"), Decimal("100.00"))


def test_sales_before_handoff_from_the_configuration_count(ctx: AppContext) -> None:
    earlier = TaxModel(distance_sales={"ACME-DE": DistanceSalesModel(earlier_sales_eur={2026: Decimal("9990")})})
    model = ctx.config.model.model_copy(update={"tax": earlier})
    configured = dataclasses.replace(ctx, config=BusinessConfig(model, ctx.config.ruleset, ctx.config.vat_rates))
    assert decided(sold(configured, "D-1", "20.00"))[:3] == (
        "eu_b2c_destination",
        Decimal("20"),
        "crossed_by_this_sale",
    )


def test_a_credit_note_reduces_the_running_total(ctx: AppContext) -> None:
    first = sold(ctx, "D-1", "9000.00")
    asked = approvals.request_credit_note(ctx, first.number or "", "returned", "sales.lead@acme.example")
    done = approvals.approve(ctx, asked["id"], "finance.lead@acme.example")
    credit = issue_draft(ctx, done["result_invoice_id"], "finance.lead@acme.example", on=ON)
    assert credit.lines[0].tax.rule == "eu_b2c_origin"  # at the rate it was invoiced at
    assert total(ctx, 2026) == Decimal("0.00")
    # without the credit note, 9,000 + 5,000 would cross the threshold
    assert decided(sold(ctx, "D-2", "5000.00")) == ("eu_b2c_origin", Decimal("19"), "below_threshold", "0.00")
    counted = [e for e in audit.history(ctx, "legal_entity", "ACME-DE") if e["action"] == "distance_sales.counted"]
    assert [e["after"]["amount_eur"] for e in counted] == ["9000.00", "-9000.00", "5000.00"]


def test_issuing_decides_again_against_the_total_as_it_is_then(ctx: AppContext) -> None:
    # both drafted while the year's total was 0: both at origin in their drafts
    ingest(ctx, [sale("D-1", "6000.00"), sale("D-2", "6000.00")])
    with ctx.engine.connect() as conn:
        drafts = [invoice_from_json(d) for d in conn.execute(select(schema.invoices.c.document)).scalars()]
    assert {d.lines[0].tax.rule for d in drafts} == {"eu_b2c_origin"}
    first, second = sorted(issue_all_drafts(ctx, "finance@test", on=ON), key=lambda i: i.number or "")
    assert decided(first)[:3] == ("eu_b2c_origin", Decimal("19"), "below_threshold")
    assert decided(second) == ("eu_b2c_destination", Decimal("20"), "crossed_by_this_sale", "6000.00")
    row = stored(ctx, second.number or "")  # the columns follow the document issued
    assert (row.tax_amount, row.gross_amount) == (Decimal("1200.00"), Decimal("7200.00"))
    [changed] = [
        e for e in audit.history(ctx, "order", second.order_refs[0]) if e["action"] == "invoice.tax_redetermined"
    ]
    assert changed["before"]["tax_rules"] == ["eu_b2c_origin"] and changed["after"]["tax_rules"] == [
        "eu_b2c_destination"
    ]


def without_french_reduced_rate(ctx: AppContext) -> AppContext:
    rates = ctx.config.vat_rates
    broken = VatRates({**rates.rates, "FR": {"standard": Decimal("20")}}, rates.source, rates.as_of)
    return dataclasses.replace(ctx, config=BusinessConfig(ctx.config.model, ctx.config.ruleset, broken))


def test_a_missing_destination_rate_holds_the_deal_in_the_exception_queue_never_at_zero(
    ctx: AppContext, clock: Clock
) -> None:
    sold(ctx, "D-1", "10500.00")  # over the threshold from here on
    broken = without_french_reduced_rate(ctx)
    books = [line("Cookbook", unit_price="40.00", supply="goods", tax_category="reduced")]
    event = DealEvent("crm", "e-2", T0, deal_with_lines(books, deal_id="D-2", amount="40.00", **FR_CONSUMER))
    ingest(broken, [event])
    with ctx.engine.connect() as conn:
        order = conn.execute(
            select(schema.orders.c.state, schema.orders.c.id).where(schema.orders.c.deal_id == "D-2")
        ).one()
        exception = conn.execute(select(schema.exceptions).where(schema.exceptions.c.deal_id == "D-2")).one()
        linked = conn.execute(select(schema.invoice_orders).where(schema.invoice_orders.c.order_id == order.id)).all()
    assert order.state == "blocked" and linked == []  # no invoice, at 0 or otherwise
    [problem] = [p for p in exception.problems if p["code"] == "tax_undetermined"]
    assert (problem["code"], problem["field"]) == ("tax_undetermined", "tax.rate")
    assert "no VAT rate for FR / reduced" in problem["message"]
    assert "|tax_undetermined|" in exception.reasons and tax_holds.held(ctx) == ["D-2"]

    clock.advance(minutes=5)
    tax_holds.retry(ctx, "finance@test")  # the rate is configured again
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.orders.c.state).where(schema.orders.c.deal_id == "D-2")).scalar() == "drafted"
    assert tax_holds.held(ctx) == []
    [issued] = issue_all_drafts(ctx, "finance@test", on=ON)
    assert (issued.lines[0].tax.rule, issued.lines[0].tax.rate) == ("eu_b2c_destination", Decimal("10"))


def test_a_rate_missing_only_at_issue_holds_the_deal_and_issues_nothing(ctx: AppContext) -> None:
    ingest(ctx, [sale("D-1", "6000.00"), sale("D-2", "6000.00", category="reduced")])
    broken = without_french_reduced_rate(ctx)
    failures: list[tuple[int, str]] = []
    issued = issue_all_drafts(broken, "finance@test", on=ON, failures=failures)
    assert [i.order_refs for i in issued] == [("D-1",)]
    [(_, reason)] = failures
    assert "tax cannot be determined" in reason and "no VAT rate for FR / reduced" in reason
    with ctx.engine.connect() as conn:
        states = dict(conn.execute(select(schema.orders.c.deal_id, schema.orders.c.state)).all())
        left = conn.execute(select(schema.invoices.c.id).where(schema.invoices.c.status == "draft")).all()
    assert states == {"D-1": "sent", "D-2": "blocked"} and left == []  # the draft at the origin rate is gone
    assert total(ctx, 2026) == Decimal("6000.00")  # the sale that was not issued does not count


def test_issuing_one_draft_whose_tax_cannot_be_determined_refuses_and_holds_its_deal(ctx: AppContext) -> None:
    ingest(ctx, [sale("D-1", "10500.00", category="reduced")])  # drafted at origin: the total was 0
    with ctx.engine.connect() as conn:
        draft_id = conn.execute(select(schema.invoices.c.id)).scalar_one()
    with pytest.raises(InvoicingError, match=r"tax cannot be determined: no VAT rate for FR / reduced .* D-1 wait"):
        issue_draft(without_french_reduced_rate(ctx), draft_id, "finance@test", on=ON)
    with ctx.engine.connect() as conn:
        assert conn.execute(select(schema.orders.c.state)).scalar_one() == "blocked"
        assert conn.execute(select(schema.invoices.c.id)).all() == []  # the draft at the origin rate is gone
    assert total(ctx, 2026) is None and tax_holds.held(ctx) == ["D-1"]


def test_two_issuers_at_once_see_each_others_sale(ctx: AppContext) -> None:
    """The running total is locked while one invoice is issued: another issuer of the same entity
    waits for it and then sees its sale, so together they cannot slip past the threshold."""
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: only PostgreSQL runs two issuers at once")
    ingest(ctx, [sale("D-1", "6000.00"), sale("D-2", "6000.00")])
    with ctx.engine.connect() as conn:
        ids = dict(
            conn.execute(
                select(schema.orders.c.deal_id, schema.invoice_orders.c.invoice_id).join(
                    schema.invoice_orders, schema.invoice_orders.c.order_id == schema.orders.c.id
                )
            ).all()
        )
        first_draft = invoice_from_json(
            conn.execute(select(schema.invoices.c.document).where(schema.invoices.c.id == ids["D-1"])).scalar_one()
        )
    results: list[Invoice] = []
    with ctx.unit_of_work() as uow:  # the first issuer, in the middle of its transaction
        taxation.settle_on_issue(
            uow, ctx, first_draft, "ACME-DE", "INV-DE-2026-000001", ON, "finance@test", ctx.clock()
        )
        second = threading.Thread(target=lambda: results.append(issue_draft(ctx, ids["D-2"], "finance@test", on=ON)))
        second.start()
        with ctx.engine.connect() as watch:  # until the second issuer waits on the lock
            waiting = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            for _ in range(12_000):  # (a bound for a broken lock only: a minute on a busy machine)
                if watch.execute(text(waiting)).scalar():
                    break
                threading.Event().wait(0.005)
            else:
                pytest.fail("the second issuer never waited for the first")
        uow.commit()
    second.join(60)
    [issued] = results
    assert decided(issued) == ("eu_b2c_destination", Decimal("20"), "crossed_by_this_sale", "6000.00")
    assert total(ctx, 2026) == Decimal("12000.00")

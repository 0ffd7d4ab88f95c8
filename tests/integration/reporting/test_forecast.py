"""The 13-week cash forecast fed from the database (SQLite and PostgreSQL): open receivables with the
customers' days late, a contract's schedule (with the customer's VAT rate) and its milestones, a CRM
deal in the pipeline; the API (JSON and CSV, finance only), the backtest knowing only the past, and
the dashboard's chart.

The story: on 2 November 2026 ACME-DE invoices Kestrel (C-1219, 1,000.00 + 19 % VAT, net30), paid 10
days late on 12 December, and Lumière (C-FR, 600.00 reverse charge), unpaid; on 15 December 600.00 USD
to Lumière; on 30 December the SaaS contract of the demo is locked for Kestrel (billing from 1 January
2027) and a deal in stage `proposal` arrives. The forecast runs from Wednesday 30 December (week 1:
Monday 28 December); the portfolio pays 10 days late (one paid invoice: fewer than 3, so everyone
gets the portfolio's median)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from typer.testing import CliRunner

from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.cli import app
from handoff.collections.service import set_dispute
from handoff.config import ForecastModel
from handoff.context import AppContext
from handoff.contracts.service.billing_run import run_billing
from handoff.contracts.service.contracts import lock
from handoff.deals.domain.orders import DealEvent
from handoff.deals.service.intake import ingest
from handoff.demo.contracts import BUYER, saas_contract
from handoff.reporting.forecast import Line, Source
from handoff.reporting.forecast_repository import ForecastRepository
from handoff.reporting.service.forecast import cash_forecast, forecast_backtest
from handoff.users import service as users
from handoff.users.service import Role
from handoff.web.app import create_app
from tests.builders import deal_with_lines, event, issued_invoices, line
from tests.conftest import Clock

FR = {"country": "FR", "vat_id": "FR40303265045", "customer_id": "C-FR", "customer_legal_name": "Lumière SARL"}
KESTREL = {"customer_id": "C-1219", "customer_legal_name": "Kestrel Partners AG"}
AS_OF = date(2026, 12, 30)


def issue(ctx: AppContext, clock: Clock, deal_id: str, price: str, **changes: Any) -> str:
    deal = deal_with_lines([line(quantity="1", unit_price=price)], deal_id=deal_id, amount=price, **changes)
    [invoice] = issued_invoices(ctx, [DealEvent("crm", f"e-{deal_id}", clock.now, deal)], on=clock.now.date())
    return invoice.number or ""


def seed(ctx: AppContext, clock: Clock) -> AppContext:
    """The story above; the context it returns plans milestones 20 days after the billing start."""
    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    kestrel = issue(ctx, clock, "D-K", "1000.00", **KESTREL)
    issue(ctx, clock, "D-FR", "600.00", **FR)
    clock.now = datetime(2026, 12, 12, 9, tzinfo=UTC)
    apply_payments(ctx, [PaymentRow(1, kestrel, Decimal("1190.00"), date(2026, 12, 12), "bank", "p1")], "bank", "t")
    clock.now = datetime(2026, 12, 15, 9, tzinfo=UTC)
    issue(ctx, clock, "D-USD", "600.00", currency="USD", **FR)
    clock.now = datetime(2026, 12, 30, 9, tzinfo=UTC)
    lock(ctx, saas_contract(), BUYER, "finance@acme.example", "won quote")
    deal = {"stage": "proposal", "close_date": "2027-01-15", "amount": "1000.00", "payment_terms": "net14"}
    ingest(ctx, [event("e-P-1", clock.now, deal_id="P-1", customer_id="C-P", **deal)])
    config = replace(
        ctx.config, model=ctx.config.model.model_copy(update={"forecast": ForecastModel(milestone_lead_days=20)})
    )
    return replace(ctx, config=config)


def test_the_forecast_puts_each_source_in_its_week(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    f = cash_forecast(ctx, AS_OF)
    assert f.first_week == date(2026, 12, 28) and f.portfolio_days_late == 10
    eur, usd = f.currencies
    # Lumière's 600.00, due 2 December + 10 days: expected before today, so overdue
    assert eur.overdue == Decimal("600.00")
    # seats and fee billed 1 January, due 31 January, + 10 days: 10 February, week 7; with Kestrel's
    # 19 % (190 / 1,000): 10,000 -> 11,900.00, 8,000 -> 9,520.00. The deal closes 15 January (0.4 of
    # 1,000.00), due after 14 days, + 10: 8 February, week 7
    week7 = eur.weeks[6]
    assert week7.start == date(2027, 2, 8)
    assert week7.amounts[Source.SCHEDULED_BILLING] == Decimal("21420.00")
    assert week7.amounts[Source.PIPELINE] == Decimal("400.00")
    # milestones planned 21 January (billing start + 20), due 20 February, + 10: 2 March, week 10;
    # 8,000 and 12,000 with VAT x 0.7: 6,664.00 + 9,996.00
    assert eur.weeks[9].amounts[Source.MILESTONES] == Decimal("16660.00")
    assert eur.total == Decimal("38480.00")
    assert eur.beyond == Decimal("32130.00")  # the seats of 2028 and 2029: 14,280.00 + 17,850.00
    # 600.00 USD due 14 January + 10: Sunday 24 January, week 4; kept apart from EUR
    assert (usd.currency, usd.weeks[3].total, usd.total) == ("USD", Decimal("600.00"), Decimal("600.00"))


def test_the_backtest_knows_only_what_was_known_at_the_cutoff(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    b = forecast_backtest(ctx, [date(2026, 11, 9)], today=AS_OF)
    # on 9 November: Kestrel's 1,190.00 and Lumière's 600.00 open, no payment history: expected on
    # their due date 2 December (week 4); Kestrel paid on 12 December (week 5); the USD invoice, the
    # contract and the deal came later. 7 weeks had ended by 30 December.
    eur = b.by_currency["EUR"]
    assert [r.horizon for r in eur] == [1, 2, 3, 4, 5, 6, 7]
    assert (eur[3].forecast, eur[3].actual, eur[3].mae, eur[3].wape) == (
        Decimal("1790.00"),
        Decimal("0"),
        Decimal("1790.00"),
        None,
    )
    assert (eur[4].forecast, eur[4].actual, eur[4].mae, eur[4].wape) == (
        Decimal("0"),
        Decimal("1190.00"),
        Decimal("1190.00"),
        Decimal("1.0000"),
    )
    assert "USD" not in b.by_currency


def test_a_disputed_invoice_is_not_expected_cash_and_an_old_one_is_doubtful(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    [lumiere] = [
        r.number for r in ForecastRepository(ctx.engine).ledger() if r.customer_id == "C-FR" and r.currency == "EUR"
    ]
    # past due by 28 days on 30 December: with doubtful_after_days 20 it is doubtful, not overdue
    strict = ctx.config.model.forecast.model_copy(update={"doubtful_after_days": 20})
    doubtful = replace(ctx, config=replace(ctx.config, model=ctx.config.model.model_copy(update={"forecast": strict})))
    eur = cash_forecast(doubtful, AS_OF).currencies[0]
    assert (eur.doubtful, eur.overdue, eur.disputed) == (Decimal("600.00"), Decimal("0.00"), Decimal("0.00"))
    # Lumière disputes it on 20 December (`handoff dispute`): from then on the disputed line, in no week
    clock.now = datetime(2026, 12, 20, 9, tzinfo=UTC)
    assert set_dispute(ctx, lumiere, "finance@acme.example", "wrong quantity")
    f = cash_forecast(ctx, AS_OF)
    eur = f.currencies[0]
    assert (eur.disputed, eur.overdue, eur.doubtful) == (Decimal("600.00"), Decimal("0.00"), Decimal("0.00"))
    assert eur.total == Decimal("38480.00")  # the weeks as before: it was on the overdue line
    assert [r.line for r in f.receipts if r.reference == lumiere] == [Line.DISPUTED]
    api, page, _ = visit(ctx, f"/api/v1/forecast?as_of={AS_OF}&detail=true", page="/dashboard")
    assert "disputed: 600.00" in re.sub(r"\s+", " ", page.text) and "overdue, not timed" not in page.text
    body = api.json()  # the API names the line too, per currency and per receipt
    assert [(c["disputed"], c["doubtful"]) for c in body["currencies"] if c["currency"] == "EUR"] == [
        ("600.00", "0.00")
    ]
    assert [r["line"] for r in body["receipts"] if r["reference"] == lumiere] == ["disputed"]
    # the backtest knows the dispute only from the day it was opened: on 9 November it was still expected
    b = forecast_backtest(ctx, [date(2026, 11, 9), date(2026, 12, 21)], today=AS_OF)
    assert b.detail[date(2026, 11, 9)]["EUR"][3][0] == Decimal("1790.00")
    assert b.detail[date(2026, 12, 21)]["EUR"][0][0] == Decimal("0")


def visit(ctx: AppContext, *paths: str, role: Role = Role.FINANCE, page: str | None = None) -> list[httpx.Response]:
    user = users.add_user(ctx, f"{role.value}@acme.example", role, "pw-forecast-12345", actor="test")
    token, _ = users.create_token(ctx, user, "test", actor="test")
    app = create_app(ctx, webhook_token="s3cret", secret_key="test-secret", process_inline=False)

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
            got = [await client.get(p, headers={"Authorization": f"Bearer {token}"}) for p in paths]
            if page is not None:
                login = await client.get("/login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
                assert csrf is not None
                form = {"email": user.email, "password": "pw-forecast-12345", "csrf_token": csrf.group(1)}
                await client.post("/login", data=form)
                got.append(await client.get(page))
                got.append(await client.get("/charts/forecast-EUR.svg"))
            return got

    return asyncio.run(run())


def test_the_api_gives_the_forecast_as_json_and_csv_to_finance_only(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    body, csv_file, bad, too_late, backtest = visit(
        ctx,
        "/api/v1/forecast?as_of=2026-12-30&detail=true",
        "/api/v1/forecast.csv?as_of=2026-12-30",
        "/api/v1/forecast?as_of=30.12.2026",
        "/api/v1/forecast?as_of=9999-12-31",
        "/api/v1/forecast/backtest?cutoff=2026-11-09",
    )
    data = body.json()
    assert body.status_code == 200 and data["first_week"] == "2026-12-28"
    eur = next(c for c in data["currencies"] if c["currency"] == "EUR")
    assert eur["overdue"] == "600.00"
    assert eur["weeks"][6] == {
        "start": "2027-02-08",
        "receivables": "0.00",
        "scheduled_billing": "21420.00",
        "milestones": "0.00",
        "pipeline": "400.00",
        "total": "21820.00",
    }
    assert {r["reference"] for r in data["receipts"] if r["source"] == "pipeline"} == {"P-1"}
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    rows = csv_file.text.splitlines()
    assert rows[0] == "currency,bucket,week_start,receivables,scheduled_billing,milestones,pipeline,total"
    assert "EUR,week 7,2027-02-08,0.00,21420.00,0.00,400.00,21820.00" in rows
    assert "EUR,overdue,,600.00,,,,600.00" in rows
    assert "USD,week 4,2027-01-18,600.00,0.00,0.00,0.00,600.00" in rows
    assert bad.status_code == 422
    assert too_late.status_code == 422 and "as_of must be between" in too_late.text
    assert backtest.status_code == 200
    assert backtest.json()["by_currency"]["EUR"][4] == {
        "horizon": 5,
        "cutoffs": 1,
        "forecast": "0.00",
        "actual": "1190.00",
        "mae": "1190.00",
        "wape": "1.0000",
    }
    [refused] = visit(ctx, "/api/v1/forecast", role=Role.SALES)
    assert refused.status_code == 403


def test_the_api_answers_as_its_document_says(ctx: AppContext, clock: Clock) -> None:
    """What schemathesis found: a Unix time taken for a day, the days the forecast computes from not
    in the document, `portfolio_days_late` (required, null when none paid) dropped with `receipts`;
    a CRM's "never" close date (9999-12-31) must land in `beyond`, not break the weeks' dates."""
    ctx = seed(ctx, clock)
    never = {"stage": "proposal", "close_date": "9999-12-31", "amount": "500.00", "currency": "GBP"}
    ingest(ctx, [event("e-P-9", clock.now, deal_id="P-9", customer_id="C-P", **never)])
    many = "&".join(f"cutoff=2026-{m:02d}-{d:02d}" for m in range(1, 12) for d in range(1, 11))  # 110
    plain, unix, future, too_many = visit(
        ctx,
        "/api/v1/forecast?as_of=2026-12-30",
        "/api/v1/forecast?as_of=0",
        "/api/v1/forecast/backtest?cutoff=2026-11-09&cutoff=2027-01-04",
        f"/api/v1/forecast/backtest?{many}",
    )
    body = plain.json()
    assert plain.status_code == 200 and "receipts" not in body and body["portfolio_days_late"] == 10
    gbp = next(c for c in body["currencies"] if c["currency"] == "GBP")
    assert (gbp["total"], gbp["beyond"]) == ("0.00", "200.00")  # 500.00 x 0.4 (proposal), after the weeks
    assert unix.status_code == 422 and unix.json()["error"]["field"] == "as_of"
    assert future.status_code == 422 and future.json()["error"] == {
        "code": "invalid_request",
        "message": "backtest: cutoff 2027-01-04 is not in the past (today is 2026-12-30)",
        "field": "cutoff",
    }
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "cutoff"
    document = create_app(ctx, webhook_token="s3cret", secret_key="test-secret").openapi()["paths"]
    [as_of] = document["/api/v1/forecast"]["get"]["parameters"][:1]
    assert as_of["schema"]["anyOf"][0]["pattern"].startswith("^(19")
    [cutoff] = document["/api/v1/forecast/backtest"]["get"]["parameters"]
    assert cutoff["schema"]["anyOf"][0]["maxItems"] == 104


def test_the_dashboard_draws_the_forecast_per_currency(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    _, page, chart = visit(ctx, "/api/v1/forecast", page="/dashboard")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "Cash forecast, 13 weeks" in text
    assert 'src="/charts/forecast-EUR.svg"' in text and 'src="/charts/forecast-USD.svg"' in text
    assert "overdue, not timed: 600.00" in text
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert b"scheduled billing" in chart.content  # the legend names the sources


def test_a_deals_own_probability_wins_over_its_stage_and_a_lost_deal_is_left_out(ctx: AppContext, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 30, 9, tzinfo=UTC)
    common = {"close_date": "2027-01-04", "amount": "1000.00", "payment_terms": "due_on_receipt"}
    ingest(
        ctx,
        [
            event("e-1", clock.now, deal_id="P-OWN", stage="Proposal", probability="25", **common),
            event("e-2", clock.now, deal_id="P-STAGE", stage="Negotiation", **common),
            event("e-3", clock.now, deal_id="P-LOST", stage="Closed Lost", **common),
        ],
    )
    f = cash_forecast(ctx, AS_OF)
    assert {r.reference: r.amount for r in f.receipts} == {"P-OWN": Decimal("250.00"), "P-STAGE": Decimal("600.00")}
    # invoiced on the close date, due on receipt, no payment history: Monday 4 January, week 2
    assert f.currencies[0].weeks[1].amounts[Source.PIPELINE] == Decimal("850.00")


def test_items_on_an_invoice_still_in_draft_are_still_expected(ctx: AppContext, clock: Clock) -> None:
    ctx = seed(ctx, clock)
    clock.now = datetime(2027, 1, 4, 9, tzinfo=UTC)
    run_billing(ctx, date(2027, 1, 4), "test")  # the seats and the fee drafted, not issued
    f = cash_forecast(ctx, date(2027, 1, 4))
    # drafted on 4 January, issued today at the earliest: due 3 February, + 10 days: 13 February, week 6
    assert f.currencies[0].weeks[5].amounts[Source.SCHEDULED_BILLING] == Decimal("21420.00")


def test_the_command_prints_the_forecast_its_csv_and_the_backtest(ctx: AppContext, clock: Clock, db_url: str) -> None:
    seed(ctx, clock)
    runner = CliRunner()
    as_csv = runner.invoke(app, ["forecast", "--as-of", "2026-12-30", "--csv", "--db", db_url])
    assert as_csv.exit_code == 0, as_csv.output
    assert "USD,week 4,2027-01-18,600.00,0.00,0.00,0.00,600.00" in as_csv.output.splitlines()
    table = runner.invoke(app, ["forecast", "--as-of", "2026-12-30", "--db", db_url], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "portfolio median days late: 10 days" in table.output
    # the command runs on the real clock: cut-offs from 9 November 2026 to the Monday before this week
    tested = runner.invoke(app, ["forecast", "--backtest", "--db", db_url], env={"COLUMNS": "200"})
    assert tested.exit_code == 0 and "backtest over" in tested.output and "WAPE" in tested.output
    bad = runner.invoke(app, ["forecast", "--as-of", "30.12.2026", "--db", db_url])
    assert bad.exit_code == 2 and "is not a date" in bad.output

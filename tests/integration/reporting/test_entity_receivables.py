"""Receivables per selling entity (SQLite and PostgreSQL): each configured entity (ACME-DE, EUR;
ACME-US, USD) with its functional currency, what is open and overdue on its issued invoices by
invoice currency (gross - paid - credited, from the ledger), and its DSO over the window; they add up
to the dashboard's totals, and the API and the dashboard show them."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.context import AppContext
from handoff.deals.domain.orders import DealEvent
from handoff.invoicing.service.ledger import EntityReceivables
from handoff.kernel.money import ZERO
from handoff.reporting.service import metrics
from handoff.users import service as users
from handoff.users.service import Role
from handoff.web.app import create_app
from tests.builders import OREGON, deal_with_lines, issued_invoices, line
from tests.conftest import Clock

# a French business buying services from ACME-DE: reverse charge, so gross = net
FR = {"country": "FR", "vat_id": "FR40303265045", "customer_id": "C-FR", "customer_legal_name": "Lumière SARL"}
US = {"country": "US", "vat_id": "", "legal_entity": "ACME-US", "currency": "USD", "customer_id": "C-US", **OREGON}


def issue(ctx: AppContext, clock: Clock, deal_id: str, unit_price: str, **changes: Any) -> str:
    """Issue today one net30 invoice of 6 x `unit_price` for the deal; its number."""
    deal = deal_with_lines(
        [line(quantity="6", unit_price=unit_price)],
        deal_id=deal_id,
        **{**FR, "amount": str(6 * Decimal(unit_price)), **changes},
    )
    [invoice] = issued_invoices(ctx, [DealEvent("crm", f"e-{deal_id}", clock.now, deal)], on=clock.now.date())
    return invoice.number or ""


def seed(ctx: AppContext, clock: Clock) -> None:
    """On 2 November: ACME-DE 12,000.00 EUR (half paid) and 600.00 USD, ACME-US 1,500.00 USD (due
    2 December); on 10 December ACME-DE 3,000.00 EUR (due 9 January); the clock then on 15 December."""
    half_paid = issue(ctx, clock, "D-EUR", "2000.00")
    row = PaymentRow(1, half_paid, Decimal("6000.00"), date(2026, 11, 10), "bank", "p1")
    apply_payments(ctx, [row], "bank", "import")
    issue(ctx, clock, "D-USD", "100.00", currency="USD")  # an EUR seller invoicing in USD
    issue(ctx, clock, "US-1", "250.00", **US)
    clock.now = datetime(2026, 12, 10, 9, tzinfo=UTC)
    issue(ctx, clock, "D-LATER", "500.00")
    clock.now = datetime(2026, 12, 15, 9, tzinfo=UTC)


def test_each_entity_has_its_functional_currency_open_overdue_and_dso(ctx: AppContext, clock: Clock) -> None:
    seed(ctx, clock)
    m = metrics.compute(ctx)
    de, us = m.by_entity
    assert (de.entity, de.name, de.functional_currency) == ("ACME-DE", "ACME Software GmbH", "EUR")
    assert de.open_receivables_by_currency == {"EUR": Decimal("9000.00"), "USD": Decimal("600.00")}
    assert (de.open_invoices, de.overdue_invoices) == (3, 2)
    assert de.overdue_by_currency == {"EUR": Decimal("6000.00"), "USD": Decimal("600.00")}
    assert de.dso_days == {"EUR": 54.0, "USD": 90.0}  # 9,000 open of 15,000 invoiced in 90 days
    assert (us.entity, us.name, us.functional_currency) == ("ACME-US", "ACME Software Inc.", "USD")
    assert us.open_receivables_by_currency == {"USD": Decimal("1500.00")}
    assert (us.open_invoices, us.overdue_invoices, us.overdue_by_currency) == (1, 1, {"USD": Decimal("1500.00")})
    assert us.dso_days == {"USD": 90.0}
    # the entities add up to the totals the dashboard already shows
    for currency, total in m.open_receivables_by_currency.items():
        assert sum((e.open_receivables_by_currency.get(currency, ZERO) for e in m.by_entity), ZERO) == total
    assert m.open_receivables_by_currency == {"EUR": Decimal("9000.00"), "USD": Decimal("2100.00")}
    assert m.overdue_invoices == de.overdue_invoices + us.overdue_invoices


def test_an_entity_with_nothing_open_is_listed_and_one_fully_paid_in_the_window_has_a_dso_of_0(
    ctx: AppContext, clock: Clock
) -> None:
    assert [
        (e.entity, e.functional_currency, e.open_receivables_by_currency) for e in metrics.compute(ctx).by_entity
    ] == [
        ("ACME-DE", "EUR", {}),
        ("ACME-US", "USD", {}),
    ]
    number = issue(ctx, clock, "US-1", "250.00", **US)
    apply_payments(ctx, [PaymentRow(1, number, Decimal("1500.00"), date(2026, 11, 3), "bank", "p1")], "bank", "import")
    de, us = metrics.compute(ctx).by_entity
    assert (de.open_receivables_by_currency, de.dso_days) == ({}, {})
    assert (us.open_receivables_by_currency, us.open_invoices, us.dso_days) == (
        {"USD": Decimal("0.00")},
        0,
        {"USD": 0.0},
    )


def test_the_api_and_the_dashboard_show_the_entities(ctx: AppContext, clock: Clock) -> None:
    seed(ctx, clock)
    finance = users.add_user(ctx, "finance@acme.example", Role.FINANCE, "pw-finance-12345", actor="test")
    token, _ = users.create_token(ctx, finance, "test", actor="test")
    app = create_app(ctx, webhook_token="s3cret", secret_key="test-secret", process_inline=False)

    async def visit() -> tuple[dict[str, Any], httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
            api = await client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {token}"})
            login = await client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert csrf is not None
            form = {"email": "finance@acme.example", "password": "pw-finance-12345", "csrf_token": csrf.group(1)}
            await client.post("/login", data=form)
            return api.json(), await client.get("/dashboard")

    body, page = asyncio.run(visit())
    assert [(e["entity"], e["functional_currency"]) for e in body["by_entity"]] == [
        ("ACME-DE", "EUR"),
        ("ACME-US", "USD"),
    ]
    assert body["by_entity"][0]["open_receivables_by_currency"] == {"EUR": "9000.00", "USD": "600.00"}
    assert body["by_entity"][1]["overdue_by_currency"] == {"USD": "1500.00"}
    assert body["by_entity"][0]["dso_days"] == {"EUR": 54.0, "USD": 90.0}
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "Receivables by selling entity" in text
    assert 'ACME-US <span class="muted">ACME Software Inc.</span></td><td>USD</td>' in text
    assert "9,000.00 EUR" in text and "54 d EUR" in text


def test_an_entity_no_longer_configured_comes_last_without_a_functional_currency(business_config: Any) -> None:
    rows = [
        EntityReceivables("ACME-UK", "GBP", Decimal("50.00"), 1, ZERO, 0, ZERO),
        EntityReceivables("ACME-US", "USD", Decimal("10.00"), 1, Decimal("10.00"), 1, Decimal("20.00")),
    ]
    figures = metrics.by_entity(business_config.entities, rows)
    assert [(f.entity, f.functional_currency) for f in figures] == [
        ("ACME-DE", "EUR"),
        ("ACME-US", "USD"),
        ("ACME-UK", None),
    ]
    assert figures[2].open_receivables_by_currency == {"GBP": Decimal("50.00")} and figures[2].dso_days == {"GBP": None}
    assert figures[1].dso_days == {"USD": 45.0}  # 10 open of 20 invoiced in 90 days

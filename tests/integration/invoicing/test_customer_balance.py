"""What a customer owes (SQLite and PostgreSQL): the open amount (gross - paid - credited) of all its
issued invoices, by currency, from the ledger; the customer API and page show the same figure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from handoff.approvals import service as approvals
from handoff.cash.formats.payment_file import PaymentRow
from handoff.cash.service.payments import apply_payments
from handoff.context import AppContext
from handoff.customers import api as customers_api
from handoff.customers.service import get_customer, open_balance
from handoff.deals.domain.orders import DealEvent
from handoff.invoicing.service.issuing import issue_draft
from handoff.invoicing.service.ledger import customer_open_balances
from tests.builders import OREGON, deal_with_lines, issued_invoices, line

T0 = datetime(2026, 11, 1, tzinfo=UTC)
# a French business buying services from ACME-DE: reverse charge, so gross = net
FR = {"country": "FR", "vat_id": "FR40303265045", "customer_id": "C-FR", "customer_legal_name": "Lumière SARL"}
US = {"country": "US", "vat_id": "", "legal_entity": "ACME-US", "currency": "USD", **OREGON}


def issue(ctx: AppContext, deal_id: str, unit_price: str, **changes: Any) -> str:
    """Issue one invoice of 6 x `unit_price` for the deal; its number."""
    deal = deal_with_lines(
        [line(quantity="6", unit_price=unit_price)],
        deal_id=deal_id,
        **{**FR, "amount": str(6 * Decimal(unit_price)), **changes},
    )
    [invoice] = issued_invoices(ctx, [DealEvent("crm", f"e-{deal_id}", T0, deal)], on=date(2026, 11, 2))
    return invoice.number or ""


def pay(ctx: AppContext, number: str, amount: str, key: str) -> None:
    apply_payments(ctx, [PaymentRow(1, number, Decimal(amount), date(2026, 11, 10), "bank", key)], "bank", "import")


def credit_one_unit(ctx: AppContext, number: str) -> None:
    """A credit note for one unit of the invoice's line, asked for, approved and issued."""
    asked = approvals.request_credit_note(ctx, number, "one seat fewer", "sales.lead@acme.example", {1: Decimal("1")})
    done = approvals.approve(ctx, asked["id"], "finance.lead@acme.example")
    issue_draft(ctx, done["result_invoice_id"], "finance.lead@acme.example", on=date(2026, 11, 20))


def test_the_open_balance_is_gross_less_paid_less_credited_over_all_the_customers_invoices(ctx: AppContext) -> None:
    number = issue(ctx, "D-1", "2000.00")  # 12,000.00
    assert customer_open_balances(ctx, "C-FR") == {"EUR": Decimal("12000.00")}
    pay(ctx, number, "6000.00", "p1")
    credit_one_unit(ctx, number)  # 2,000.00
    assert customer_open_balances(ctx, "C-FR") == {"EUR": Decimal("4000.00")}

    settled = issue(ctx, "D-2", "100.00")  # 600.00, paid in full: nothing open
    pay(ctx, settled, "600.00", "p2")
    issue(ctx, "D-3", "500.00", customer_id="C-OTHER")  # another customer's
    issue(ctx, "D-US", "250.00", **US)  # 1,500.00 USD from ACME-US (Oregon: no sales tax)
    balance = customer_open_balances(ctx, "C-FR")
    assert balance == {"EUR": Decimal("4000.00"), "USD": Decimal("1500.00")}
    assert list(balance) == ["EUR", "USD"]
    assert customer_open_balances(ctx, "C-OTHER") == {"EUR": Decimal("3000.00")}
    assert customer_open_balances(ctx, "C-NONE") == {}

    # the customer service, API and page read the same figure
    assert open_balance(ctx, "C-FR") == balance
    view = get_customer(ctx, "C-FR")
    assert view is not None
    body = customers_api.detail("C-FR", view, date(2026, 11, 2), open_balance(ctx, "C-FR"))
    assert body["open_balance"] == {"EUR": "4000.00", "USD": "1500.00"}
    customers_api.CustomerDetail.model_validate(body)

"""What leaves for accounting and CRM systems when an invoice is issued or paid.

`issued` and `paid` enqueue, in the caller's transaction, one outbox notice per configured target
(`connectors.accounting` and `connectors.crm_writeback` in handoff.yaml). The payload is a small,
stable document built here (not the stored invoice JSON), so the connectors need nothing from the
store. Keys are per target and document: enqueuing twice is a no-op, and each connector uses the
key as its idempotency key, so a retried delivery never makes a second invoice. Documents carry the
seller entity and each line's VAT category and rate, payments their invoice's seller: the connectors
map those to accounts, items, tax codes and tenants (`connectors.xero` / `connectors.quickbooks`).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.accounting.repository import AccountingRepository
from handoff.context import AppContext
from handoff.invoicing.domain.invoices import Invoice
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork


def _s(value: Decimal | date | None) -> str:
    return "" if value is None else str(value)


def document(inv: Invoice) -> dict[str, Any]:
    """The accounting payload for an issued invoice or credit note (amounts as decimal text)."""
    buyer = inv.buyer
    return {
        "kind": inv.kind.value,
        "number": inv.number,
        "issue_date": _s(inv.issue_date),
        "due_date": _s(inv.due_date),
        "currency": inv.currency,
        "corrects": inv.corrects or "",
        "payment_reference": inv.payment_reference,
        "po_number": inv.po_number,
        "order_refs": list(inv.order_refs),
        "seller": {"code": inv.seller.code, "name": inv.seller.name, "vat_id": inv.seller.vat_id},
        "customer": {
            "id": buyer.customer_id,
            "name": buyer.legal_name,
            "email": buyer.billing_email,
            "contact_name": buyer.billing_contact_name,
            "vat_id": buyer.vat_id,
            "country": buyer.country,
            "street": buyer.address.street,
            "city": buyer.address.city,
            "postal_code": buyer.address.postal_code,
        },
        "lines": [
            {
                "description": ln.description,
                "quantity": _s(ln.quantity),
                "unit_price": _s(ln.unit_price),
                "net_amount": _s(ln.net_amount),
                "vat_category": ln.tax.category,
                "vat_rate": _s(ln.tax.rate),
            }
            for ln in inv.lines
        ],
        "totals": {
            "net": _s(inv.totals.tax_exclusive),
            "tax": _s(inv.totals.tax),
            "gross": _s(inv.totals.tax_inclusive),
            "payable": _s(inv.totals.payable),
        },
    }


def _short(key: str) -> str:
    """Outbox keys are at most 200 characters; long payment keys are hashed."""
    return key if len(key) <= 120 else key[:60] + ":" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _writeback(
    uow: UnitOfWork, ctx: AppContext, at: datetime, order_ids: list[int], key: str, properties: dict[str, str]
) -> None:
    targets = ctx.config.model.connectors.crm_writeback
    if not targets or not order_ids:
        return
    deals = uow.repository(AccountingRepository).deals(order_ids)
    for target in targets:
        for deal in deals:
            crm_id = deal.data.get(f"{target}_deal_id")  # set by that CRM's mapping
            if crm_id:
                uow.notify(
                    Notice(
                        _short(f"{target}:{key}:{deal.deal_id}"),
                        target,
                        "crm_status",
                        {"deal_id": crm_id, "as_of": at.isoformat(), "properties": properties},
                    ),
                    at,
                )


def issued(uow: UnitOfWork, ctx: AppContext, inv: Invoice, order_ids: list[int], at: datetime) -> None:
    doc = document(inv)
    for target in ctx.config.model.connectors.accounting:
        uow.notify(
            Notice(
                f"{target}:{inv.kind.value}:{inv.number}",
                target,
                "accounting",
                {"type": inv.kind.value, "document": doc},
            ),
            at,
        )
    _writeback(
        uow,
        ctx,
        at,
        order_ids,
        f"issued:{inv.number}",
        {
            "handoff_invoice_number": inv.number or "",
            "handoff_invoice_status": "issued",
            "handoff_payment_state": "unpaid",
            "handoff_invoice_due_date": _s(inv.due_date),
        },
    )


def paid(
    uow: UnitOfWork,
    ctx: AppContext,
    *,
    number: str,
    payment_key: str,
    amount: Decimal,
    paid_on: date,
    currency: str,
    state: str,
    total_paid: Decimal,
    order_ids: list[int],
    at: datetime,
) -> None:
    targets = ctx.config.model.connectors.accounting
    seller = uow.repository(AccountingRepository).seller(number) if targets else ""
    for target in targets:
        uow.notify(
            Notice(
                _short(f"{target}:payment:{payment_key}"),
                target,
                "accounting",
                {
                    "type": "payment",
                    "invoice_number": number,
                    "payment_key": payment_key,
                    "amount": str(amount),
                    "paid_on": paid_on.isoformat(),
                    "currency": currency,
                    "seller": seller,  # the invoice's selling entity: its tenant / realm gets the payment
                },
            ),
            at,
        )
    _writeback(
        uow,
        ctx,
        at,
        order_ids,
        f"paid:{number}:{total_paid}",
        {"handoff_invoice_number": number, "handoff_payment_state": state, "handoff_paid_amount": str(total_paid)},
    )

"""What leaves for accounting and CRM systems when an invoice is issued or paid.

`issued` and `paid` enqueue, in the caller's transaction, one outbox notice per configured target
(`connectors.accounting` in handoff.yaml), and have the invoice's new status written back to its
deals' CRMs (`connectors.crm_writeback`, `deals.service.crm_status`). The payload is a small,
stable document built here (not the stored invoice JSON), so the connectors need nothing from the
store. Keys are per target and document: enqueuing twice is a no-op, and each connector uses the
key as its idempotency key, so a retried delivery never makes a second invoice. Documents carry the
seller entity and each line's VAT category and rate, product code and product tax category, payments
their invoice's seller: the connectors map those to accounts, items, tax codes and tenants
(`connectors.xero` / `connectors.quickbooks`; a product's mapping wins over its VAT category's).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.accounting.repository import AccountingRepository
from handoff.context import AppContext
from handoff.deals.service import crm_status
from handoff.invoicing.domain.allowances import document_allowance_shares
from handoff.invoicing.domain.invoices import Invoice, InvoiceKind
from handoff.kernel.storage.unit_of_work import Notice, UnitOfWork


def _s(value: Decimal | date | None) -> str:
    return "" if value is None else str(value)


def document(inv: Invoice) -> dict[str, Any]:
    """The accounting payload for an issued invoice or credit note (amounts as decimal text). Each
    line states its own discount and its share of the document's (a deal's discount, spread over
    the lines of its VAT category), so a ledger that knows only line amounts posts the same net
    per VAT category as the invoice (its lines' `amount` add up to `totals.net`)."""
    buyer = inv.buyer
    shares = document_allowance_shares(inv.lines, inv.allowances)
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
                "product": ln.product,  # the seller's product code ("" when none)
                "tax_category": ln.tax_category,  # the product tax category (standard, reduced, ...)
                "line_discount": _s(ln.allowance_total),  # off quantity x price: net_amount is after it
                "document_discount": _s(share),  # the line's share of the document's discounts
                "amount": _s(ln.net_amount - share),  # what the line adds to the net total
            }
            for ln, share in zip(inv.lines, shares, strict=True)
        ],
        "totals": {
            "line_net": _s(inv.totals.line_net),
            "allowances": _s(inv.totals.allowances),
            "net": _s(inv.totals.tax_exclusive),
            "tax": _s(inv.totals.tax),
            "gross": _s(inv.totals.tax_inclusive),
            "payable": _s(inv.totals.payable),
        },
    }


def _short(key: str) -> str:
    """Outbox keys are at most 200 characters; long payment keys are hashed."""
    return key if len(key) <= 120 else key[:60] + ":" + hashlib.sha256(key.encode()).hexdigest()[:32]


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
    if inv.kind is InvoiceKind.INVOICE and inv.number:  # a credit note shows through the invoice it settles
        crm_status.invoice_changed(uow, ctx, inv.number, at)


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
    crm_status.invoice_changed(uow, ctx, number, at)


def credit_allocated(
    uow: UnitOfWork,
    ctx: AppContext,
    *,
    key: str,
    credit_note: str,
    invoice: str,
    amount: str,
    on: date,
    currency: str,
    seller: str,
    state: str,
    credited: str,
    order_ids: list[int],
    at: datetime,
) -> None:
    """Credit of credit note `credit_note` settles `amount` of invoice `invoice` (the invoice it
    corrects, or another of the customer's): an allocation for each accounting system (Xero: a
    credit-note allocation; QuickBooks: a zero payment linking credit memo and invoice; generic
    REST: an allocation event), and the invoice's new payment state for CRM write-back."""
    for target in ctx.config.model.connectors.accounting:
        uow.notify(
            Notice(
                _short(f"{target}:credit_allocation:{key}"),
                target,
                "accounting",
                {
                    "type": "credit_allocation",
                    "allocation_key": key,
                    "credit_note_number": credit_note,
                    "invoice_number": invoice,
                    "amount": amount,
                    "currency": currency,
                    "date": on.isoformat(),
                    "seller": seller,
                },
            ),
            at,
        )
    crm_status.invoice_changed(uow, ctx, invoice, at)


def credit_refunded(
    uow: UnitOfWork,
    ctx: AppContext,
    *,
    key: str,
    credit_note: str,
    amount: str,
    on: date,
    currency: str,
    seller: str,
    reference: str,
    at: datetime,
) -> None:
    """`amount` of credit note `credit_note`'s credit was paid back to the customer: a refund for
    each accounting system (Xero: a payment on the credit note; generic REST: a refund event)."""
    for target in ctx.config.model.connectors.accounting:
        uow.notify(
            Notice(
                _short(f"{target}:credit_refund:{key}"),
                target,
                "accounting",
                {
                    "type": "credit_refund",
                    "refund_key": key,
                    "credit_note_number": credit_note,
                    "amount": amount,
                    "currency": currency,
                    "date": on.isoformat(),
                    "seller": seller,
                    "reference": reference,
                },
            ),
            at,
        )

"""Payments use case: apply received payments to issued invoices.

Each payment row is kept once (its key is unique), so importing the same file again changes
nothing. The invoice's payment state follows from the sum of its payments (unpaid, partial, paid);
a fully paid invoice moves its orders to `paid` and the deal owner hears of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from handoff.accounting import service as accounting
from handoff.cash.formats.payment_file import PaymentFileError, PaymentRow
from handoff.cash.repository.payments import PaymentRepository
from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import DocumentStatus, PaymentState, payment_state
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices


@dataclass
class PaymentReport:
    applied: int = 0
    duplicates: int = 0
    states: dict[str, str] = field(default_factory=dict)  # invoice number -> payment state


def apply_payments(ctx: AppContext, rows: Sequence[PaymentRow], source: str, actor: str) -> PaymentReport:
    """All or nothing: an unknown or unissued invoice number fails the whole import, naming the line."""
    report = PaymentReport()
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        payments = uow.repository(PaymentRepository)
        found = payments.invoices_by_number(sorted({r.invoice_number for r in rows}))
        bad = [
            (r.line, f"invoice_number {r.invoice_number!r} is not an issued invoice")
            for r in rows
            if r.invoice_number not in found or found[r.invoice_number].status is not DocumentStatus.ISSUED
        ]
        if bad:
            raise PaymentFileError(source, bad)
        known = payments.known_payments([r.payment_key for r in rows])
        fresh = [r for r in rows if r.payment_key not in known]
        report.duplicates = len(rows) - len(fresh)
        payments.add_imported(fresh, {number: invoice.id for number, invoice in found.items()}, source, now)
        report.applied = len(fresh)
        for number in sorted({r.invoice_number for r in fresh}):
            _, state = settle(uow, payments, ctx, found[number].id, now, actor, f"payment import {source}")
            report.states[number] = state.value
        uow.commit()
    return report


def refresh_payment_state(
    uow: UnitOfWork,
    ctx: AppContext,
    invoice_id: int,
    now: datetime,
    actor: str,
    reason: str,
    status: dict[str, Any] | None = None,
) -> PaymentState:
    """Recompute an invoice's paid amount and payment state from its payments (see `settle`)."""
    return settle(uow, uow.repository(PaymentRepository), ctx, invoice_id, now, actor, reason, status)[1]


def settle(
    uow: UnitOfWork,
    payments: PaymentRepository,
    ctx: AppContext,
    invoice_id: int,
    now: datetime,
    actor: str,
    reason: str,
    status: dict[str, Any] | None = None,
) -> tuple[str, PaymentState]:
    """Recompute an invoice's paid amount and payment state from its payments (reversals count
    negative), move its orders to `paid` (or back to `sent` after an undo), audit each order and
    tell its deal owner (topic `payment_status`). Returns the invoice's number and its new state."""
    invoice = payments.settled_invoice(invoice_id)
    paid = payments.paid_total(invoice_id)
    state = payment_state(invoice.gross_amount, paid)
    payments.set_payment_state(invoice_id, paid, state)
    orders = payments.orders_of(invoice_id)
    _push_new_payments(
        uow, payments, ctx, invoice_id, invoice.number, invoice.currency, state, paid, [o.id for o in orders], now
    )
    for order in orders:
        uow.audit(
            at=now,
            actor=actor,
            action="invoice.payment_applied",
            entity_type="order",
            entity_id=order.deal_id,
            reason=reason,
            after={"invoice": invoice.number, "paid": paid, "payment_state": state.value},
        )
        if state is PaymentState.PAID:
            payments.set_order_state(order.id, OrderState.PAID, now)
        elif order.state is OrderState.PAID:  # a payment was undone
            payments.set_order_state(order.id, OrderState.SENT, now)
        if order.owner_email:
            notices.payment_status(
                uow,
                ctx,
                now,
                order.owner_email,
                invoice.number,
                state.value,
                str(paid),
                str(invoice.gross_amount),
                invoice.currency,
                deal_id=order.deal_id,
                due_date=invoice.due_date,
                extra=status,
            )
    return invoice.number, state


def _push_new_payments(
    uow: UnitOfWork,
    payments: PaymentRepository,
    ctx: AppContext,
    invoice_id: int,
    number: str,
    currency: str,
    state: PaymentState,
    paid: Decimal,
    order_ids: list[int],
    now: datetime,
) -> None:
    """Queue each payment recorded in this transaction for the accounting systems (and the new
    state for CRM write-back). Outbox keys make a repeat of this harmless."""
    for p in payments.received(invoice_id, now):
        accounting.paid(
            uow,
            ctx,
            number=number,
            payment_key=p.payment_key,
            amount=p.amount,
            paid_on=p.paid_on,
            currency=currency,
            state=state.value,
            total_paid=paid,
            order_ids=order_ids,
            at=now,
        )


def apply_payment(
    ctx: AppContext, invoice_number: str, amount: Decimal, paid_on: date, reference: str, actor: str
) -> PaymentReport:
    """One payment entered by a person. Its key is its content, so submitting it twice applies it once."""
    key = hashlib.sha256(f"manual|{invoice_number}|{amount}|{paid_on}|{reference}".encode()).hexdigest()
    row = PaymentRow(1, invoice_number, amount, paid_on, reference, key)
    return apply_payments(ctx, [row], "manual entry", actor)

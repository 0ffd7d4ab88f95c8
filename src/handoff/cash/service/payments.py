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

from sqlalchemy import select, update

from handoff.accounting import service as accounting
from handoff.cash.formats.payment_file import PaymentFileError, PaymentRow
from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import PaymentState, payment_state
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
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
    inv, pay = schema.invoices, schema.payments
    with ctx.unit_of_work() as uow:
        numbers = sorted({r.invoice_number for r in rows})
        q = select(inv.c.id, inv.c.number, inv.c.status, inv.c.gross_amount, inv.c.currency).where(
            inv.c.number.in_(numbers))
        if uow.is_postgres:
            q = q.with_for_update()
        found = {r.number: r for r in uow.conn.execute(q)}
        bad = [(r.line, f"invoice_number {r.invoice_number!r} is not an issued invoice")
               for r in rows if r.invoice_number not in found or found[r.invoice_number].status != "issued"]
        if bad:
            raise PaymentFileError(source, bad)
        known = set(uow.conn.execute(select(pay.c.payment_key).where(
            pay.c.payment_key.in_([r.payment_key for r in rows]))).scalars())  # fmt: skip
        fresh = [r for r in rows if r.payment_key not in known]
        report.duplicates = len(rows) - len(fresh)
        insert_many(uow.conn, pay, [
            {"payment_key": r.payment_key, "invoice_id": found[r.invoice_number].id, "amount": r.amount,
             "paid_on": r.paid_on, "source": source, "received_at": now} for r in fresh], ["payment_key"])  # fmt: skip
        report.applied = len(fresh)
        for number in sorted({r.invoice_number for r in fresh}):
            row = found[number]
            state = refresh_payment_state(uow, ctx, row.id, now, actor, f"payment import {source}")
            report.states[number] = state.value
        uow.commit()
    return report


def refresh_payment_state(uow: UnitOfWork, ctx: AppContext, invoice_id: int, now: datetime, actor: str,
                          reason: str, status: dict[str, Any] | None = None) -> PaymentState:  # fmt: skip
    """Recompute an invoice's paid amount and payment state from its payments (reversals count
    negative), move its orders to `paid` (or back to `sent` after an undo), audit each order and
    tell its deal owner (topic `payment_status`)."""
    inv, pay = schema.invoices, schema.payments
    row = uow.conn.execute(select(inv.c.number, inv.c.gross_amount, inv.c.currency, inv.c.due_date)
                           .where(inv.c.id == invoice_id)).one()  # fmt: skip
    amounts = uow.conn.execute(select(pay.c.amount).where(pay.c.invoice_id == invoice_id)).scalars()
    paid = sum(amounts, Decimal("0"))
    state = payment_state(row.gross_amount, paid)
    uow.conn.execute(update(inv).where(inv.c.id == invoice_id).values(paid_amount=paid, payment_state=state.value))
    order_rows = uow.conn.execute(
        select(schema.orders.c.id, schema.orders.c.deal_id, schema.orders.c.owner_email, schema.orders.c.state)
        .join(schema.invoice_orders, schema.invoice_orders.c.order_id == schema.orders.c.id)
        .where(schema.invoice_orders.c.invoice_id == invoice_id)).all()  # fmt: skip
    _push_new_payments(uow, ctx, invoice_id, row.number, row.currency, state, paid, [o.id for o in order_rows], now)
    for order in order_rows:
        uow.audit(at=now, actor=actor, action="invoice.payment_applied", entity_type="order",
                  entity_id=order.deal_id, reason=reason,
                  after={"invoice": row.number, "paid": paid, "payment_state": state.value})  # fmt: skip
        if state is PaymentState.PAID:
            uow.conn.execute(update(schema.orders).where(schema.orders.c.id == order.id)
                             .values(state=OrderState.PAID.value, updated_at=now))  # fmt: skip
        elif order.state == OrderState.PAID.value:  # a payment was undone
            uow.conn.execute(update(schema.orders).where(schema.orders.c.id == order.id)
                             .values(state=OrderState.SENT.value, updated_at=now))  # fmt: skip
        if order.owner_email:
            notices.payment_status(uow, ctx, now, order.owner_email, row.number, state.value, str(paid),
                                   str(row.gross_amount), row.currency, deal_id=order.deal_id,
                                   due_date=row.due_date, extra=status)  # fmt: skip
    return state


def _push_new_payments(uow: UnitOfWork, ctx: AppContext, invoice_id: int, number: str, currency: str,
                       state: PaymentState, paid: Decimal, order_ids: list[int], now: datetime) -> None:  # fmt: skip
    """Queue each payment recorded in this transaction for the accounting systems (and the new
    state for CRM write-back). Outbox keys make a repeat of this harmless."""
    pay = schema.payments
    new = uow.conn.execute(select(pay.c.payment_key, pay.c.amount, pay.c.paid_on).where(
        pay.c.invoice_id == invoice_id, pay.c.received_at == now)).all()  # fmt: skip
    for p in new:
        accounting.paid(uow, ctx, number=number, payment_key=p.payment_key, amount=p.amount, paid_on=p.paid_on,
                        currency=currency, state=state.value, total_paid=paid, order_ids=order_ids, at=now)  # fmt: skip


def apply_payment(ctx: AppContext, invoice_number: str, amount: Decimal, paid_on: date, reference: str,
                  actor: str) -> PaymentReport:
    """One payment entered by a person. Its key is its content, so submitting it twice applies it once."""
    key = hashlib.sha256(f"manual|{invoice_number}|{amount}|{paid_on}|{reference}".encode()).hexdigest()
    row = PaymentRow(1, invoice_number, amount, paid_on, reference, key)
    return apply_payments(ctx, [row], "manual entry", actor)

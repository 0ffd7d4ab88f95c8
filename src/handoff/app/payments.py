"""Payments use case: apply received payments to issued invoices.

Each payment row is kept once (its key is unique), so importing the same file again changes
nothing. The invoice's payment state follows from the sum of its payments (unpaid, partial, paid);
a fully paid invoice moves its orders to `paid` and the deal owner hears of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select, update

from handoff.app import notices
from handoff.app.context import AppContext
from handoff.connectors.intake.payments import PaymentFileError, PaymentRow
from handoff.domain.invoices import PaymentState, payment_state
from handoff.domain.orders import OrderState
from handoff.store import schema
from handoff.store.unit_of_work import insert_ignoring_conflicts


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
        insert_ignoring_conflicts(uow.conn, pay, [
            {"payment_key": r.payment_key, "invoice_id": found[r.invoice_number].id, "amount": r.amount,
             "paid_on": r.paid_on, "source": source, "received_at": now} for r in fresh], ["payment_key"])  # fmt: skip
        report.applied = len(fresh)
        for number in sorted({r.invoice_number for r in fresh}):
            row = found[number]
            amounts = uow.conn.execute(select(pay.c.amount).where(pay.c.invoice_id == row.id)).scalars()
            paid = sum(amounts, Decimal("0"))
            state = payment_state(row.gross_amount, paid)
            uow.conn.execute(update(inv).where(inv.c.id == row.id).values(paid_amount=paid, payment_state=state.value))
            report.states[number] = state.value
            order_rows = uow.conn.execute(
                select(schema.orders.c.id, schema.orders.c.deal_id, schema.orders.c.owner_email)
                .join(schema.invoice_orders, schema.invoice_orders.c.order_id == schema.orders.c.id)
                .where(schema.invoice_orders.c.invoice_id == row.id)).all()  # fmt: skip
            for order in order_rows:
                uow.audit(at=now, actor=actor, action="invoice.payment_applied", entity_type="order",
                          entity_id=order.deal_id, reason=f"payment import {source}",
                          after={"invoice": number, "paid": paid, "payment_state": state.value})  # fmt: skip
                if state is PaymentState.PAID:
                    uow.conn.execute(update(schema.orders).where(schema.orders.c.id == order.id)
                                     .values(state=OrderState.PAID.value, updated_at=now))  # fmt: skip
                if order.owner_email:
                    notices.payment_status(uow, ctx, now, order.owner_email, number, state.value, str(paid),
                                           str(row.gross_amount), row.currency)  # fmt: skip
        uow.commit()
    return report



def apply_payment(ctx: AppContext, invoice_number: str, amount: Decimal, paid_on: date, reference: str,
                  actor: str) -> PaymentReport:
    """One payment entered by a person. Its key is its content, so submitting it twice applies it once."""
    key = hashlib.sha256(f"manual|{invoice_number}|{amount}|{paid_on}|{reference}".encode()).hexdigest()
    row = PaymentRow(1, invoice_number, amount, paid_on, reference, key)
    return apply_payments(ctx, [row], "manual entry", actor)

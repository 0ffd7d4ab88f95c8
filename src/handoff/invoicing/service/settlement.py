"""Settlement of an issued invoice: its paid and credited amounts, what is still open (gross -
paid - credited) and its payment state, kept together whichever side moved them (a payment, a
reversal, a credit note, credit applied from the customer's balance).

Called inside the caller's unit of work (cash application, payment imports, credit use cases).
The invoice row is locked first on PostgreSQL (`FOR UPDATE`, as `ledger` takes it), so a payment
and a credit application on one invoice take turns and each sees what the other settled; SQLite
serialises writers anyway. The orders follow their invoice: `paid` once nothing is open on it and
the customer paid (its payment state says whether credit took part), back to `sent` when something
is open again; an invoice wholly cancelled by credit, nothing paid, leaves its orders `sent`
(invoiced, never paid). Each order is audited and its deal owner told (topic `payment_status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from handoff.context import AppContext
from handoff.deals.domain.orders import OrderState
from handoff.invoicing.domain.invoices import OPEN_STATES, payment_state
from handoff.invoicing.repository.settlement import Settled, SettlementRepository
from handoff.kernel.money import round2
from handoff.kernel.storage.unit_of_work import UnitOfWork
from handoff.notifications import service as notices


class SettlementError(Exception):
    """A settlement asked of something that is not an issued invoice (a programming error upstream)."""


@dataclass(frozen=True)
class Settlement:
    """An invoice as settled now, and the orders it bills (for pushes that name the deals)."""

    invoice: Settled
    order_ids: list[int]

    @property
    def open_amount(self) -> Decimal:
        return self.invoice.open_amount


def text(amount: Decimal) -> str:
    """An amount as the notices and pushes carry it: decimal text in cents."""
    return str(round2(amount))


def settle(
    uow: UnitOfWork,
    ctx: AppContext,
    invoice_id: int,
    now: datetime,
    actor: str,
    reason: str,
    *,
    paid: Decimal | None = None,
    action: str = "invoice.payment_applied",
    status: dict[str, Any] | None = None,
) -> Settlement:
    """Settle one invoice again: `paid` (the sum of its payments, when they changed) and the credit
    allocated to it make its open amount and payment state; its orders follow (audited as `action`,
    their owners told)."""
    repo = uow.repository(SettlementRepository)
    before = repo.invoice(invoice_id, lock=True)
    if before is None:
        raise SettlementError(f"invoice id {invoice_id} does not exist")
    paid = before.paid_amount if paid is None else paid
    credited = repo.credited_total(invoice_id)
    state = payment_state(before.gross_amount, paid, credited)
    repo.store(invoice_id, paid, credited, state)
    after = before._replace(paid_amount=paid, credited_amount=credited, payment_state=state)
    orders = repo.orders(invoice_id)
    figures = {"credited": text(credited), "open": text(after.open_amount)}
    for order in orders:
        uow.audit(
            at=now,
            actor=actor,
            action=action,
            entity_type="order",
            entity_id=order.deal_id,
            reason=reason,
            after={"invoice": after.number, "paid": paid, **figures, "payment_state": state.value},
        )
        if state not in OPEN_STATES and paid > 0:
            if order.state is not OrderState.PAID:
                repo.set_order_state(order.id, OrderState.PAID, now)
        elif state in OPEN_STATES and order.state is OrderState.PAID:  # a payment was undone
            repo.set_order_state(order.id, OrderState.SENT, now)
        if order.owner_email:
            notices.payment_status(
                uow,
                ctx,
                now,
                order.owner_email,
                after.number,
                state.value,
                str(paid),
                str(after.gross_amount),
                after.currency,
                deal_id=order.deal_id,
                due_date=after.due_date,
                extra={**figures, **(status or {})},
            )
    return Settlement(after, [o.id for o in orders])

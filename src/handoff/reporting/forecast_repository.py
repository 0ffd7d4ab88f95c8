"""Reads for the cash forecast and its backtest (`reporting.forecast`): issued invoices with every
dated payment and credit that settled them, and the open CRM pipeline. Reporting owns no table; like
`reporting.repository` it reads the capabilities' tables as a read model, each read on its own
connection, nothing written. Amounts come with cents (PostgreSQL and SQLite return different digits).
Contract schedules come from the contracts service (`contracts.service.queries.schedule_outlook`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, or_, select

from handoff.kernel.money import round2
from handoff.kernel.storage import schema


@dataclass(slots=True)
class LedgerRow:
    """An issued invoice with its dated settlements: (day, amount, is cash)."""

    number: str
    customer_id: str
    currency: str
    issue_date: date
    due_date: date
    gross: Decimal
    net: Decimal
    tax: Decimal
    settlements: list[tuple[date, Decimal, bool]] = field(default_factory=list)
    disputed_on: date | None = None  # the UTC day its open dispute was opened (`handoff dispute`)


@dataclass(frozen=True, slots=True)
class PipelineRow:
    deal_id: str
    customer_id: str
    currency: str
    amount: Decimal | None
    data: dict[str, Any]  # the deal as received: stage, close_date, payment_terms, probability
    received_at: datetime


class ForecastRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ledger(self, since: date | None = None) -> list[LedgerRow]:
        """Every issued invoice (not credit notes) issued on or after `since` or still open, with its
        payments (a write-off is not cash; an undone payment is a negative one) and the credit applied
        to it, and the day its open dispute was opened, by number. `since` keeps the read to the
        history the forecast uses."""
        inv, pay, alloc, dis = schema.invoices, schema.payments, schema.credit_allocations, schema.invoice_disputes
        wanted = [inv.c.status == "issued", inv.c.kind == "invoice", inv.c.issue_date.is_not(None)]
        if since is not None:
            wanted.append(or_(inv.c.issue_date >= since, inv.c.payment_state.in_(["unpaid", "partial"])))
        chosen = select(inv.c.id).where(*wanted).scalar_subquery()
        with self._engine.connect() as conn:
            rows = {
                r.id: LedgerRow(
                    r.number,
                    r.customer_id,
                    r.currency,
                    r.issue_date,
                    r.due_date or r.issue_date,
                    round2(r.gross_amount),
                    round2(r.net_amount),
                    round2(r.tax_amount),
                )
                for r in conn.execute(
                    select(
                        inv.c.id,
                        inv.c.number,
                        inv.c.customer_id,
                        inv.c.currency,
                        inv.c.issue_date,
                        inv.c.due_date,
                        inv.c.gross_amount,
                        inv.c.net_amount,
                        inv.c.tax_amount,
                    ).where(*wanted)
                )
            }
            payments = select(pay.c.invoice_id, pay.c.paid_on, pay.c.amount, pay.c.source)
            for p in conn.execute(payments.where(pay.c.invoice_id.in_(chosen))):
                if (row := rows.get(p.invoice_id)) is not None:
                    row.settlements.append((p.paid_on, round2(p.amount), not p.source.startswith("write-off:")))
            for a in conn.execute(
                select(alloc.c.invoice_id, alloc.c.allocated_on, alloc.c.amount).where(alloc.c.invoice_id.in_(chosen))
            ):
                if (row := rows.get(a.invoice_id)) is not None:
                    row.settlements.append((a.allocated_on, round2(a.amount), False))
            for d in conn.execute(select(dis.c.invoice_id, dis.c.opened_at).where(dis.c.invoice_id.in_(chosen))):
                if (row := rows.get(d.invoice_id)) is not None:
                    row.disputed_on = d.opened_at.date()
        return sorted(rows.values(), key=lambda r: r.number)

    def pipeline(self) -> list[PipelineRow]:
        """Deals known but not won (orders in state `pipeline`), by deal id."""
        o = schema.orders
        q = (
            select(o.c.deal_id, o.c.customer_id, o.c.currency, o.c.amount, o.c.data, o.c.received_at)
            .where(o.c.state == "pipeline")
            .order_by(o.c.deal_id)
        )
        with self._engine.connect() as conn:
            return [
                PipelineRow(
                    r.deal_id,
                    r.customer_id,
                    r.currency,
                    None if r.amount is None else round2(r.amount),
                    r.data,
                    r.received_at,
                )
                for r in conn.execute(q)
            ]

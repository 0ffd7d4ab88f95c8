"""Collections storage: the only SQL for reminders sent, invoice disputes and dunning pauses.

Dunning decides on invoices it does not own: which are open and overdue, and by how much, it asks
invoicing's ledger; here it also reads, without writing them, an invoice's stored document (whose
buyer is the billing contact reminders go to) and the deal owners of its orders. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import delete, select

from handoff.collections.domain import CustomerPause, Tone
from handoff.invoicing.domain.invoices import Invoice, invoice_from_json
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

CHUNK = 5000  # invoice ids per IN (...) list


class OverdueInvoice(NamedTuple):
    """An issued invoice with something open past its due date, with the figures its owners are told."""

    id: int
    number: str
    due_date: date | None
    gross_amount: Decimal
    paid_amount: Decimal
    currency: str
    credited_amount: Decimal = Decimal(0)


class InvoiceOwner(NamedTuple):
    deal_id: str
    owner_email: str | None


class SentReminder(NamedTuple):
    number: str
    level: int
    tone: str
    sent_on: date
    recipients: dict[str, list[str]]


class DunningRepository(OnUnitOfWorkOrEngine):
    """Built on a unit of work for the dunning run, disputes and pauses; on an engine for reads only."""

    # -- the dunning run ------------------------------------------------------------------------

    def history(self, invoice_ids: Sequence[int]) -> tuple[dict[int, list[tuple[int, date]]], set[int]]:
        """Of these invoices: the reminder levels sent (with the day each went out), and which are
        disputed. The invoices themselves, and what is open on them, come from invoicing's ledger."""
        rem, dis = schema.dunning_reminders, schema.invoice_disputes
        sent: dict[int, list[tuple[int, date]]] = {}
        disputed: set[int] = set()
        with self._connect() as conn:
            for k in range(0, len(invoice_ids), CHUNK):
                chunk = invoice_ids[k : k + CHUNK]
                q = select(rem.c.invoice_id, rem.c.level, rem.c.sent_on).where(rem.c.invoice_id.in_(chunk))
                for r in conn.execute(q):
                    sent.setdefault(r.invoice_id, []).append((r.level, r.sent_on))
                disputed.update(conn.execute(select(dis.c.invoice_id).where(dis.c.invoice_id.in_(chunk))).scalars())
        return sent, disputed

    def pauses(self) -> list[CustomerPause]:
        p = schema.dunning_pauses
        with self._connect() as conn:
            return [CustomerPause(r.customer_id, r.until) for r in conn.execute(select(p.c.customer_id, p.c.until))]

    def invoice(self, invoice_id: int) -> Invoice:
        """The invoice as issued (its stored document)."""
        inv = schema.invoices
        with self._connect() as conn:
            doc = conn.execute(select(inv.c.document).where(inv.c.id == invoice_id)).scalar_one()
        return invoice_from_json(doc)

    def owners(self, invoice_id: int) -> list[InvoiceOwner]:
        """The deals the invoice bills, with their owners, by deal id."""
        o, io = schema.orders, schema.invoice_orders
        q = (
            select(o.c.deal_id, o.c.owner_email)
            .join(io, io.c.order_id == o.c.id)
            .where(io.c.invoice_id == invoice_id)
            .order_by(o.c.deal_id)
        )
        with self._connect() as conn:
            return [InvoiceOwner(r.deal_id, r.owner_email) for r in conn.execute(q)]

    def record_reminder(
        self,
        invoice_id: int,
        level: int,
        tone: Tone,
        sent_on: date,
        sent_at: datetime,
        recipients: Mapping[str, list[str]],
        outbox_key: str,
    ) -> None:
        """Note a level as sent (once: a second time for the same invoice and level is ignored)."""
        row = {
            "invoice_id": invoice_id,
            "level": level,
            "tone": tone.value,
            "sent_on": sent_on,
            "sent_at": sent_at,
            "recipients": recipients,
            "outbox_key": outbox_key,
        }
        insert_many(self._tx, schema.dunning_reminders, [row], ["invoice_id", "level"])

    def reminders_sent(self, numbers: Iterable[str] | None = None) -> list[SentReminder]:
        """Reminders sent (for the invoices numbered `numbers`, or all), by invoice and level."""
        rem, inv = schema.dunning_reminders, schema.invoices
        q = (
            select(inv.c.number, rem.c.level, rem.c.tone, rem.c.sent_on, rem.c.recipients)
            .join(inv, inv.c.id == rem.c.invoice_id)
            .order_by(inv.c.number, rem.c.level)
        )
        if numbers is not None:
            q = q.where(inv.c.number.in_(list(numbers)))
        with self._connect() as conn:
            return [SentReminder(*r) for r in conn.execute(q)]

    # -- disputes and pauses --------------------------------------------------------------------

    def invoice_id(self, number: str) -> int | None:
        inv = schema.invoices
        with self._connect() as conn:
            invoice_id: int | None = conn.execute(select(inv.c.id).where(inv.c.number == number)).scalar_one_or_none()
        return invoice_id

    def is_disputed(self, invoice_id: int) -> bool:
        dis = schema.invoice_disputes
        with self._connect() as conn:
            return conn.execute(select(dis.c.invoice_id).where(dis.c.invoice_id == invoice_id)).first() is not None

    def open_dispute(self, invoice_id: int, reason: str, opened_by: str, opened_at: datetime) -> None:
        """Mark the invoice disputed (an open dispute stays as it was)."""
        row = {"invoice_id": invoice_id, "reason": reason, "opened_by": opened_by, "opened_at": opened_at}
        insert_many(self._tx, schema.invoice_disputes, [row], ["invoice_id"])

    def clear_dispute(self, invoice_id: int) -> bool:
        """Close the invoice's dispute; False when it had none."""
        dis = schema.invoice_disputes
        return self._tx.execute(delete(dis).where(dis.c.invoice_id == invoice_id)).rowcount > 0

    def customer_has_invoice(self, customer_id: str) -> bool:
        inv = schema.invoices
        with self._connect() as conn:
            q = select(inv.c.id).where(inv.c.customer_id == customer_id).limit(1)
            return conn.execute(q).first() is not None

    def lift_pause(self, customer_id: str) -> None:
        p = schema.dunning_pauses
        self._tx.execute(delete(p).where(p.c.customer_id == customer_id))

    def add_pause(self, customer_id: str, until: date | None, reason: str, paused_by: str, paused_at: datetime) -> None:
        self._tx.execute(
            schema.dunning_pauses.insert().values(
                customer_id=customer_id, until=until, reason=reason, paused_by=paused_by, paused_at=paused_at
            )
        )

"""Issued invoices' billing contacts as finance changed them: the only SQL on `invoice_contacts`.
One row per changed invoice, the current contact; nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update

from handoff.invoicing.domain.contacts import BillingContact
from handoff.kernel.storage import schema
from handoff.kernel.storage.repository import OnUnitOfWorkOrEngine

_c = schema.invoice_contacts


class ChangedContact(NamedTuple):
    """An invoice's billing contact as last changed, by whom, when and why."""

    contact: BillingContact
    reason: str
    changed_by: str
    changed_at: datetime


class ContactRepository(OnUnitOfWorkOrEngine):
    def current(self, invoice_id: int) -> ChangedContact | None:
        """The contact finance set for the invoice, or None while it is the one it was issued to."""
        q = select(_c.c.billing_email, _c.c.billing_contact_name, _c.c.reason, _c.c.changed_by, _c.c.changed_at)
        with self._connect() as conn:
            row = conn.execute(q.where(_c.c.invoice_id == invoice_id)).one_or_none()
        if row is None:
            return None
        return ChangedContact(
            BillingContact(row.billing_email, row.billing_contact_name), row.reason, row.changed_by, row.changed_at
        )

    def save(self, invoice_id: int, contact: BillingContact, reason: str, actor: str, at: datetime) -> None:
        """Make `contact` the invoice's billing contact (its earlier change, if any, is replaced)."""
        values = {
            "billing_email": contact.email,
            "billing_contact_name": contact.name,
            "reason": reason,
            "changed_by": actor,
            "changed_at": at,
        }
        if self._tx.execute(update(_c).where(_c.c.invoice_id == invoice_id).values(**values)).rowcount == 0:
            self._tx.execute(_c.insert().values(invoice_id=invoice_id, **values))

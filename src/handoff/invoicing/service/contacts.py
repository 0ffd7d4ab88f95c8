"""An issued invoice's billing contact: finance changes it on purpose, and the rest of handoff
writes to it.

The issued document (the legal invoice) keeps the contact it was issued to and is never edited.
When the customer's accounts payable moves after issue, finance (roles finance and admin, checked by
the adapters) records the new e-mail, and the name where one is given, with a reason; the change is
audited on the invoice with the contact before and after. From then on the invoice's reminders
(`collections`, through `billing_contact`) and any sending again (`resend`) go to the new contact.
Only an issued invoice or credit note: a draft's contact follows its deal, fixed there.
"""

from __future__ import annotations

from dataclasses import dataclass

from handoff.context import AppContext
from handoff.invoicing.domain.contacts import BillingContact, as_issued, contact_problem
from handoff.invoicing.domain.invoices import DocumentStatus
from handoff.invoicing.repository.contacts import ChangedContact, ContactRepository
from handoff.invoicing.repository.invoices import InvoiceRepository, StoredInvoice
from handoff.invoicing.service.issuing import send_again
from handoff.kernel.storage.unit_of_work import UnitOfWork


class ContactError(Exception):
    """A contact change refused: `code` not_found | not_issued | invalid; `field` names the bad input."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True)
class ContactChange:
    number: str
    before: BillingContact
    after: BillingContact
    changed: bool  # False: the invoice already had this contact (nothing recorded)
    resent: bool


def billing_contact(uow: UnitOfWork, invoice_id: int) -> BillingContact | None:
    """Whom the invoice's e-mails go to now: the contact finance set since issue, else the one its
    document was issued to (None: no such invoice). For other packages' use cases (dunning)."""
    changed = uow.repository(ContactRepository).current(invoice_id)
    if changed is not None:
        return changed.contact
    document = uow.repository(InvoiceRepository).document(invoice_id)
    return None if document is None else as_issued(document)


def changed_contact(ctx: AppContext, invoice_id: int) -> ChangedContact | None:
    """The invoice's contact as finance last changed it, with who, when and why (None: as issued)."""
    return ContactRepository(ctx.engine).current(invoice_id)


def _stored(uow: UnitOfWork, invoice: int | str) -> StoredInvoice:
    repo = uow.repository(InvoiceRepository)
    stored = repo.get(invoice, lock=True) if isinstance(invoice, int) else repo.by_number(invoice, lock=True)
    if stored is None:
        raise ContactError("not_found", f"there is no invoice {invoice}", "invoice")
    if stored.status is not DocumentStatus.ISSUED or not stored.number:
        raise ContactError(
            "not_issued",
            f"invoice {stored.number or invoice} is {stored.status.value}: only an issued invoice's billing "
            "contact is changed here; a draft's follows its deal (fix the deal)",
        )
    return stored


def change_billing_contact(
    ctx: AppContext,
    invoice: int | str,
    *,
    email: str,
    reason: str,
    actor: str,
    name: str | None = None,
    resend: bool = False,
) -> ContactChange:
    """Make `email` (and `name`; None keeps the current name, "" clears it) the billing contact of
    the issued invoice `invoice` (its id, or its number as text), saying why. Audited with the
    contact before and after; `resend`: the invoice goes to the new contact at once. A bad value is
    refused naming its field, and nothing is written."""
    email, reason = email.strip(), reason.strip()
    now = ctx.clock()
    with ctx.unit_of_work() as uow:
        stored = _stored(uow, invoice)
        number = stored.number or ""
        contacts = uow.repository(ContactRepository)
        earlier = contacts.current(stored.id)
        before = earlier.contact if earlier is not None else as_issued(stored.invoice)
        after = BillingContact(email, before.name if name is None else name.strip())
        problem = contact_problem(after.email, after.name, reason)
        if problem is not None:
            raise ContactError("invalid", f"invoice {number}: {problem.message}", problem.field)
        changed = after != before
        if changed:
            contacts.save(stored.id, after, reason, actor, now)
            uow.audit(
                at=now,
                actor=actor,
                action="invoice.billing_contact_changed",
                entity_type="invoice",
                entity_id=number,
                reason=reason,
                before={"billing_email": before.email, "billing_contact_name": before.name},
                after={"billing_email": after.email, "billing_contact_name": after.name},
            )
        if resend:
            key = f"email:{stored.invoice.kind.value}:{number}:resent:{now.isoformat()}"
            send_again(uow, stored.invoice, after, key, now)
            uow.audit(
                at=now,
                actor=actor,
                action="invoice.resent",
                entity_type="invoice",
                entity_id=number,
                reason=reason,
                after={"to": [after.email]},
            )
        uow.commit()
    return ContactChange(number, before, after, changed, resend)

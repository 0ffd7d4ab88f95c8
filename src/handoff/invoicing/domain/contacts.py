"""An issued invoice's billing contact: the buyer's contact e-mail (BT-58) and name (BT-56) that
its e-mails, reminders included, are addressed to.

The issued document is the legal invoice and never changes; its buyer says whom it was issued to.
When the customer's accounts-payable contact changes after that, finance records the new contact
for the invoice on purpose, with a reason: from then on it is the one written to, while the
document keeps the contact as issued. Values are checked here, each problem naming its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from handoff.invoicing.domain.invoices import Invoice

EMAIL_LENGTH = 320  # RFC 5321's limit for a whole address
NAME_LENGTH = 300
REASON_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never in an address or a name; a line break would forge a mail header


@dataclass(frozen=True, slots=True)
class BillingContact:
    email: str
    name: str = ""


def as_issued(invoice: Invoice) -> BillingContact:
    """The contact the invoice was issued to (its document's buyer)."""
    return BillingContact(invoice.buyer.billing_email, invoice.buyer.billing_contact_name)


@dataclass(frozen=True, slots=True)
class ContactProblem:
    field: str  # billing_email | billing_contact_name | reason
    message: str


@lru_cache(maxsize=1024)
def _email_error(value: str) -> str | None:
    try:
        # syntax only (no DNS lookup), as readiness checks a deal's billing e-mail
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def contact_problem(email: str, name: str, reason: str) -> ContactProblem | None:
    """The first thing wrong with a new billing contact and the reason for changing it, or None."""
    if not email:
        return ContactProblem("billing_email", "billing_email is missing: the new contact needs an e-mail address")
    if len(email) > EMAIL_LENGTH or _CONTROL.search(email):
        return ContactProblem("billing_email", f"billing_email {email!r} is not a valid e-mail address")
    error = _email_error(email)
    if error is not None:
        return ContactProblem("billing_email", f"billing_email {email!r} is not a valid e-mail address: {error}")
    if len(name) > NAME_LENGTH:
        return ContactProblem("billing_contact_name", f"billing_contact_name is longer than {NAME_LENGTH} characters")
    if _CONTROL.search(name):
        return ContactProblem("billing_contact_name", "billing_contact_name must be one line of text")
    if not reason:
        return ContactProblem("reason", "reason is missing: say why the billing contact changes (it is audited)")
    if len(reason) > REASON_LENGTH or _CONTROL.search(reason):
        return ContactProblem("reason", f"reason must be one line of at most {REASON_LENGTH} characters")
    return None

"""An invoice's status as sales sees it on the deal in their CRM (status write-back).

What finance knows of the invoice a deal was billed on: its number, payment state (`overdue` when
something is open past the due date: stored nowhere, derived as for dunning), the open amount
(gross - paid - credited, from invoicing's ledger), the days past due, whether it is disputed and
the highest reminder level sent. `facts` is the JSON-ready form the outbox carries (amounts as
decimal text), `digest` what makes two statuses the same: the days past due are left out of it,
since they grow every day without anything having happened; they are written as of the change
that sends the status (with the due date, from which a CRM can count on).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from handoff.kernel.money import round2

OVERDUE = "overdue"
_OPEN_STATES = frozenset({"unpaid", "partial"})


@dataclass(frozen=True, slots=True)
class InvoiceStatus:
    invoice_number: str
    invoice_status: str  # the document status: issued
    payment_state: str  # unpaid | partial | paid | credited | overdue
    gross_amount: Decimal
    paid_amount: Decimal
    credited_amount: Decimal
    open_amount: Decimal
    currency: str
    due_date: date | None
    overdue_days: int
    disputed: bool
    reminder_level: int

    def facts(self) -> dict[str, Any]:
        """The status as the outbox carries it (amounts as decimal text in cents, the due date ISO)."""
        return {
            "invoice_number": self.invoice_number,
            "invoice_status": self.invoice_status,
            "payment_state": self.payment_state,
            "gross_amount": str(round2(self.gross_amount)),
            "paid_amount": str(round2(self.paid_amount)),
            "credited_amount": str(round2(self.credited_amount)),
            "open_amount": str(round2(self.open_amount)),
            "currency": self.currency,
            "due_date": self.due_date.isoformat() if self.due_date else "",
            "overdue_days": self.overdue_days,
            "disputed": self.disputed,
            "reminder_level": self.reminder_level,
        }

    def digest(self) -> str:
        """SHA-256 of the facts that make the state (all but the days past due)."""
        facts = {k: v for k, v in self.facts().items() if k != "overdue_days"}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def invoice_status(
    *,
    number: str,
    document_status: str,
    payment_state: str,
    gross: Decimal,
    paid: Decimal,
    credited: Decimal,
    open_amount: Decimal,
    currency: str,
    due_date: date | None,
    today: date,
    disputed: bool,
    reminder_level: int,
) -> InvoiceStatus:
    """The status of an invoice on `today`: `overdue` (with its days) while something is open past
    the due date, the stored payment state otherwise."""
    late = (
        document_status == "issued"
        and payment_state in _OPEN_STATES
        and open_amount > 0
        and due_date is not None
        and due_date < today
    )
    return InvoiceStatus(
        number,
        document_status,
        OVERDUE if late else payment_state,
        gross,
        paid,
        credited,
        open_amount,
        currency,
        due_date,
        (today - due_date).days if late and due_date is not None else 0,
        disputed,
        reminder_level,
    )

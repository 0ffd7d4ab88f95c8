"""Storage of payments: imported, applied by cash application (and reversed by an undo), summed
per invoice. The invoices they settle are invoicing's (`invoicing.service.settlement` keeps their
paid, credited and open amounts, and their orders' state). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from sqlalchemy import select

from handoff.kernel.money import ZERO
from handoff.kernel.storage import schema
from handoff.kernel.storage.bulk import insert_many
from handoff.kernel.storage.unit_of_work import UnitOfWork


class ReceivedPayment(NamedTuple):
    payment_key: str
    amount: Decimal
    paid_on: date


class ImportedPayment(Protocol):
    """A payment as a payment file gives it (`cash.formats.payment_file.PaymentRow`)."""

    @property
    def payment_key(self) -> str: ...
    @property
    def invoice_number(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def paid_on(self) -> date: ...


class PaymentRepository:
    """Payments on a unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._postgres = uow.is_postgres

    # -- payments --------------------------------------------------------------------------------

    def known_payments(self, keys: Sequence[str]) -> set[str]:
        """Those of the payment keys already stored."""
        pay = schema.payments
        return set(self._conn.execute(select(pay.c.payment_key).where(pay.c.payment_key.in_(keys))).scalars())

    def add_imported(
        self, rows: Sequence[ImportedPayment], invoice_ids: Mapping[str, int], source: str, now: datetime
    ) -> None:
        """Store payments of a payment file (a key already stored is skipped)."""
        payments = [
            {
                "payment_key": r.payment_key,
                "invoice_id": invoice_ids[r.invoice_number],
                "amount": r.amount,
                "paid_on": r.paid_on,
                "source": source,
                "received_at": now,
            }
            for r in rows
        ]
        insert_many(self._conn, schema.payments, payments, ["payment_key"])

    def add_for_match(self, match_id: int, line_id: str, paid_on: date, now: datetime, sign: int = 1) -> list[int]:
        """Payments for a match's allocations (and a write-off of an accepted short payment), or their
        reversal (`sign=-1`) when the match is undone. Keys make each write happen once. Returns the
        invoices they are for."""
        a = schema.cash_allocations
        rows = self._conn.execute(
            select(a.c.invoice_id, a.c.amount, a.c.write_off).where(a.c.match_id == match_id)
        ).all()
        kind = "cash" if sign > 0 else "cash-undo"
        payments = []
        for r in rows:
            payments.append(
                {
                    "payment_key": f"{kind}:{match_id}:{r.invoice_id}",
                    "invoice_id": r.invoice_id,
                    "amount": sign * r.amount,
                    "paid_on": paid_on,
                    "source": f"bank:{line_id}",
                    "received_at": now,
                }
            )
            if r.write_off:
                payments.append(
                    {
                        "payment_key": f"{kind}-write-off:{match_id}:{r.invoice_id}",
                        "invoice_id": r.invoice_id,
                        "amount": sign * r.write_off,
                        "paid_on": paid_on,
                        "source": f"write-off:{line_id}",
                        "received_at": now,
                    }
                )
        insert_many(self._conn, schema.payments, payments, ["payment_key"])
        return [r.invoice_id for r in rows]

    def paid_total(self, invoice_id: int) -> Decimal:
        """The sum of an invoice's payments (reversals count negative)."""
        pay = schema.payments
        amounts = self._conn.execute(select(pay.c.amount).where(pay.c.invoice_id == invoice_id)).scalars()
        return sum(amounts, ZERO)

    def received(self, invoice_id: int, at: datetime) -> list[ReceivedPayment]:
        """An invoice's payments recorded at `at` (in this transaction)."""
        pay = schema.payments
        rows = self._conn.execute(
            select(pay.c.payment_key, pay.c.amount, pay.c.paid_on).where(
                pay.c.invoice_id == invoice_id, pay.c.received_at == at
            )
        )
        return [ReceivedPayment(r.payment_key, r.amount, r.paid_on) for r in rows]

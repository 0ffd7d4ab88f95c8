"""Credit: what issued credit notes give back, and where it goes.

An issued credit note first settles the invoice it corrects (BT-25): it is allocated to that
invoice up to what is still open there (gross - payments - earlier credits). What the invoice
cannot take (it was paid already, in full or in part) stays with the credit note as remaining
credit; the remaining credit of a customer's credit notes of one selling entity and currency is
the customer's **credit balance**. Finance uses a balance in two ways, each an allocation of the
credit note's credit: applied to another open invoice of the same customer, entity and currency,
or refunded (money paid back). Credit notes are used oldest first, so allocations name the
credit note whose credit they use, as Xero's credit-note allocations and QuickBooks' linked
credit memos do.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from handoff.kernel.money import ZERO


class AllocationKind(str, enum.Enum):
    CORRECTED = "corrected"  # to the invoice the credit note corrects, when it is issued
    APPLIED = "applied"  # from the customer's balance to another open invoice
    REFUND = "refund"  # from the customer's balance, paid back to the customer


class CreditRuleError(ValueError):
    """A use of credit the rules refuse. `code`: `invalid` (a bad amount), `not_open` (the invoice
    has nothing open), `no_credit` (not that much credit, or none, in that entity and currency);
    `field`: the input it is about."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True, slots=True)
class CreditSource:
    """A credit note with credit left: its id, number, issue date and the credit not yet used."""

    credit_note_id: int
    number: str
    issued_on: date | None
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class Use:
    """An amount of one credit note's credit."""

    source: CreditSource
    amount: Decimal


def for_corrected(credit: Decimal, open_on_invoice: Decimal) -> Decimal:
    """How much of a newly issued credit note settles the invoice it corrects: all of it, or what
    is open there if that is less (nothing when the invoice is settled already)."""
    return max(ZERO, min(credit, open_on_invoice))


def balance(sources: Sequence[CreditSource]) -> Decimal:
    return sum((s.remaining for s in sources), ZERO)


def check_amount(amount: Decimal | None, field: str = "amount") -> None:
    """A positive amount in cents (None: not given, which each use decides on)."""
    if amount is None:
        return
    cents = amount * 100 if amount.is_finite() else amount
    if not amount.is_finite() or amount <= 0 or cents != cents.to_integral_value():
        raise CreditRuleError("invalid", f"{field} must be a positive amount in cents, not {amount}", field)


def take(amount: Decimal, sources: Sequence[CreditSource]) -> list[Use]:
    """`amount` of credit from `sources`, oldest credit note first (issue date, then number)."""
    uses: list[Use] = []
    left = amount
    for source in sorted(sources, key=lambda s: (s.issued_on or date.min, s.number, s.credit_note_id)):
        if left <= 0:
            break
        part = min(left, source.remaining)
        if part > 0:
            uses.append(Use(source, part))
            left -= part
    if left > 0:
        raise CreditRuleError(
            "no_credit", f"only {balance(sources):,.2f} of credit is left, not {amount:,.2f}", "amount"
        )
    return uses


def to_apply(
    wanted: Decimal | None, open_on_invoice: Decimal, sources: Sequence[CreditSource], where: str
) -> list[Use]:
    """The credit to apply to an invoice with `open_on_invoice` open: `wanted`, or (None) as much
    as the invoice is open and the balance allows. `where` names the invoice and its currency."""
    check_amount(wanted)
    if open_on_invoice <= 0:
        raise CreditRuleError("not_open", f"{where} has nothing open", "invoice")
    available = balance(sources)
    if available <= 0:
        raise CreditRuleError("no_credit", f"the customer has no credit for {where}", "invoice")
    if wanted is None:
        return take(min(open_on_invoice, available), sources)
    if wanted > open_on_invoice:
        raise CreditRuleError("invalid", f"{where} has only {open_on_invoice:,.2f} open, not {wanted:,.2f}", "amount")
    return take(wanted, sources)


def to_refund(wanted: Decimal, sources: Sequence[CreditSource], where: str) -> list[Use]:
    """The credit notes a refund of `wanted` uses (oldest first); `where`: whose balance."""
    check_amount(wanted)
    if balance(sources) <= 0:
        raise CreditRuleError("no_credit", f"{where} has no credit to refund", "amount")
    return take(wanted, sources)

"""Bank statements: the one shape every bank format is read into.

A `Statement` is what ISO 20022 camt.053 calls a statement (and camt.052 an account report,
camt.054 a debit/credit notification, SWIFT MT940 a customer statement message, OFX a
STMTRS): one account, one currency, optional opening and closing booked balances, and the
booked movements between them. Amounts are signed Decimals from the account holder's view:
a credit (money in) is positive, a debit negative.

Each `BankLine` carries a `line_id` that is stable across re-imports of the same file: a hash of
the account, the statement id, the line's position and its content. Importing the same
statement twice therefore yields the same ids and the store can ignore the duplicates.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from handoff.kernel.money import ZERO


@dataclass(frozen=True, slots=True)
class Balance:
    """A booked balance, signed (a debit balance, i.e. an overdraft, is negative)."""

    amount: Decimal
    on: date | None = None


@dataclass(frozen=True, slots=True)
class BankLine:
    """One movement on the account (camt `Ntry` or `TxDtls`, MT940 `:61:`+`:86:`, OFX STMTTRN)."""

    amount: Decimal  # signed: positive = credit (money received)
    currency: str
    booking_date: date | None = None
    value_date: date | None = None
    counterparty_name: str = ""
    counterparty_account: str = ""  # IBAN or other account number of the payer / payee
    remittance: str = ""  # unstructured remittance information, as the payer wrote it
    structured_reference: str = ""  # ISO 11649 RF or other creditor reference
    bank_reference: str = ""  # the bank's own reference (camt AcctSvcrRef, MT940 bank ref, OFX FITID)
    end_to_end_id: str = ""  # SEPA end-to-end id set by the payer
    booked: bool = True  # pending camt entries do not move the booked balance
    line_id: str = ""  # assigned by `make_statement`

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


@dataclass(frozen=True, slots=True)
class Statement:
    """One account's statement (or report / notification) from one bank file."""

    format: str  # "camt.053", "mt940", "ofx", "csv"...
    statement_id: str
    account: str  # IBAN where the bank gives one, else its account number
    currency: str
    opening: Balance | None = None
    closing: Balance | None = None
    lines: tuple[BankLine, ...] = field(default_factory=tuple)
    source: str = ""  # file name it came from, for messages only (not part of identity)


def line_identity(account: str, statement_id: str, position: int, line: BankLine) -> str:
    """A stable id: the same line of the same statement always hashes to the same value.

    Position is part of it because two genuinely identical movements on one day (two payments of
    the same amount by the same payer, without references) must stay two lines."""
    parts = (
        account,
        statement_id,
        str(position),
        str(line.amount),
        line.currency,
        line.booking_date.isoformat() if line.booking_date else "",
        line.value_date.isoformat() if line.value_date else "",
        line.counterparty_name,
        line.counterparty_account,
        line.remittance,
        line.structured_reference,
        line.bank_reference,
        line.end_to_end_id,
    )
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def make_statement(
    *,
    format: str,
    statement_id: str,
    account: str,
    currency: str,
    lines: Iterable[BankLine],
    opening: Balance | None = None,
    closing: Balance | None = None,
    source: str = "",
) -> Statement:
    """Build a statement and give each of its lines its stable `line_id`."""
    account = "".join(account.split())
    numbered = tuple(
        replace(line, line_id=line_identity(account, statement_id, i, line)) for i, line in enumerate(lines)
    )
    return Statement(
        format=format,
        statement_id=statement_id,
        account=account,
        currency=currency.upper(),
        opening=opening,
        closing=closing,
        lines=numbered,
        source=source,
    )


class BalanceStatus(enum.StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"  # the file states no opening or no closing balance


@dataclass(frozen=True, slots=True)
class BalanceCheck:
    """Finding of `check_balance`: opening + booked movements against the stated closing."""

    status: BalanceStatus
    opening: Decimal | None
    movements: Decimal
    closing: Decimal | None
    difference: Decimal | None  # closing - (opening + movements)

    @property
    def ok(self) -> bool:
        return self.status is BalanceStatus.OK


def movements(lines: Sequence[BankLine]) -> Decimal:
    return sum((line.amount for line in lines if line.booked), ZERO)


def check_balance(statement: Statement) -> BalanceCheck:
    """Does opening + sum(booked movements) equal closing? Returned as data, never raised."""
    total = movements(statement.lines)
    if statement.opening is None or statement.closing is None:
        return BalanceCheck(BalanceStatus.UNKNOWN, None, total, None, None)
    opening, closing = statement.opening.amount, statement.closing.amount
    difference = closing - (opening + total)
    status = BalanceStatus.OK if difference == 0 else BalanceStatus.MISMATCH
    return BalanceCheck(status, opening, total, closing, difference)

"""Bank statements: the one shape every bank format is read into.

A `Statement` is what ISO 20022 camt.053 calls a statement (and camt.052 an account report,
camt.054 a debit/credit notification, SWIFT MT940 a customer statement message, OFX a
STMTRS): one account, one currency, optional opening and closing booked balances, and the
booked movements between them. Amounts are signed Decimals from the account holder's view:
a credit (money in) is positive, a debit negative.

A statement can run over several pages (MT940 `:62M:` intermediate closing, then `:60M:` on the
next page). Its `pages` keep each page's balances and line count, so the balance is checked page by
page, and the lines are numbered through the whole statement.

Each `BankLine` carries a `line_id` that is stable across re-imports of the same file: a hash of
the account, the id of the statement (or page) it is on, the line's running position among the lines
under that id, and its content. Importing the same statement twice therefore yields the same ids and
the store can ignore them; two lines of one file never share an id, even when two pages carry the
same statement number and an identical booking.

`warnings` (an optional tag that could not be read and was left out) and `repairs` (something the
file's standard forbids but whose meaning is clear, normalised before reading) travel with the
statement into the import report.
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
class Page:
    """One page of a statement: its own id as the bank numbered it, its balances (intermediate ones
    between pages) and how many of the statement's lines, in order, it holds."""

    statement_id: str
    opening: Balance | None
    closing: Balance | None
    lines: int


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
    pages: tuple[Page, ...] = ()  # empty: one page, the statement's own balances
    warnings: tuple[str, ...] = ()  # read around, not refused: an unreadable optional field
    repairs: tuple[str, ...] = ()  # normalised before reading: off-standard but unambiguous

    def page_list(self) -> tuple[Page, ...]:
        """The pages, or the statement as its own single page."""
        return self.pages or (Page(self.statement_id, self.opening, self.closing, len(self.lines)),)


def line_identity(account: str, statement_id: str, position: int, line: BankLine) -> str:
    """A stable id: the same line of the same statement always hashes to the same value.

    Position is part of it because two genuinely identical movements on one day (two payments of
    the same amount by the same payer, without references) must stay two lines. It is the running
    position among all lines under `statement_id` in the file, across pages that share it."""
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
    pages: Sequence[Page] = (),
    warnings: Sequence[str] = (),
    repairs: Sequence[str] = (),
) -> Statement:
    """Build a statement and give each of its lines its stable `line_id`.

    With `pages`, the statement opens with the first page's opening and closes with the last page's
    closing; each line is numbered among the lines of every page with its page's id, so pages with
    their own numbers (`5/1`, `5/2`) keep the ids they always had and pages that repeat one number
    continue counting instead of starting again at 0."""
    account = "".join(account.split())
    lines = list(lines)
    if len(pages) > 1:
        if sum(p.lines for p in pages) != len(lines):
            raise ValueError(
                f"statement {statement_id}: pages hold {sum(p.lines for p in pages)} lines, not {len(lines)}"
            )
        opening, closing = pages[0].opening, pages[-1].closing
        ids = [p.statement_id for p in pages for _ in range(p.lines)]
    else:
        pages = ()
        ids = [statement_id] * len(lines)
    seen: dict[str, int] = {}
    numbered = []
    for line, page_id in zip(lines, ids, strict=True):
        position = seen.get(page_id, 0)
        seen[page_id] = position + 1
        numbered.append(replace(line, line_id=line_identity(account, page_id, position, line)))
    return Statement(
        format=format,
        statement_id=statement_id,
        account=account,
        currency=currency.upper(),
        opening=opening,
        closing=closing,
        lines=tuple(numbered),
        source=source,
        pages=tuple(pages),
        warnings=tuple(warnings),
        repairs=tuple(repairs),
    )


class BalanceStatus(enum.StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"  # the file states no opening or no closing balance


@dataclass(frozen=True, slots=True)
class BalanceCheck:
    """Finding of `check_balance`: opening + booked movements against the stated closing.

    For a statement of several pages, a mismatch names the first page that does not add up
    (`page`, 1-based) with that page's figures, or the page whose opening is not the previous
    page's closing (`continuity`)."""

    status: BalanceStatus
    opening: Decimal | None
    movements: Decimal
    closing: Decimal | None
    difference: Decimal | None  # closing - (opening + movements)
    page: int | None = None  # the page the figures are about, for a statement of several pages
    continuity: bool = False  # the page's opening differs from the previous page's closing

    @property
    def ok(self) -> bool:
        return self.status is BalanceStatus.OK

    @property
    def expected(self) -> Decimal | None:
        """The closing balance the opening and the movements lead to."""
        return None if self.opening is None else self.opening + self.movements

    def explain(self, statement_id: str) -> str:
        """One sentence a person can act on: which statement (and page), what was stated, what adds up."""
        where = f"statement {statement_id}" + (f" page {self.page}" if self.page else "")
        if self.continuity:
            return (
                f"{where} opens with {self.opening} but page {(self.page or 2) - 1} closed with {self.closing} "
                f"(a page missing or out of order?)"
            )
        return (
            f"{where}: opening {self.opening} + movements {self.movements} = {self.expected}, "
            f"but the stated closing is {self.closing} (difference {self.difference}; lines missing?)"
        )


def movements(lines: Sequence[BankLine]) -> Decimal:
    return sum((line.amount for line in lines if line.booked), ZERO)


def _check(opening: Balance | None, lines: Sequence[BankLine], closing: Balance | None) -> BalanceCheck:
    total = movements(lines)
    if opening is None or closing is None:
        return BalanceCheck(BalanceStatus.UNKNOWN, None, total, None, None)
    difference = closing.amount - (opening.amount + total)
    status = BalanceStatus.OK if difference == 0 else BalanceStatus.MISMATCH
    return BalanceCheck(status, opening.amount, total, closing.amount, difference)


def check_balance(statement: Statement) -> BalanceCheck:
    """Does opening + sum(booked movements) equal closing, page by page? Returned as data, never raised.

    A statement of several pages is checked page by page (a page without both balances is
    skipped), each page must open with the previous page's closing, and the whole from the first
    opening to the last closing."""
    whole = _check(statement.opening, statement.lines, statement.closing)
    if len(statement.pages) < 2:
        return whole
    start, previous = 0, None
    for number, page in enumerate(statement.pages, start=1):
        before, now = (previous.closing if previous else None), page.opening
        if before is not None and now is not None and before.amount != now.amount:
            gap = now.amount - before.amount
            return BalanceCheck(BalanceStatus.MISMATCH, now.amount, ZERO, before.amount, gap, number, True)
        found = _check(page.opening, statement.lines[start : start + page.lines], page.closing)
        if found.status is BalanceStatus.MISMATCH:
            return replace(found, page=number)
        start, previous = start + page.lines, page
    return whole

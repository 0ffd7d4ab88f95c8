"""Bank statement import: a file is read whole, checked, then stored in one transaction, or refused.

A statement file is parsed completely before anything is stored (`read_statement_file`), then
stored in one transaction (`store_statements`): all or nothing; a refused file names the reason
(`StatementError`): the statement, and for a balance that does not add up the expected and the
stated balance (page by page for a statement of several pages).

Identity: a statement by its account and id, a line by its `line_id` (see `cash.domain.bank`).
Inside one file, two statements with one identity or two lines with one id are an error, never a
duplicate: a bank that repeats a page number must not lose the page's bookings. Importing the same
file again stores nothing. A statement stored before whose stored lines and this file's lines only
partly agree (or not at all) is refused: the bank sent a different statement under the same id, or
the next page of a statement on its own, and merging either silently would lose or double money.

The report (`StatementImport`) says per file what was read and stored: format, statements,
bookings, each statement's balance status, and the warnings and repairs the format readers made.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from handoff.cash.domain.bank import BalanceStatus, Statement, check_balance
from handoff.cash.domain.status import LineStatus, arrival_status
from handoff.cash.formats import StatementError, read_statements
from handoff.cash.repository.bank import BankRepository
from handoff.context import AppContext


@dataclass
class StatementReport:
    """What one statement of the file is and what storing it did."""

    statement_id: str
    account: str
    currency: str
    pages: int
    bookings: int
    new: int
    balance: str  # ok | mismatch | unknown
    opening: Decimal | None
    closing: Decimal | None
    movements: Decimal
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement_id": self.statement_id,
            "account": self.account,
            "currency": self.currency,
            "pages": self.pages,
            "bookings": self.bookings,
            "new_bookings": self.new,
            "balance": self.balance,
            "opening": None if self.opening is None else str(self.opening),
            "closing": None if self.closing is None else str(self.closing),
            "movements": str(self.movements),
            "warnings": self.warnings,
        }


@dataclass
class StatementImport:
    """The import report of one file."""

    statements: int = 0
    new_statements: int = 0
    lines: int = 0
    new_lines: int = 0
    credits: int = 0  # new lines that are money received, waiting for cash application
    file: str = ""
    format: str = ""
    details: list[StatementReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report for machines (`handoff import-statement --json`)."""
        return {
            "file": self.file,
            "format": self.format,
            "statements": self.statements,
            "new_statements": self.new_statements,
            "bookings": self.lines,
            "new_bookings": self.new_lines,
            "already_imported": self.lines - self.new_lines,
            "incoming_payments": self.credits,
            "repairs": self.repairs,
            "warnings": self.warnings,
            "details": [d.as_dict() for d in self.details],
        }

    def summary(self) -> list[str]:
        """The report for people: one line for the file, one per statement, then warnings and repairs."""
        out = [
            f"{self.file}: {self.format}, {self.statements} statement(s), {self.lines} lines, {self.new_lines} new "
            f"({self.credits} incoming payments to match), {self.lines - self.new_lines} already imported"
        ]
        for d in self.details:
            balance = {
                "ok": f"balance ok: {d.opening} + {d.movements} = {d.closing}",
                "unknown": "balance not checked (the file states no opening or no closing balance)",
                "mismatch": f"balance does not add up: {d.opening} + {d.movements} != {d.closing}",
            }[d.balance]
            pages = f", {d.pages} pages" if d.pages > 1 else ""
            out.append(
                f"  statement {d.statement_id} ({d.account}, {d.currency}{pages}): {d.bookings} bookings, "
                f"{d.new} new; {balance}"
            )
        out += [f"  warning: {w}" for w in self.warnings]
        out += [f"  repaired: {r}" for r in self.repairs]
        return out


def statement_key(statement: Statement, occurrence: int = 1) -> str:
    """The stored identity of a statement: account and id; the n-th statement of one file with the
    same account and id (a bank that numbers every statement `:28C:0`) gets its own."""
    suffix = f"\x1f#{occurrence}" if occurrence > 1 else ""
    return hashlib.sha256(f"{statement.account}\x1f{statement.statement_id}{suffix}".encode()).hexdigest()[:32]


def statement_keys(statements: Sequence[Statement]) -> list[str]:
    seen: Counter[tuple[str, str]] = Counter()
    keys = []
    for st in statements:
        seen[(st.account, st.statement_id)] += 1
        keys.append(statement_key(st, seen[(st.account, st.statement_id)]))
    return keys


def _same(a: Statement, b: Statement) -> bool:
    return (a.opening, a.closing, [ln.line_id for ln in a.lines]) == (
        b.opening,
        b.closing,
        [ln.line_id for ln in b.lines],
    )


def read_statement_file(data: bytes, name: str, csv_mapping: Mapping[str, Any] | None = None) -> list[Statement]:
    """Parse and check a bank file; refuse it (StatementError) when it cannot be trusted whole."""
    statements = read_statements(data, name, csv_mapping)
    if not statements:
        raise StatementError(name, "no statement in the file")
    first: dict[tuple[str, str], Statement] = {}
    for st in statements:
        check = check_balance(st)
        if check.status is BalanceStatus.MISMATCH:
            raise StatementError(name, check.explain(st.statement_id))
        earlier = first.setdefault((st.account, st.statement_id), st)
        if earlier is not st and _same(earlier, st):
            raise StatementError(
                name,
                f"statement {st.statement_id} of account {st.account} appears twice in the file; "
                "a statement's pages must follow each other (:62M: then :60M:)",
            )
    ids = Counter(line.line_id for st in statements for line in st.lines)
    twice = {line_id for line_id, n in ids.items() if n > 1}
    if twice:
        where = [
            f"statement {st.statement_id} line {i + 1}"
            for st in statements
            for i, ln in enumerate(st.lines)
            if ln.line_id in twice
        ]
        raise StatementError(
            name,
            f"two bookings of the file have one identity ({', '.join(where[:4])}): the same statement number "
            "and booking twice; nothing stored",
        )
    return statements


def import_statement(
    ctx: AppContext, data: bytes, name: str, actor: str, csv_mapping: Mapping[str, Any] | None = None
) -> StatementImport:
    statements = read_statement_file(data, name, csv_mapping)  # before any write: all or nothing
    return store_statements(ctx, statements, name, actor)


def store_statements(ctx: AppContext, statements: Sequence[Statement], source: str, actor: str) -> StatementImport:
    now = ctx.clock()
    report = StatementImport(statements=len(statements), file=source)
    report.format = ", ".join(dict.fromkeys(st.format for st in statements))
    for st in statements:
        report.repairs += [r for r in st.repairs if r not in report.repairs]
    with ctx.unit_of_work() as uow:
        bank = uow.repository(BankRepository)
        for st, key in zip(statements, statement_keys(statements), strict=True):
            check = check_balance(st)
            ids = [ln.line_id for ln in st.lines]
            stored = bank.statement_line_ids(key)
            known = bank.known_lines(ids)
            fresh = [(pos, ln) for pos, ln in enumerate(st.lines) if ln.line_id not in known]
            _refuse_a_different_statement(source, st, stored, set(ids), bool(fresh))
            if stored is not None or fresh or not st.lines:  # (lines all stored under another row: no row)
                statement_id = bank.add_statement(key, st, check.status, source, actor, now)
                if stored is not None and fresh:
                    bank.refresh_statement(statement_id, st, check.status)
                bank.add_lines(statement_id, fresh, now)
            report.lines += len(st.lines)
            report.new_lines += len(fresh)
            report.credits += sum(1 for _, ln in fresh if arrival_status(ln) is LineStatus.NEW)
            report.warnings += [w for w in st.warnings if w not in report.warnings]
            report.details.append(
                StatementReport(
                    st.statement_id,
                    st.account,
                    st.currency,
                    len(st.page_list()),
                    len(st.lines),
                    len(fresh),
                    check.status.value,
                    st.opening.amount if st.opening else None,
                    st.closing.amount if st.closing else None,
                    check.movements,
                )
            )
            if fresh:
                report.new_statements += 1 if stored is None else 0
                uow.audit(
                    at=now,
                    actor=actor,
                    action="bank.statement_imported",
                    entity_type="bank_statement",
                    entity_id=key,
                    reason=f"statement file {source}",
                    after={
                        "format": st.format,
                        "statement_id": st.statement_id,
                        "account": st.account,
                        "new_lines": len(fresh),
                        "balance": check.status.value,
                        "pages": len(st.page_list()),
                        "warnings": list(st.warnings),
                        "repairs": list(st.repairs),
                    },
                )
        uow.commit()
    return report


def _refuse_a_different_statement(
    source: str, st: Statement, stored: set[str] | None, ids: set[str], adds: bool
) -> None:
    """A statement stored before may come again (nothing new) or grow (its stored lines all in this
    file); anything else is another statement under the same id, and is refused."""
    if not stored or not ids:
        return
    if stored <= ids or (ids <= stored and not adds):
        return
    shared = len(stored & ids)
    raise StatementError(
        source,
        f"statement {st.statement_id} of account {st.account} was imported before with other bookings "
        f"({len(stored)} stored, {len(ids)} in this file, {shared} alike): a different statement under the "
        "same id, or a later page of it sent on its own; import the statement's pages together in one file",
    )


__all__ = [
    "StatementError",
    "StatementImport",
    "StatementReport",
    "import_statement",
    "read_statement_file",
    "statement_key",
    "statement_keys",
    "store_statements",
]

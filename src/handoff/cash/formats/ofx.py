"""Open Financial Exchange (OFX 1.x SGML and 2.x XML) bank and credit card statements, read with
`ofxtools`.

An OFX download carries one `STMTRS` (bank) or `CCSTMTRS` (credit card) per account: the
transactions (`STMTTRN`: `TRNAMT` signed, `DTPOSTED`, `FITID` the bank's unique id, `NAME`,
`MEMO`) and the ledger balance at a date, which is the closing balance. OFX states no opening
balance, so a statement's balance cannot be checked on its own. Investment statements
(`INVSTMTRS`) are not bank accounts and are refused.
"""

from __future__ import annotations

import io
import re
import warnings
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ofxtools.Parser import OFXTree

from handoff.cash.domain.bank import Balance, BankLine, Statement, make_statement
from handoff.cash.formats.errors import StatementError

_HEAD_RE = re.compile(rb"OFXHEADER|<OFX>|<\?OFX", re.IGNORECASE)


def identify(data: bytes) -> bool:
    return bool(_HEAD_RE.search(data[:4096]))


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value else ""


def _line(tx: Any, currency: str) -> BankLine:
    tx_currency = getattr(tx, "currency", None)
    payee = getattr(tx, "payee", None)
    name = _text(getattr(tx, "name", None)) or _text(getattr(payee, "name", None))
    account = getattr(tx, "bankacctto", None) or getattr(tx, "ccacctto", None)
    return BankLine(
        amount=Decimal(tx.trnamt),
        currency=(getattr(tx_currency, "cursym", None) or currency).upper(),
        booking_date=_day(tx.dtposted),
        value_date=_day(getattr(tx, "dtavail", None)) or _day(tx.dtposted),
        counterparty_name=name,
        counterparty_account=_text(getattr(account, "acctid", None)),
        remittance=_text(getattr(tx, "memo", None)),
        structured_reference="",
        bank_reference=_text(tx.fitid),
        end_to_end_id=_text(getattr(tx, "refnum", None)),
    )


def parse(data: bytes, name: str) -> list[Statement]:
    tree = OFXTree()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ofxtools warns on lenient parses; the result is what counts
            tree.parse(io.BytesIO(data))
            ofx = tree.convert()
    except Exception as exc:  # ofxtools raises its own ParseError, ValueError, KeyError...
        reason = str(exc).split("\n")[0][:200] or type(exc).__name__
        raise StatementError(name, f"unreadable OFX: {type(exc).__name__}: {reason}") from exc
    statements = []
    kinds = []
    for stmt in ofx.statements:
        kind = type(stmt).__name__
        kinds.append(kind)
        if kind not in ("STMTRS", "CCSTMTRS"):
            continue
        acct = stmt.account
        currency = str(stmt.curdef).upper()
        trns = stmt.banktranlist or []
        lines = [_line(tx, currency) for tx in trns]
        closing = stmt.ledgerbal
        end = getattr(stmt.banktranlist, "dtend", None)
        statement_id = f"{acct.acctid}:{end.isoformat() if end else ''}"
        statements.append(
            make_statement(
                format="ofx",
                statement_id=statement_id,
                account=str(acct.acctid),
                currency=currency,
                lines=lines,
                closing=Balance(Decimal(closing.balamt), _day(closing.dtasof)) if closing is not None else None,
                source=name,
            )
        )
    if not statements:
        if kinds:
            only = sorted(set(kinds))
            raise StatementError(name, f"OFX holds no bank or credit card statement, only {only}")
        raise StatementError(name, "OFX holds no statement (a sign-on or account list response only)")
    return statements

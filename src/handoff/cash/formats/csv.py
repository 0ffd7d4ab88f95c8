"""Bank CSV exports: no standard, so a column mapping says which column means what.

A mapping (a dict, usually loaded from YAML) names the columns by their header text:

    account: DE89370400440532013000        # the statement account (CSVs rarely carry it)
    currency: EUR                          # default when there is no currency column
    delimiter: ";"                         # default: sniffed from the header line
    encoding: utf-8-sig
    skip_rows: 0                           # preamble lines before the header
    date_format: "%d.%m.%Y"
    decimal: ","                           # decimal comma; thousands separators are then "."
    columns:
      booking_date: Buchungstag
      value_date: Valuta                   # optional
      amount: Betrag                       # signed; or `debit:` and `credit:` columns instead
      currency: Waehrung                   # optional
      counterparty_name: Name
      counterparty_account: IBAN
      remittance: [Verwendungszweck, Buchungstext]   # several columns are joined
      reference: Referenz                  # structured creditor reference, optional
      bank_reference: Bankreferenz         # optional
"""

from __future__ import annotations

import csv as _csv
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from handoff.cash.domain.bank import BankLine, Statement, make_statement
from handoff.cash.formats.errors import StatementError

_FIELDS = (
    "booking_date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "currency",
    "counterparty_name",
    "counterparty_account",
    "remittance",
    "reference",
    "bank_reference",
    "end_to_end_id",
)


@dataclass(frozen=True, slots=True)
class CsvMapping:
    columns: Mapping[str, tuple[str, ...]]
    account: str = ""
    currency: str = ""
    delimiter: str = ""
    encoding: str = "utf-8-sig"
    skip_rows: int = 0
    date_format: str = "%Y-%m-%d"
    decimal: str = "."
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CsvMapping:
        """Validate a mapping at load, with messages that name the offending key."""
        problems = []
        cols_raw = raw.get("columns")
        if not isinstance(cols_raw, Mapping):
            raise ValueError("csv mapping: `columns` must map field names to column headers")
        columns: dict[str, tuple[str, ...]] = {}
        for key, value in cols_raw.items():
            if key not in _FIELDS:
                problems.append(f"unknown field {key!r} (known: {', '.join(_FIELDS)})")
            elif isinstance(value, str):
                columns[key] = (value,)
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                columns[key] = tuple(value)
            else:
                problems.append(f"field {key!r}: give a column header or a list of headers")
        if "booking_date" not in columns:
            problems.append("`booking_date` column is required")
        if "amount" not in columns and not {"debit", "credit"} <= columns.keys():
            problems.append("give an `amount` column, or both `debit` and `credit` columns")
        if "amount" in columns and ({"debit", "credit"} & columns.keys()):
            problems.append("give either `amount` or `debit`/`credit`, not both")
        decimal = str(raw.get("decimal", "."))
        if decimal not in (".", ","):
            problems.append("`decimal` must be '.' or ','")
        if not raw.get("currency") and "currency" not in columns:
            problems.append("give a `currency` default or a `currency` column")
        if problems:
            raise ValueError("csv mapping: " + "; ".join(problems))
        return cls(
            columns=columns,
            account=str(raw.get("account", "")),
            currency=str(raw.get("currency", "")),
            delimiter=str(raw.get("delimiter", "")),
            encoding=str(raw.get("encoding", "utf-8-sig")),
            skip_rows=int(raw.get("skip_rows", 0)),
            date_format=str(raw.get("date_format", "%Y-%m-%d")),
            decimal=decimal,
        )


def identify(data: bytes) -> bool:
    """A plausible delimited text file; CSV is tried after every format that can say what it is."""
    head = data[:4096]
    if b"\x00" in head or head.lstrip().startswith((b"<", b"{", b":")):
        return False
    first = head.splitlines()[0] if head.splitlines() else b""
    return any(first.count(d) >= 2 for d in (b",", b";", b"\t", b"|"))


def _amount(raw: str, decimal: str) -> Decimal | None:
    text = raw.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not text:
        return None
    negative = text.startswith("(") and text.endswith(")")  # accounting notation
    text = text.strip("()")
    if text.endswith("-"):  # some banks write 12,50-
        negative, text = True, text[:-1]
    text = text.replace(".", "").replace(",", ".") if decimal == "," else text.replace(",", "")
    text = re.sub(r"[^\d.+-]", "", text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {raw!r}") from None
    return -value if negative else value


def _date(raw: str, fmt: str) -> date | None:
    raw = raw.strip()
    return datetime.strptime(raw, fmt).date() if raw else None


def parse(data: bytes, name: str, mapping: CsvMapping | Mapping[str, Any] | None = None) -> list[Statement]:
    if mapping is None:
        raise StatementError(name, "CSV needs a column mapping (which column is the date, the amount...)")
    m = mapping if isinstance(mapping, CsvMapping) else _mapping(name, mapping)
    try:
        text = data.decode(m.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise StatementError(name, f"cannot decode as {m.encoding}: {exc}") from exc
    lines = text.splitlines()[m.skip_rows :]
    if not lines:
        raise StatementError(name, "CSV is empty")
    delimiter = m.delimiter or max((",", ";", "\t", "|"), key=lines[0].count)
    reader = _csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    headers = set(reader.fieldnames or [])
    missing = sorted({c for cols in m.columns.values() for c in cols} - headers)
    if missing:
        raise StatementError(name, f"CSV header lacks mapped column(s) {missing}; found {sorted(headers)}")

    def get(row: Mapping[str, str | None], key: str, sep: str = " ") -> str:
        return sep.join(v.strip() for c in m.columns.get(key, ()) if (v := row.get(c)) and v.strip())

    out: list[BankLine] = []
    for number, row in enumerate(reader, start=2 + m.skip_rows):
        try:
            if "amount" in m.columns:
                amount = _amount(get(row, "amount"), m.decimal)
            else:
                debit = _amount(get(row, "debit"), m.decimal) or Decimal(0)
                credit = _amount(get(row, "credit"), m.decimal) or Decimal(0)
                amount = credit - abs(debit)
            booking = _date(get(row, "booking_date"), m.date_format)
            value = _date(get(row, "value_date"), m.date_format) if "value_date" in m.columns else None
        except ValueError as exc:
            raise StatementError(name, f"line {number}: {exc}") from exc
        if amount is None or booking is None:
            if not any((v or "").strip() for v in row.values()):
                continue  # blank line
            raise StatementError(name, f"line {number}: no amount or no booking date")
        currency = (get(row, "currency") or m.currency).upper()
        out.append(
            BankLine(
                amount=amount,
                currency=currency,
                booking_date=booking,
                value_date=value or booking,
                counterparty_name=get(row, "counterparty_name"),
                counterparty_account=get(row, "counterparty_account").replace(" ", ""),
                remittance=get(row, "remittance"),
                structured_reference=get(row, "reference").replace(" ", ""),
                bank_reference=get(row, "bank_reference"),
                end_to_end_id=get(row, "end_to_end_id"),
            )
        )
    # CSV exports carry no statement id: the file content identifies it, so a re-import matches
    statement_id = "csv:" + hashlib.sha256(data).hexdigest()[:16]
    currency = m.currency or (out[0].currency if out else "")
    return [
        make_statement(
            format="csv",
            statement_id=statement_id,
            account=m.account,
            currency=currency,
            lines=out,
            source=name,
        )
    ]


def _mapping(name: str, raw: Mapping[str, Any]) -> CsvMapping:
    try:
        return CsvMapping.from_dict(raw)
    except ValueError as exc:
        raise StatementError(name, str(exc)) from exc

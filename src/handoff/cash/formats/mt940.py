"""SWIFT MT940 customer statements (and MT942 interim reports), read with the `mt-940` package.

MT940 is a tag format: `:20:` reference, `:25:` account, `:28C:` statement number, `:60F:`/`:60M:`
opening balance, `:61:` movement plus `:86:` its details, `:62F:`/`:62M:` closing balance. The
`:86:` text is bank-specific; two common structures are read here: the German GVC sub-fields
(`?20`...`?32`, decoded by the library) and the Dutch SEPA keywords (`/NAME/`, `/REMI/`, `/EREF/`,
ING's `/CNTP/`), anything else is kept as free remittance text.

Variants the library does not read as they are:
- SNS / ASN Bank put the counterparty IBAN in the `:61:` reference slot (longer than the 16
  characters SWIFT allows) and its name on a second line: both are moved into the `:61:`
  supplementary details, where the library accepts them.
- old Rabobank files write amounts with a decimal point: it becomes the SWIFT comma.
- a `:61:` without its transaction type code gets the neutral `NMSC`.
- a `:28C:` with an empty statement number (`:28C: /1`) is dropped; the statement keeps its `:20:`.
Files that are only tag fragments (no `:20:` and `:25:`) are refused.

A statement that runs over several pages (each page a message: `:62M:` intermediate closing, then
`:60M:` intermediate opening on the next, same account and statement number in `:28C:`, the `:20:`
the same or not) is read as one statement with its pages: each page's balance is checked on its
own, and its lines are numbered through the statement, so a page that repeats the first page's
`:28C:` never collides with it. A statement whose last page in the file closes with `:62M:` is
kept with a warning: its next page is not in this file.

Optional tags that cannot be read (`:64:` / `:65:` available balances with "Dnullnull" as some
exports write them, `:13D:`, `:21:`, `:34F:`, `:90D:`/`:90C:`) are left out with a warning; an
unreadable mandatory tag (`:20:`, `:25:`, `:28C:`, balances, `:61:`) still refuses the file.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

import mt940 as mt940lib

from handoff.cash.domain.bank import Balance, BankLine, Page, Statement, make_statement
from handoff.cash.formats.errors import StatementError

_TAG_RE = re.compile(rb"(?m)^\s*:(20|25|28C?|60[FM]|61|62[FM]):")
# :61: whose reference slot holds an IBAN / account (SNS, ASN) followed by a name line
_SNS_61 = re.compile(
    r"(?m)^(:61:\d{6}(?:\d{4})?R?[DC][A-Z]?[\d,]+[A-Z][A-Z0-9]{3})([A-Z]{2}\d{2}[A-Z0-9]{10,30}|\d{9,10})\r?\n(?!:)([^\n]*)$"
)
# old Rabobank exports write amounts with a decimal point where SWIFT prescribes a comma
_POINT_61 = re.compile(r"(?m)^(:61:\d{6}(?:\d{4})?R?[DC][A-Z]?\d+)\.(\d{0,2})")
_POINT_BAL = re.compile(r"(?m)^(:6[02][FM]:[DC]\d{6}[A-Z]{3}\d+)\.(\d{0,2})")
# :61: without the 4-character transaction type (Zenith Bank): the library then merges the lines
_NO_TYPE_61 = re.compile(r"(?m)^(:61:\d{6}(?:\d{4})?R?[DC])N?([\d,]+)//")
_EMPTY_28C = re.compile(r"(?m)^:28C:\s*/\d*\s*$\n?")
_ACCOUNT_CCY = re.compile(r"^(.*?\d)\s*([A-Z]{3})$")
_KEYWORDS = (
    "TRTP|IBAN|BIC|NAME|REMI|EREF|CNTP|ORDP|BENM|ID|ADDR|ISDT|MARF|CSID|PURP|ULTC|ULTD|ULTB|RTRN"
    "|PREF|SWOC|BUSP|TRCD|CDTRREF|CDTRREFTP|FX|OCMT|CHGS|EXCH"
)
_FIELD_RE = re.compile(rf"/({_KEYWORDS})/(.*?)(?=/(?:{_KEYWORDS})/|$)")
_RF_RE = re.compile(r"\bRF\d{2}[A-Z0-9]{1,21}\b")
# tags whose content no booking or balance depends on: unreadable, they are left out with a warning
_OPTIONAL = {
    "13": "date/time indication",
    "13D": "date/time indication",
    "21": "related reference",
    "34F": "floor limit indicator",
    "64": "closing available balance",
    "65": "forward available balance",
    "90C": "number and sum of credits",
    "90D": "number and sum of debits",
}

# the library logs each tag it cannot match at ERROR level; the refusal reason says it already
logging.getLogger("mt940").setLevel(logging.CRITICAL)


def identify(data: bytes) -> bool:
    tags = {m.group(1) for m in _TAG_RE.finditer(data[:65536])}
    return b"20" in tags and (b"61" in tags or any(t.startswith((b"60", b"62")) for t in tags))


def _decode(data: bytes) -> str:
    # SWIFT's character set is a subset of ASCII; banks in practice send Latin-1 or UTF-8
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _prepare(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _EMPTY_28C.sub("", text)
    text = _NO_TYPE_61.sub(r"\1\2NMSCNONREF//", text)  # NMSC: "miscellaneous", the neutral type
    text = _POINT_BAL.sub(r"\1,\2", _POINT_61.sub(r"\1,\2", text))
    return _SNS_61.sub(lambda m: f"{m.group(1)}NONREF\n{m.group(2)} {m.group(3).strip()}", text)


def _split_account(raw: str) -> tuple[str, str]:
    """`NL68INGB0000012345EUR` / `1291.99.348EUR` -> account and the currency suffix some banks add."""
    compact = raw.strip()
    m = _ACCOUNT_CCY.match(compact)
    return (m.group(1).replace(" ", ""), m.group(2)) if m else (compact.replace(" ", ""), "")


def _balance(value: Any) -> Balance | None:
    if value is None:
        return None
    return Balance(Decimal(value.amount.amount), value.date)


def _dutch(details: str) -> dict[str, str]:
    """Dutch SEPA `:86:` keywords: /NAME/, /REMI/, /EREF/, /IBAN/, ING /CNTP/iban/bic/name/city/."""
    flat = details.replace("\n", "")
    fields: dict[str, str] = {}
    for key, value in _FIELD_RE.findall(flat):
        fields.setdefault(key, value)
    out: dict[str, str] = {}
    if "CNTP" in fields:
        parts = (fields["CNTP"] + "///").split("/")
        out["account"], out["name"] = parts[0], parts[2]
    out["account"] = fields.get("IBAN", out.get("account", ""))
    out["name"] = fields.get("NAME", out.get("name", "")).strip()
    remi = fields.get("REMI", "").strip().rstrip("/")
    if remi.startswith("USTD//"):
        remi = remi[6:]
    elif remi.startswith("STRD/"):
        parts = remi.split("/")
        out["reference"] = parts[-1] if parts else ""
        remi = ""
    out["remittance"] = remi.strip()
    out["eref"] = "" if fields.get("EREF", "") in ("NOTPROVIDED", "") else fields["EREF"].strip().rstrip("/")
    return out


def _line(tx: Any, currency: str) -> BankLine:
    d = tx.data
    details = (d.get("transaction_details") or "").strip()
    extra = (d.get("extra_details") or "").strip()
    name = (d.get("applicant_name") or "").strip()
    account = (d.get("applicant_iban") or "").strip()
    remittance = (d.get("purpose") or "").strip()
    e2e = (d.get("end_to_end_reference") or "").strip()
    reference = ""
    if details.startswith("/") and _FIELD_RE.search(details.replace("\n", "")):
        dutch = _dutch(details)
        name, account = name or dutch["name"], account or dutch["account"]
        remittance, e2e = remittance or dutch["remittance"], e2e or dutch["eref"]
        reference = dutch.get("reference", "")
    elif not remittance:
        remittance = " ".join(details.split())
    if extra and not account:  # Rabobank, SNS: counterparty account (and name) after the :61: reference
        first, _, rest = extra.partition(" ")
        if not first.startswith("/") and re.fullmatch(r"[A-Z0-9]{6,34}", first):
            account, name = first, name or rest.strip()
    if not reference and (m := _RF_RE.search(remittance.replace(" ", "") if "RF" in remittance else "")):
        reference = m.group(0)
    customer_ref = (d.get("customer_reference") or "").strip()
    if customer_ref in ("NONREF", "EREF"):
        customer_ref = ""
    amount = Decimal(d["amount"].amount)
    return BankLine(
        amount=amount,
        currency=(d.get("currency") or currency or "").upper(),
        booking_date=d.get("entry_date") or d.get("date"),
        value_date=d.get("date"),
        counterparty_name=name,
        counterparty_account=account.replace(" ", ""),
        remittance=" ".join(remittance.split()),
        structured_reference=reference,
        bank_reference=(d.get("bank_reference") or customer_ref or "").strip(),
        end_to_end_id=e2e,
    )


def _blocks(text: str) -> list[str]:
    """One text block per statement: each `:20:` starts one, and so does a `:25:` right after a
    closing balance (old Rabobank files list several accounts under one `:20:`)."""
    blocks = []
    for block in re.split(r"(?m)^(?=:20:)", text):
        if not block.lstrip().startswith(":20:"):
            continue
        head = block.lstrip().split("\n", 1)[0]
        parts = re.split(r"(?m)(?<=\n)(?=:25:)", block)
        current = parts[0]
        for part in parts[1:]:
            if re.search(r"(?m)^:62[FM]:", current):
                blocks.append(current)
                current = head + "\n" + part
            else:
                current += part
        blocks.append(current)
    return blocks


def _without_tag(block: str, tag: str, value: str) -> str:
    """The block without the first `:tag:` whose content starts like `value` (and its continuation lines)."""
    first = (value or "").split("\n", 1)[0].strip()
    lines = block.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f":{tag}:") and line[len(tag) + 2 :].strip().startswith(first):
            end = i + 1
            while end < len(lines) and lines[end] and not lines[end].startswith((":", "-")):
                end += 1
            return "\n".join(lines[:i] + lines[end:])
    return block


def _parse_block(name: str, number: int, block: str, warnings: list[str]) -> Any:
    """The library's reading of one message; optional tags it cannot read are left out, with a warning."""
    for _ in range(len(_OPTIONAL) * 4):
        try:
            return mt940lib.parse(block, options=mt940lib.Options.all())
        except Exception as exc:  # the library raises bare RuntimeError/ValueError on malformed tags
            args = exc.args
            tag = str(getattr(args[1], "id", "")) if len(args) >= 3 else ""
            if tag in _OPTIONAL:
                value = str(args[2])
                shorter = _without_tag(block, tag, value)
                if shorter != block:
                    warnings.append(
                        f"statement {number}: :{tag}: {_OPTIONAL[tag]} {value.strip()[:40]!r} is unreadable; left out"
                    )
                    block = shorter
                    continue
            reason = str(args[0] if args else exc).split("\n")[0][:200]
            raise StatementError(name, f"statement {number}: unreadable MT940 tag: {reason}") from exc
    raise StatementError(name, f"statement {number}: too many unreadable optional tags")


class _Message:
    """One MT940 message (one page) as read: its ids, balances and kind of each, and its lines."""

    def __init__(self, name: str, number: int, block: str, warnings: list[str]) -> None:
        accounts = {a.strip() for a in re.findall(r"(?m)^:25:(.*)$", block)}
        if not accounts:
            raise StatementError(name, f"statement {number} has no :25: account identification")
        if len(accounts) > 1:
            raise StatementError(name, f"statement {number} has {len(accounts)} different :25: accounts")
        own: list[str] = []
        parsed = _parse_block(name, number, block, own)
        warnings.extend(own)
        data_ = parsed.data
        self.account, account_ccy = _split_account(accounts.pop())
        final_open = data_.get("final_opening_balance") or data_.get("opening_balance")
        final_close = data_.get("final_closing_balance") or data_.get("closing_balance")
        self.continues = final_open is None and data_.get("intermediate_opening_balance") is not None
        self.continued = final_close is None and data_.get("intermediate_closing_balance") is not None
        opening = final_open or data_.get("intermediate_opening_balance")
        closing = final_close or data_.get("intermediate_closing_balance")
        for tag, balance in (("60", opening), ("62", closing)):
            code = balance.amount.currency if balance is not None else "XXX"
            if not re.fullmatch(r"[A-Z]{3}", code or ""):
                raise StatementError(
                    name, f"statement {number}: :{tag}: balance names no valid currency ({code!r}; written without it?)"
                )
        currency = next((b.amount.currency for b in (opening, closing) if b is not None), None)
        currency = currency or account_ccy or (parsed[0].data.get("currency") if len(parsed) else "") or ""
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise StatementError(name, f"statement {number}: no valid currency (found {currency!r})")
        self.currency = currency
        self.opening, self.closing = _balance(opening), _balance(closing)
        self.lines = [_line(tx, currency) for tx in parsed]
        self.reference = data_.get("transaction_reference") or ""
        self.number = data_.get("statement_number") or ""
        seq = data_.get("sequence_number") or ""
        self.statement_id = "/".join(p for p in (self.reference, self.number, seq) if p)

    def next_page(self, other: _Message) -> bool:
        """Is `other` the page that follows this one: same account, same statement, `:62M:` then `:60M:`?"""
        if not (self.continued and other.continues and self.account == other.account):
            return False
        if self.number and other.number:
            return self.number == other.number
        return self.reference == other.reference


def parse(data: bytes, name: str) -> list[Statement]:
    text = _prepare(_decode(data))
    blocks = _blocks(text)
    if not blocks:
        raise StatementError(name, "no MT940 statement: no :20: transaction reference tag (a tag fragment?)")
    warnings: list[str] = []
    messages = [_Message(name, i + 1, block, warnings) for i, block in enumerate(blocks)]
    groups: list[list[_Message]] = []
    for message in messages:
        if groups and groups[-1][-1].next_page(message):
            groups[-1].append(message)
        else:
            groups.append([message])
    statements = []
    for group in groups:
        first, last = group[0], group[-1]
        own = [w for w in warnings if any(w.startswith(f"statement {messages.index(m) + 1}:") for m in group)]
        if last.continued:
            own.append(
                f"statement {first.statement_id}: ends with an intermediate closing balance (:62M:); "
                "its next page is not in this file"
            )
        if first.continues:
            own.append(
                f"statement {first.statement_id}: opens with an intermediate balance (:60M:); "
                "its previous page is not in this file"
            )
        pages = [Page(m.statement_id, m.opening, m.closing, len(m.lines)) for m in group]
        statements.append(
            make_statement(
                format="mt940",
                statement_id=first.statement_id,
                account=first.account,
                currency=first.currency,
                lines=[line for m in group for line in m.lines],
                opening=first.opening,
                closing=last.closing,
                source=name,
                pages=pages,
                warnings=own,
            )
        )
    return statements

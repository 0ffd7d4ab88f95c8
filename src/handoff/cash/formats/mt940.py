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
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

import mt940 as mt940lib

from handoff.cash.domain.bank import Balance, BankLine, Statement, make_statement
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


def parse(data: bytes, name: str) -> list[Statement]:
    text = _prepare(_decode(data))
    blocks = _blocks(text)
    if not blocks:
        raise StatementError(name, "no MT940 statement: no :20: transaction reference tag (a tag fragment?)")
    statements = []
    for i, block in enumerate(blocks):
        accounts = {a.strip() for a in re.findall(r"(?m)^:25:(.*)$", block)}
        if not accounts:
            raise StatementError(name, f"statement {i + 1} has no :25: account identification")
        if len(accounts) > 1:
            raise StatementError(name, f"statement {i + 1} has {len(accounts)} different :25: accounts")
        try:
            parsed = mt940lib.parse(block, options=mt940lib.Options.all())
        except Exception as exc:  # the library raises bare RuntimeError/ValueError on malformed tags
            reason = str(exc.args[0] if exc.args else exc).split("\n")[0][:200]
            raise StatementError(name, f"statement {i + 1}: unreadable MT940 tag: {reason}") from exc
        data_ = parsed.data
        account, account_ccy = _split_account(accounts.pop())
        opening = data_.get("final_opening_balance") or data_.get("opening_balance")
        closing = data_.get("final_closing_balance") or data_.get("closing_balance")
        currency = next((b.amount.currency for b in (opening, closing) if b is not None), None)
        currency = currency or account_ccy or (parsed[0].data.get("currency") if len(parsed) else "") or ""
        if not re.fullmatch(r"[A-Z]{3}", currency or ""):
            raise StatementError(name, f"statement {i + 1}: no valid currency (found {currency!r})")
        lines = [_line(tx, currency) for tx in parsed]
        number = data_.get("statement_number") or ""
        seq = data_.get("sequence_number") or ""
        statement_id = "/".join(p for p in (data_.get("transaction_reference") or "", number, seq) if p)
        statements.append(
            make_statement(
                format="mt940",
                statement_id=statement_id,
                account=account,
                currency=currency,
                lines=lines,
                opening=_balance(opening),
                closing=_balance(closing),
                source=name,
            )
        )
    return statements

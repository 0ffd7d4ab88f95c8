"""ISO 20022 cash management: camt.053 (statement), camt.052 (account report), camt.054
(debit/credit notification), any message version (.001.01 to .001.13 read alike).

The XML is parsed with lxml with entity resolution and network access off (bank files come from
outside) and namespaces are dropped, so one set of element paths serves every version: the
versions differ mainly in the namespace and a few wrappers (`Sts/Cd` from v7, `Pty` around party
names from v8), handled below.

An entry (`Ntry`) is one booked movement. A batch entry carries several transactions (`TxDtls`);
it is split into one line per transaction when each transaction states its own amount and they
add up to the entry, so each payment can be matched to its invoice on its own.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree
from lxml.etree import _Element

from handoff.cash.domain.bank import Balance, BankLine, Statement, make_statement
from handoff.cash.formats.errors import StatementError

# message root element -> (record element, format name)
_KINDS = {
    "BkToCstmrStmt": ("Stmt", "camt.053"),
    "BkToCstmrAcctRpt": ("Rpt", "camt.052"),
    "BkToCstmrDbtCdtNtfctn": ("Ntfctn", "camt.054"),
}
_OPENING = ("OPBD", "PRCD")  # opening booked, else previous closing booked
_CLOSING = ("CLBD",)
_NS_RE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.")


def identify(data: bytes) -> bool:
    head = data[:4096]
    return b"<" in head and bool(_NS_RE.search(head) or any(k.encode() in head for k in _KINDS))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _strip_namespaces(root: _Element) -> None:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]


def _text(el: _Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _decimal(name: str, raw: str, what: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise StatementError(name, f"{what}: not an amount: {raw!r}") from exc
    if not value.is_finite():
        raise StatementError(name, f"{what}: not an amount: {raw!r}")
    return value


def _date(el: _Element | None) -> date | None:
    """`<Dt>` or `<DtTm>` inside el; the calendar date as the bank wrote it (no timezone shift)."""
    raw = _text(el, "Dt") or _text(el, "DtTm")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _signed(name: str, el: _Element, what: str) -> Decimal:
    amount = _decimal(name, _text(el, "Amt"), what)
    indicator = _text(el, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT", ""):
        raise StatementError(name, f"{what}: credit/debit indicator {indicator!r} is neither CRDT nor DBIT")
    return -amount if indicator == "DBIT" else amount


def _balances(name: str, record: _Element) -> tuple[Balance | None, Balance | None]:
    found: dict[str, Balance] = {}
    for bal in record.findall("Bal"):
        code = _text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/CdOrPrtry/Prtry")
        if code and code not in found:
            found[code] = Balance(_signed(name, bal, f"balance {code}"), _date(bal.find("Dt")))
    opening = next((found[c] for c in _OPENING if c in found), None)
    closing = next((found[c] for c in _CLOSING if c in found), None)
    return opening, closing


def _account(record: _Element) -> str:
    # v1 names a non-IBAN account PrtryAcct, later versions Othr
    return _text(record, "Acct/Id/IBAN") or _text(record, "Acct/Id/Othr/Id") or _text(record, "Acct/Id/PrtryAcct/Id")


def _party(tx: _Element | None, role: str) -> tuple[str, str]:
    """Name and account of the debtor or creditor; from v8 the name sits inside `Pty`."""
    if tx is None:
        return "", ""
    parties = tx.find("RltdPties")
    name = _text(parties, f"{role}/Nm") or _text(parties, f"{role}/Pty/Nm")
    name = name or _text(parties, f"Ultmt{role}/Nm") or _text(parties, f"Ultmt{role}/Pty/Nm")
    account = (
        _text(parties, f"{role}Acct/Id/IBAN")
        or _text(parties, f"{role}Acct/Id/Othr/Id")
        or _text(parties, f"{role}Acct/Id/PrtryAcct/Id")
    )
    return name, account


def _remittance(tx: _Element | None) -> tuple[str, str]:
    """Unstructured text and the first structured creditor reference (ISO 11649 RF / SCOR)."""
    if tx is None:
        return "", ""
    text = " ".join((u.text or "").strip() for u in tx.findall("RmtInf/Ustrd") if u.text)
    reference = ""
    for ref in tx.findall("RmtInf/Strd/CdtrRefInf/Ref"):
        if ref.text and ref.text.strip():
            reference = ref.text.strip()
            break
    return text, reference


def _booked(entry: _Element) -> bool:
    status = _text(entry, "Sts") or _text(entry, "Sts/Cd") or _text(entry, "Sts/Prtry")
    return status in ("", "BOOK")


def _tx_amount(tx: _Element) -> Decimal | None:
    raw = _text(tx, "AmtDtls/TxAmt/Amt") or _text(tx, "Amt")
    try:
        value = Decimal(raw) if raw else None
    except InvalidOperation:
        return None
    return value if value is not None and value.is_finite() and value > 0 else None


def _line(entry: _Element, tx: _Element | None, amount: Decimal, currency: str, *, extra: str = "") -> BankLine:
    role = "Dbtr" if amount > 0 else "Cdtr"  # the other side: who paid us, or whom we paid
    name, account = _party(tx, role)
    text, reference = _remittance(tx)
    info = _text(entry, "AddtlNtryInf")
    remittance = " ".join(p for p in (text, extra, "" if text else info) if p)
    return BankLine(
        amount=amount,
        currency=currency,
        booking_date=_date(entry.find("BookgDt")),
        value_date=_date(entry.find("ValDt")),
        counterparty_name=name,
        counterparty_account=account,
        remittance=remittance,
        structured_reference=reference,
        bank_reference=_text(tx, "Refs/AcctSvcrRef") or _text(entry, "AcctSvcrRef"),
        end_to_end_id=(e2e if (e2e := _text(tx, "Refs/EndToEndId")) != "NOTPROVIDED" else ""),
        booked=_booked(entry),
    )


def _entry_lines(name: str, entry: _Element, fallback_ccy: str, index: int) -> list[BankLine]:
    amount = _signed(name, entry, f"entry {index + 1}")
    amt_el = entry.find("Amt")
    currency = (amt_el.get("Ccy") if amt_el is not None else None) or fallback_ccy
    txs = entry.findall("NtryDtls/TxDtls")
    amounts = [_tx_amount(tx) for tx in txs]
    if len(txs) > 1 and all(a is not None for a in amounts) and sum(a for a in amounts if a) == abs(amount):
        sign = 1 if amount > 0 else -1
        return [_line(entry, tx, sign * a, currency) for tx, a in zip(txs, amounts, strict=True) if a]
    # one line for the entry: first transaction's parties, every transaction's remittance text
    extra = " ".join(t for t, _ in map(_remittance, txs[1:]) if t)
    return [_line(entry, txs[0] if txs else None, amount, currency, extra=extra)]


def parse(data: bytes, name: str) -> list[Statement]:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise StatementError(name, f"not well-formed XML: {exc}") from exc
    _strip_namespaces(root)
    message = root[0] if root.tag == "Document" and len(root) else root
    # version 1 messages suffix the root name: BkToCstmrAcctRptV01
    message.tag = re.sub(r"V\d\d$", "", str(message.tag))
    if message.tag not in _KINDS:
        raise StatementError(name, f"XML but not a camt.052/053/054 message (found <{message.tag}>)")
    record_tag, kind = _KINDS[message.tag]
    statements = []
    for record in message.findall(record_tag):
        account = _account(record)
        currency = _text(record, "Acct/Ccy")
        entries = record.findall("Ntry")
        if not currency and entries:
            first = entries[0].find("Amt")
            currency = (first.get("Ccy") if first is not None else "") or ""
        if not currency:  # some banks leave Acct/Ccy out; the balances still say it
            first_bal = record.find("Bal/Amt")
            currency = (first_bal.get("Ccy") if first_bal is not None else "") or ""
        if not account:
            raise StatementError(name, f"{kind} record {_text(record, 'Id')!r} names no account")
        lines = [line for i, e in enumerate(entries) for line in _entry_lines(name, e, currency, i)]
        opening, closing = _balances(name, record)
        statements.append(
            make_statement(
                format=kind,
                statement_id=_text(record, "Id"),
                account=account,
                currency=currency,
                lines=lines,
                opening=opening,
                closing=closing,
                source=name,
            )
        )
    if not statements:
        raise StatementError(name, f"{kind} message holds no <{record_tag}> record")
    return statements

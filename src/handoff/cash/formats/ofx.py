"""Open Financial Exchange (OFX 1.x SGML and 2.x XML) bank and credit card statements, read as
banks write them.

An OFX download carries one `STMTRS` (bank) or `CCSTMTRS` (credit card) per account: the
transactions (`STMTTRN`: `TRNAMT` signed, `DTPOSTED`, `FITID` the bank's unique id, `NAME`,
`MEMO`) and the ledger balance at a date (`LEDGERBAL`), which is the closing balance. OFX states no
opening balance: where one file holds consecutive statements of one account (the next starts on
the day the previous one's ledger balance is dated), the previous ledger balance is the next one's
opening and the balance is checked; otherwise its status stays unknown. Investment statements
(`INVSTMTRS`) are not bank accounts and are refused.

The reader is tolerant where the meaning is clear, and says what it repaired: blank lines or spaces
inside the header, a header and body on one line, no header at all, lower-case tags, SGML elements
left open (as OFX 1 allows) or closed where they should not be, several OFX documents in one file,
a decimal comma in amounts, a missing `CURDEF` when every transaction names its currency. Values
OFX would reject but no booking depends on (a `LANGUAGE` of `FRE` rather than `FRA`, a 10-digit
`BANKID`, an unknown `TRNTYPE` or `ACCTTYPE`) are not checked at all. A transaction without an
amount or a date, an amount that is not a number, or an impossible date refuses the file: there is
no booking to store without them.

`ofxtools` was the reader before; its validating model refused real files for exactly those
harmless deviations, so the statement is read from the element tree here. The statement id keeps
the form it had (account and `DTEND` in UTC), so files imported before keep their identity.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from handoff.cash.domain.bank import Balance, BankLine, Statement, make_statement
from handoff.cash.formats.errors import StatementError

_HEAD_RE = re.compile(rb"OFXHEADER|<OFX>|<\?OFX", re.IGNORECASE)
_TOKEN_RE = re.compile(
    r"<!--.*?-->|<!\[CDATA\[(?P<cdata>.*?)\]\]>|<\?.*?\?>|<(?P<close>/)?(?P<tag>[A-Za-z0-9._]+)\s*>", re.S
)
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"
    r"(?:(?P<H>\d{2})(?P<M>\d{2})(?:(?P<S>\d{2})(?:[.:](?P<f>\d{1,6}))?)?)?"
    r"\s*(?:\[\s*(?P<tz>[+-]?\d{1,2}(?:\.\d+)?)?\s*(?::[^\]]*)?\])?$"
)
# data elements: in OFX 1 they may be left open, even when empty; they never hold other elements
_LEAVES = frozenset(
    [
        "TRNTYPE",
        "DTPOSTED",
        "DTUSER",
        "DTAVAIL",
        "TRNAMT",
        "FITID",
        "CORRECTFITID",
        "CORRECTACTION",
        "SRVRTID",
        "CHECKNUM",
        "REFNUM",
        "SIC",
        "PAYEEID",
        "NAME",
        "EXTDNAME",
        "MEMO",
        "INV401KSOURCE",
        "CURDEF",
        "CURSYM",
        "CURRATE",
        "BANKID",
        "BRANCHID",
        "ACCTID",
        "ACCTTYPE",
        "ACCTKEY",
        "DTSTART",
        "DTEND",
        "BALAMT",
        "DTASOF",
        "CODE",
        "SEVERITY",
        "MESSAGE",
        "DTSERVER",
        "USERKEY",
        "TSKEYEXPIRE",
        "LANGUAGE",
        "DTPROFUP",
        "DTACCTUP",
        "ORG",
        "FID",
        "SESSCOOKIE",
        "ACCESSKEY",
        "TRNUID",
        "CLTCOOKIE",
        "MKTGINFO",
        "ADDR1",
        "ADDR2",
        "ADDR3",
        "CITY",
        "STATE",
        "POSTALCODE",
        "COUNTRY",
        "PHONE",
    ]
)
_CODECS = {"1252": "cp1252", "ISO-8859-1": "latin-1", "8859-1": "latin-1", "UTF-8": "utf-8", "NONE": "utf-8"}


def identify(data: bytes) -> bool:
    return bool(_HEAD_RE.search(data[:4096]))


@dataclass
class _Node:
    tag: str
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def find(self, path: str) -> _Node | None:
        node: _Node | None = self
        for part in path.split("/"):
            node = next((c for c in node.children if c.tag == part), None) if node else None
        return node

    def value(self, path: str) -> str:
        found = self.find(path)
        return found.text.strip() if found is not None else ""

    def iter(self, tag: str) -> list[_Node]:
        out = []
        for child in self.children:
            if child.tag == tag:
                out.append(child)
            out.extend(child.iter(tag))
        return out


class _Reader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.repairs: list[str] = []
        self.warnings: list[str] = []

    def fail(self, reason: str) -> StatementError:
        return StatementError(self.name, reason)

    def repaired(self, note: str) -> None:
        if note not in self.repairs:
            self.repairs.append(note)

    # -- header and character set ----------------------------------------------------------------

    def decode(self, data: bytes) -> str:
        head = data[:2048].decode("latin-1")
        start = re.search(r"<OFX>", head, re.IGNORECASE)
        header = head[: start.start()] if start else head
        charset = re.search(r"CHARSET\s*:\s*(ISO-8859-1|8859-1|1252|UTF-8|NONE)", header, re.IGNORECASE)
        declared = re.search(r"encoding=[\"']([\w-]+)[\"']", header, re.IGNORECASE)
        codec = _CODECS.get(charset.group(1).upper(), "utf-8") if charset else "utf-8"
        if declared:
            codec = declared.group(1)
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            self.repaired(f"text is not {codec} as the header says; read as Windows-1252")
            return data.decode("cp1252", errors="replace")

    def split_header(self, text: str) -> str:
        """The body from `<OFX>` on; notes what in the header was off the specification."""
        text = text.lstrip("\ufeff")
        start = re.search(r"<OFX>", text, re.IGNORECASE)
        if start is None:
            raise self.fail("OFX header but no <OFX> element: not a statement")
        header, body = text[: start.start()], text[start.start() :]
        header = header.replace("\r\n", "\n").replace("\r", "\n")
        if "<?OFX" in header.upper() or "<?XML" in header.upper():
            return body
        if not header.strip():
            self.repaired("no OFX header; read by its <OFX> element")
            return body
        if "\n" not in header.strip() and not re.search(r"[\r\n]", body.strip()[:200]):
            self.repaired("OFX header and body on one line")
        lines = header.split("\n")
        first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
        last = max((i for i, ln in enumerate(lines) if ln.strip()), default=0)
        if any(not ln.strip() for ln in lines[first:last]):
            self.repaired("blank lines inside the OFX header")
        if first > 0:
            self.repaired("blank lines before the OFX header")
        return body

    # -- body: SGML or XML into a tree -------------------------------------------------------------

    def tree(self, body: str) -> list[_Node]:
        """The `<OFX>` documents of the body. OFX 1 leaves data elements open; they end at the next tag."""
        roots: list[_Node] = []
        stack: list[_Node] = []
        pos, lowered, stray = 0, False, set()
        for match in _TOKEN_RE.finditer(body):
            text = body[pos : match.start()]
            pos = match.end()
            if stack and text.strip():
                stack[-1].text += html.unescape(text)
            elif not stack and text.strip():
                self.warnings.append(f"text outside the OFX document ignored: {text.strip()[:40]!r}")
            if match.group("cdata") is not None:
                if stack:
                    stack[-1].text += match.group("cdata")
                continue
            tag = match.group("tag")
            if tag is None:  # comment or processing instruction
                continue
            if tag != tag.upper():
                lowered = True
                tag = tag.upper()
            if match.group("close"):
                if not any(n.tag == tag for n in stack):
                    stray.add(tag)
                    continue
                while stack and stack[-1].tag != tag:
                    stack.pop()  # elements left open inside it (OFX 1 data elements)
                stack.pop()
                continue
            if stack and not stack[-1].children and (stack[-1].text.strip() or stack[-1].tag in _LEAVES):
                stack.pop()  # an open OFX 1 data element ends where the next tag starts
            node = _Node(tag)
            if stack:
                stack[-1].children.append(node)
            elif tag == "OFX":
                roots.append(node)
            else:
                stray.add(tag)
                continue
            stack.append(node)
        if lowered:
            self.repaired("lower-case tags read as upper case")
        if stray:
            self.repaired(f"tags outside their element ignored: {sorted(stray)}")
        if len(roots) > 1:
            self.repaired(f"{len(roots)} OFX documents in one file, read one after the other")
        if not roots:
            raise self.fail("no <OFX> element")
        return roots

    # -- values ----------------------------------------------------------------------------------

    def amount(self, raw: str, what: str) -> Decimal:
        text = raw.strip().replace(" ", "").replace("\u00a0", "")
        if re.fullmatch(r"[+-]?\d+,\d+", text):
            self.repaired("decimal comma in amounts read as a decimal point")
            text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise self.fail(f"{what}: {raw.strip()!r} is not an amount") from None
        if not value.is_finite():
            raise self.fail(f"{what}: {raw.strip()!r} is not an amount")
        return value

    def moment(self, raw: str, what: str) -> tuple[date, datetime]:
        """The calendar date as the bank wrote it, and the instant in UTC (as statement ids use it)."""
        m = _DATE_RE.match(raw.strip())
        if m is None:
            raise self.fail(f"{what}: {raw.strip()!r} is not an OFX date (YYYYMMDD[HHMMSS])")
        try:
            offset = timedelta(hours=float(m.group("tz"))) if m.group("tz") else timedelta(0)
            frac = (m.group("f") or "0").ljust(6, "0")
            local = datetime(
                int(m.group("y")),
                int(m.group("m")),
                int(m.group("d")),
                int(m.group("H") or 0),
                int(m.group("M") or 0),
                int(m.group("S") or 0),
                int(frac),
                tzinfo=timezone(offset),
            )
        except (ValueError, OverflowError):
            raise self.fail(f"{what}: {raw.strip()!r} is not a valid date") from None
        return local.date(), local.astimezone(UTC)

    # -- statements ------------------------------------------------------------------------------

    def statements(self, roots: list[_Node]) -> list[Statement]:
        found = [n for root in roots for n in _walk(root) if n.tag in ("STMTRS", "CCSTMTRS")]
        investments = [n for root in roots for n in root.iter("INVSTMTRS")]
        if not found:
            if investments:
                raise self.fail(
                    "OFX holds an investment statement (INVSTMTRS) only: holdings and trades, "
                    "not bank account movements"
                )
            status = " ".join(
                f"{n.value('CODE')} {n.value('MESSAGE')}".strip()
                for root in roots
                for n in root.iter("STATUS")
                if n.value("CODE") not in ("", "0")
            )
            raise self.fail(
                "OFX holds no statement (a sign-on or account list response only)"
                + (f"; the bank answered {status}" if status else "")
            )
        if investments:
            self.warnings.append(f"{len(investments)} investment statement(s) (INVSTMTRS) left out")
        previous: dict[tuple[str, str], tuple[Balance, date | None]] = {}
        return [self.statement(number, node, previous) for number, node in enumerate(found, start=1)]

    def statement(
        self, number: int, node: _Node, previous: dict[tuple[str, str], tuple[Balance, date | None]]
    ) -> Statement:
        what = f"statement {number}"
        acct = node.find("BANKACCTFROM") or node.find("CCACCTFROM")
        account = " ".join((acct.value("ACCTID") if acct else "").split())
        if not account:
            raise self.fail(f"{what}: no account (BANKACCTFROM/ACCTID or CCACCTFROM/ACCTID)")
        trnlist = node.find("BANKTRANLIST")
        txs = trnlist.iter("STMTTRN") if trnlist else []
        currency = node.value("CURDEF").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            named = {tx.value("CURRENCY/CURSYM").upper() or tx.value("ORIGCURRENCY/CURSYM").upper() for tx in txs}
            if len(named) == 1 and re.fullmatch(r"[A-Z]{3}", next(iter(named))):
                currency = named.pop()
                self.repaired(f"{what}: no currency (CURDEF); {currency}, named by every transaction, taken")
            else:
                raise self.fail(f"{what}: no currency (CURDEF {node.value('CURDEF')!r})")
        lines = [self.line(f"{what} transaction {i}", tx, currency) for i, tx in enumerate(txs, start=1)]
        start = (
            self.moment(trnlist.value("DTSTART"), f"{what} DTSTART")[0]
            if trnlist and trnlist.value("DTSTART")
            else None
        )
        end_raw = trnlist.value("DTEND") if trnlist else ""
        end_utc = self.moment(end_raw, f"{what} DTEND")[1] if end_raw else None
        closing: Balance | None = None
        ledger = node.find("LEDGERBAL")
        if ledger is not None:
            raw = ledger.value("BALAMT")
            if raw:
                asof = ledger.value("DTASOF")
                on = self.moment(asof, f"{what} LEDGERBAL DTASOF")[0] if asof else None
                closing = Balance(self.amount(raw, f"{what} LEDGERBAL BALAMT"), on)
            else:
                self.warnings.append(f"{what}: the ledger balance (LEDGERBAL) is empty; the balance is not checked")
        opening = None
        key = (account, currency)
        if key in previous and start is not None and previous[key][1] == start:
            opening = previous[key][0]  # the same account's previous statement in this file ends where this starts
        if closing is not None:
            previous[key] = (closing, closing.on)
        statement_id = f"{account}:{end_utc.isoformat() if end_utc else ''}"
        return make_statement(
            format="ofx",
            statement_id=statement_id,
            account=account,
            currency=currency,
            lines=lines,
            opening=opening,
            closing=closing,
            source=self.name,
        )

    def line(self, what: str, tx: _Node, currency: str) -> BankLine:
        fitid = " ".join(tx.value("FITID").split())
        label = f"{what}" + (f" (FITID {fitid})" if fitid else "")
        raw_amount = tx.value("TRNAMT")
        if not raw_amount:
            raise self.fail(f"{label}: no amount (TRNAMT)")
        posted = tx.value("DTPOSTED")
        if not posted:
            raise self.fail(f"{label}: no posting date (DTPOSTED)")
        booked, _ = self.moment(posted, f"{label} DTPOSTED")
        available = tx.value("DTAVAIL")
        value_date = self.moment(available, f"{label} DTAVAIL")[0] if available else booked
        name = _text(tx.value("NAME")) or _text(tx.value("PAYEE/NAME"))
        other = tx.find("BANKACCTTO") or tx.find("CCACCTTO")
        tx_currency = tx.value("CURRENCY/CURSYM").upper()
        return BankLine(
            amount=self.amount(raw_amount, f"{label} TRNAMT"),
            currency=tx_currency if re.fullmatch(r"[A-Z]{3}", tx_currency) else currency,
            booking_date=booked,
            value_date=value_date,
            counterparty_name=name,
            counterparty_account=_text(other.value("ACCTID")) if other else "",
            remittance=_text(tx.value("MEMO")),
            structured_reference="",
            bank_reference=fitid,
            end_to_end_id=_text(tx.value("REFNUM")),
        )


def _text(value: str) -> str:
    return " ".join(value.split())


def _walk(node: _Node) -> list[_Node]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def parse(data: bytes, name: str) -> list[Statement]:
    reader = _Reader(name)
    body = reader.split_header(reader.decode(data))
    statements = reader.statements(reader.tree(body))
    return [replace(st, warnings=tuple(reader.warnings), repairs=tuple(reader.repairs)) for st in statements]

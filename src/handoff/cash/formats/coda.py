"""CODA (Coded statement of account), the Belgian banks' statement format, version 2 (Febelfin
standard CODA 2.x): fixed-width records of 128 characters.

    0    header: creation date, bank, duplicate mark, version code (position 128: "2")
    1    old balance: account structure (0 Belgian number, 1 foreign number, 2 Belgian IBAN,
         3 foreign IBAN), account and currency, sign (0 credit, 1 debit) and amount (15 digits,
         3 decimals), date, paper statement number, CODA sequence number
    2.1  movement: sequence number, detail number, bank reference, sign and amount, value date,
         transaction code (type, family, transaction, category), communication (free, or
         structured: type 101/102 is the Belgian structured communication +++123/4567/89012+++),
         entry date, globalisation code
    2.2  movement, continued: communication, customer reference (SEPA end-to-end id), BIC
    2.3  movement, continued: counterparty account and name, communication
    3.x  information (counterparty name and address...), 4 free communication
    8    new balance, 9 trailer: record count, total of debits, total of credits

The first digit of the transaction code says what an amount is: 0 a single amount, 1 a total
globalised by the customer, 2 a total globalised by the bank, 3 an amount with detail; 5, 6, 7,
8 are details of 1, 2, 2, 3, and 9 details of 7. The trailer totals and the balances count the
top-level amounts (types 0 to 3) only. A total whose details (same sequence number) add up to it
exactly is stored as those details, one booking per payment, so each can be matched to its
invoice; a total whose details do not add up is stored as the total, the details' text joined to
its remittance. Either way the bookings add up to the balances, which the trailer totals confirm.

A structured communication is stored as the structured reference (its 12 digits) when its check
digits hold (`stdnum.be.ogm_vcs`), else it stays in the remittance text with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from stdnum.be import ogm_vcs

from handoff.cash.domain.bank import Balance, BankLine, Statement, make_statement
from handoff.cash.formats.errors import StatementError
from handoff.kernel.money import CENT, ZERO

WIDTH = 128
_HEADER_RE = re.compile(rb"\A[\r\n ]*00000\d{6}\d{3}\d\d[ D][^\r\n]*\r?\n[\r\n ]*1[0-3]\d{3}")
_TOTALS = frozenset("0123")  # types counted in the trailer and the balances
_DETAIL_OF = {"5": "1", "6": "2", "7": "2", "8": "3"}  # detail type -> the type of total it details


def identify(data: bytes) -> bool:
    return bool(_HEADER_RE.match(data[:256]))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _date(raw: str) -> date | None:
    """DDMMYY; 000000 (or blanks) where the bank gives no date."""
    if not raw.strip() or raw == "000000":
        return None
    day, month, year = int(raw[0:2]), int(raw[2:4]), int(raw[4:6])
    return date(2000 + year if year < 70 else 1900 + year, month, day)


def _amount(sign: str, digits: str) -> Decimal:
    """Sign 0 credit / 1 debit, then 15 digits of which 3 are decimals; to the cent where exact."""
    value = Decimal(digits).scaleb(-3)
    exact = value.quantize(CENT)
    value = exact if exact == value else value
    return -value if sign == "1" else value


@dataclass
class _Movement:
    """A record 2.1 with its 2.2 and 2.3, and the details that belong to it."""

    record: int  # line number in the file, for messages
    sequence: str
    detail: str
    kind: str  # the transaction type: first digit of the transaction code
    amount: Decimal
    bank_reference: str
    value_date: date | None
    entry_date: date | None
    globalisation: str
    communication: list[str] = field(default_factory=list)
    structured: str = ""  # "+++...+++" as written, when the communication is structured type 101/102
    end_to_end: str = ""
    counterparty_account: str = ""
    counterparty_name: str = ""
    details: list[_Movement] = field(default_factory=list)

    def remittance(self) -> str:
        return " ".join(" ".join(self.communication).split())


class _Reader:
    """One pass over the records; collects statements and their warnings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.warnings: list[str] = []
        self.statements: list[Statement] = []

    def fail(self, number: int, reason: str) -> StatementError:
        return StatementError(self.name, f"record {number}: {reason}")

    def read(self, text: str) -> list[Statement]:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        records: list[tuple[int, str]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if len(line) > WIDTH and not line[WIDTH:].strip():
                line = line[:WIDTH]  # blanks after the record: an editor's or a transfer's padding
            if len(line) != WIDTH:
                raise self.fail(number, f"{len(line)} characters; a CODA record has {WIDTH}")
            records.append((number, line))
        block: list[tuple[int, str]] = []
        for number, record in records:
            if record[0] == "0" and block:
                raise self.fail(number, "a new header (record 0) before the trailer (record 9) of the statement")
            block.append((number, record))
            if record[0] == "9":
                self.statement(block)
                block = []
        if block:
            raise self.fail(block[-1][0], "the file ends without a trailer (record 9): truncated?")
        if not self.statements:
            raise StatementError(self.name, "CODA file holds no statement")
        return self.statements

    def statement(self, block: list[tuple[int, str]]) -> None:
        (first, header), *body = block
        self.warnings = []
        if header[0] != "0":
            raise self.fail(first, f"a statement starts with record {header[0]!r}, not the header (record 0)")
        if header[127] != "2":
            raise self.fail(first, f"CODA version {header[127]!r}; only version 2 is read")
        if header[16] == "D":
            self.warnings.append("the bank marks this file as a duplicate of one it sent before")
        old = [(n, r) for n, r in body if r[0] == "1"]
        new = [(n, r) for n, r in body if r[0] == "8"]
        trailer_no, trailer = body[-1]
        if len(old) != 1 or len(new) > 1:
            raise self.fail(first, "a statement needs one old balance (record 1) and one new balance (record 8)")
        old_no, old_rec = old[0]
        account, currency = self.account(old_no, old_rec[1], old_rec[5:42])
        if not new:  # an empty statement (no movement) may leave out the new balance: it is the old one
            if any(r[0] == "2" for _, r in body):
                raise self.fail(trailer_no, "movements but no new balance (record 8)")
            new = [(old_no, "8" + old_rec[2:5] + old_rec[5:42] + old_rec[42:64])]
        new_no, new_rec = new[0]
        if "".join(new_rec[4:41].split()) != "".join(old_rec[5:42].split()):
            raise self.fail(new_no, "the new balance (record 8) names another account than the old balance (record 1)")
        try:
            opening = Balance(_amount(old_rec[42], old_rec[43:58]), _date(old_rec[58:64]))
            closing = Balance(_amount(new_rec[41], new_rec[42:57]), _date(new_rec[57:63]))
        except (ValueError, ArithmeticError) as exc:
            raise self.fail(old_no, f"unreadable balance: {exc}") from exc
        movements = self.movements([(n, r) for n, r in body if r[0] == "2"])
        self.check_trailer(trailer_no, trailer, body, movements)
        self.attach_information([(n, r) for n, r in body if r[0] == "3"], movements)
        lines = [line for m in movements for line in self.lines(m, currency)]
        paper, coda_seq = old_rec[2:5], old_rec[125:128]
        year = (opening.on or closing.on or date(2000, 1, 1)).year
        self.statements.append(
            make_statement(
                format="coda",
                statement_id=f"{year}/{paper}/{coda_seq}",
                account=account,
                currency=currency,
                lines=lines,
                opening=opening,
                closing=closing,
                source=self.name,
                warnings=self.warnings,
            )
        )

    def account(self, number: int, structure: str, zone: str) -> tuple[str, str]:
        if structure == "0":  # Belgian account number: 12 digits, blank, currency
            account, currency = zone[0:12], zone[13:16]
        elif structure in "123":  # foreign number, Belgian IBAN, foreign IBAN: 34 characters, currency
            account, currency = zone[0:34], zone[34:37]
        else:
            raise self.fail(number, f"account structure {structure!r} is not 0, 1, 2 or 3")
        account = "".join(account.split())
        if not account or not re.fullmatch(r"[A-Z]{3}", currency):
            raise self.fail(number, f"no account or no currency in {zone.strip()!r}")
        return account, currency

    def movements(self, records: list[tuple[int, str]]) -> list[_Movement]:
        """Records 2.x grouped: each total with its details, by sequence number and transaction type."""
        tops: list[_Movement] = []
        current: _Movement | None = None
        for number, rec in records:
            article = rec[1]
            if article == "1":
                current = self.movement(number, rec)
                if current.kind in _TOTALS:
                    tops.append(current)
                    continue
                parent = tops[-1] if tops and tops[-1].sequence == current.sequence else None
                if current.kind in _DETAIL_OF and parent is not None:
                    parent.details.append(current)
                elif current.kind == "9" and parent is not None and parent.details and parent.details[-1].kind == "7":
                    parent.details[-1].details.append(current)
                else:
                    raise self.fail(
                        number,
                        f"movement {current.sequence}/{current.detail} of type {current.kind} is a detail "
                        "without the total it details",
                    )
            elif article in "23":
                if current is None or rec[2:6] != current.sequence:
                    raise self.fail(number, f"record 2.{article} does not follow its movement record 2.1")
                if article == "2":
                    current.communication.append(rec[10:63])
                    current.end_to_end = rec[63:98].strip()
                else:
                    zone = rec[10:47]
                    current.counterparty_account = (zone[0:12] if zone[12] == " " else zone[0:34]).strip()
                    current.counterparty_name = " ".join(rec[47:82].split())
                    current.communication.append(rec[82:125])
            else:
                raise self.fail(number, f"record 2.{article} is not a CODA 2 movement record")
        return tops

    def movement(self, number: int, rec: str) -> _Movement:
        try:
            amount = _amount(rec[31], rec[32:47])
            value_date, entry_date = _date(rec[47:53]), _date(rec[115:121])
        except (ValueError, ArithmeticError) as exc:
            raise self.fail(number, f"movement {rec[2:6]}: unreadable amount or date: {exc}") from exc
        if rec[31] not in "01":
            raise self.fail(number, f"movement {rec[2:6]}: sign {rec[31]!r} is neither 0 (credit) nor 1 (debit)")
        kind = rec[53]
        if kind not in "012356789":
            raise self.fail(number, f"movement {rec[2:6]}: transaction type {kind!r} is not a CODA type")
        m = _Movement(number, rec[2:6], rec[6:10], kind, amount, rec[10:31].strip(), value_date, entry_date, rec[124])
        zone = rec[62:115]
        if rec[61] == "1":  # structured communication: type, then its content
            kind_of = zone[0:3]
            if kind_of in ("101", "102"):
                digits = zone[3:15]
                m.structured = f"+++{digits[0:3]}/{digits[3:7]}/{digits[7:12]}+++"
            # other structured types (charges, gross amounts, card and direct-debit data) are coded
            # fields, not text a payer wrote: left out of the remittance
        else:
            m.communication.append(zone)
        return m

    def check_trailer(self, number: int, trailer: str, body: list[tuple[int, str]], movements: list[_Movement]) -> None:
        try:
            count = int(trailer[16:22])
            debit, credit = _amount("0", trailer[22:37]), _amount("0", trailer[37:52])
        except (ValueError, ArithmeticError) as exc:
            raise self.fail(number, f"unreadable trailer (record 9): {exc}") from exc
        counted = sum(1 for _, r in body if r[0] in "1238")
        if count not in (counted, counted + sum(1 for _, r in body if r[0] == "4")):
            raise self.fail(
                number, f"the trailer counts {count} records, the statement has {counted} (records missing?)"
            )
        debits = sum((-m.amount for m in movements if m.amount < 0), ZERO)
        credits = sum((m.amount for m in movements if m.amount > 0), ZERO)
        if (debits, credits) != (debit, credit):
            raise self.fail(
                number,
                f"the trailer totals debits {debit} and credits {credit}, the movements add up to "
                f"debits {debits} and credits {credits} (movements missing?)",
            )

    def attach_information(self, records: list[tuple[int, str]], movements: list[_Movement]) -> None:
        """A counterparty's name from information record 3.1 (structured type 001) where 2.3 gave none."""
        by_sequence = {m.sequence: m for m in movements}
        for _, rec in records:
            m = by_sequence.get(rec[2:6])
            if m is not None and rec[1] == "1" and rec[39] == "1" and rec[40:43] == "001":
                m.counterparty_name = m.counterparty_name or " ".join(rec[43:113].split())

    def lines(self, top: _Movement, currency: str) -> list[BankLine]:
        """One booking per total, or per detail when the details add up to the total exactly."""
        leaves = self.split(top)
        if leaves != [top]:
            return [self.line(m, currency, top) for m in leaves]
        extra = " ".join(t for d in top.details if (t := d.remittance()))
        return [self.line(top, currency, top, extra)]

    def split(self, total: _Movement) -> list[_Movement]:
        if not total.details or sum((d.amount for d in total.details), ZERO) != total.amount:
            return [total]
        return [leaf for d in total.details for leaf in self.split(d)]

    def line(self, m: _Movement, currency: str, top: _Movement, extra: str = "") -> BankLine:
        remittance = " ".join(p for p in (m.remittance(), extra) if p)
        reference = ""
        if m.structured:
            digits = m.structured.strip("+").replace("/", "")
            if ogm_vcs.is_valid(digits):
                reference = digits
            else:
                self.warnings.append(
                    f"movement {m.sequence}/{m.detail}: structured communication {m.structured} fails its "
                    "check digits; kept as remittance text"
                )
                remittance = " ".join(p for p in (m.structured, remittance) if p)
        return BankLine(
            amount=m.amount,
            currency=currency,
            booking_date=m.entry_date or top.entry_date,
            value_date=m.value_date or top.value_date,
            counterparty_name=m.counterparty_name or (top.counterparty_name if m is not top else ""),
            counterparty_account=m.counterparty_account,
            remittance=remittance,
            structured_reference=reference,
            bank_reference=m.bank_reference or top.bank_reference,
            end_to_end_id=m.end_to_end,
        )


def parse(data: bytes, name: str) -> list[Statement]:
    return _Reader(name).read(_decode(data))

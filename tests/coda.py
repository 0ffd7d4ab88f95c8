"""Builds CODA 2 statements (Febelfin "Coded statement of account", 128-character records) for tests.

Each record is laid out field by field as the standard gives it (positions in the comments are the
standard's, 1-based), so a test says what a bank would send: globalised totals with their
details, structured communications, counterparties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Move:
    amount: Decimal  # signed: positive = credit
    kind: str = "0"  # transaction type: 0 single, 1/2 globalised total, 3 with detail; 5-9 details
    name: str = ""
    account: str = ""  # counterparty IBAN
    text: str = ""  # free communication
    structured: str = ""  # 12 digits of a +++123/4567/89012+++ communication (type 101)
    globalisation: str = "0"
    end_to_end: str = ""
    details: tuple[Move, ...] = field(default_factory=tuple)


def _amount(value: Decimal) -> str:
    """Sign (0 credit, 1 debit) and 15 digits with 3 decimals."""
    return ("1" if value < 0 else "0") + f"{int(abs(value) * 1000):015d}"


def _d(on: date) -> str:
    return on.strftime("%d%m%y")


def _fit(record: str) -> str:
    assert len(record) == 128, (len(record), record)
    return record


def coda(
    moves: list[Move],
    *,
    iban: str = "BE68539007547034",
    currency: str = "EUR",
    opening: Decimal = Decimal("1000.00"),
    closing: Decimal | None = None,
    on: date = date(2026, 3, 2),
    paper: str = "042",
    sequence: str = "001",
    duplicate: bool = False,
    trailer_credit: Decimal | None = None,
) -> bytes:
    """One statement: header, old balance, movements (with their details), new balance, trailer."""
    tops = sum((m.amount for m in moves), Decimal(0))
    closing = opening + tops if closing is None else closing
    zone = iban.ljust(34) + currency  # positions 6-42 (record 1) / 5-41 (record 8)
    records = [
        # 1 "0", 2-5 zeros, 6-11 creation date, 12-14 bank id, 15-16 application code, 17 duplicate,
        # 18-24 blank, 25-34 file reference, 35-60 addressee, 61-71 BIC, 72-82 company id, 83 blank,
        # 84-88 separate application, 89-104 transaction ref, 105-120 related ref, 121-127 blank, 128 version
        "0"
        + "0000"
        + _d(on)
        + "539"
        + "05"
        + ("D" if duplicate else " ")
        + " " * 7
        + "FILEREF001"
        + "KESTREL BENELUX BV".ljust(26)
        + "GKCCBEBB".ljust(11)
        + "00477472701"
        + " "
        + "00000"
        + " " * 16
        + " " * 16
        + " " * 7
        + "2",
        # 1 "1", 2 account structure (2 = Belgian IBAN), 3-5 paper statement number, 6-42 account and
        # currency, 43 sign, 44-58 old balance, 59-64 its date, 65-90 holder, 91-125 description, 126-128 CODA seq
        "1"
        + "2"
        + paper
        + zone
        + _amount(opening)
        + _d(on)
        + "KESTREL BENELUX BV".ljust(26)
        + "Current account".ljust(35)
        + sequence,
    ]
    count = 1
    debits = credits = Decimal(0)
    for n, move in enumerate(moves, start=1):
        seq = f"{n:04d}"
        for detail, m in enumerate((move, *move.details)):
            records += _movement(seq, f"{detail:04d}", m, on, paper)
            count += 3
        if move.amount < 0:
            debits -= move.amount
        else:
            credits += move.amount
    credits = credits if trailer_credit is None else trailer_credit
    records.append("8" + paper + zone + _amount(closing) + _d(on) + " " * 64 + "0")
    count += 1
    records.append("9" + " " * 15 + f"{count:06d}" + _amount(debits)[1:] + _amount(credits)[1:] + " " * 75 + "2")
    return ("\r\n".join(_fit(r) for r in records) + "\r\n").encode("latin-1")


def _movement(seq: str, detail: str, m: Move, on: date, paper: str) -> list[str]:
    code = m.kind + "0150000"  # type, family 01 (domestic transfer), transaction 50, category 000
    structured = "1" + ("101" + m.structured).ljust(53)
    communication = structured if m.structured else "0" + m.text[:53].ljust(53)
    # 1-2 "21", 3-6 sequence, 7-10 detail, 11-31 bank reference, 32 sign, 33-47 amount, 48-53 value
    # date, 54-61 transaction code, 62 communication type, 63-115 communication, 116-121 entry date,
    # 122-124 paper statement number, 125 globalisation code, 126 next code, 127 blank, 128 link code
    r21 = (
        "21"
        + seq
        + detail
        + f"EBB{seq}{detail}XYZ".ljust(21)
        + _amount(m.amount)
        + _d(on)
        + code
        + communication
        + _d(on)
        + paper
        + m.globalisation
        + "1"
        + " "
        + "0"
    )
    # 1-2 "22", 3-10, 11-63 communication (continued), 64-98 customer reference, 99-109 BIC,
    # 110-112 blank, 113 R-transaction type, 114-117 reason, 118-121 category purpose, 122-125 purpose,
    # 126 next code, 127 blank, 128 link code
    r22 = (
        "22"
        + seq
        + detail
        + m.text[53:106].ljust(53)
        + m.end_to_end.ljust(35)
        + "GEBABEBB".ljust(11)
        + " " * 3
        + " "
        + " " * 4
        + " " * 4
        + " " * 4
        + "1"
        + " "
        + "0"
    )
    # 1-2 "23", 3-10, 11-47 counterparty account and currency, 48-82 name, 83-125 communication
    # (continued), 126 next code, 127 blank, 128 link code
    r23 = "23" + seq + detail + (m.account.ljust(34) + "EUR" if m.account else " " * 37) + m.name.ljust(35)
    r23 += m.text[106:149].ljust(43) + "0" + " " + "0"
    return [r21, r22, r23]

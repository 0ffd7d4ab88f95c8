"""Counts a bank file's bookings straight from its text, without the importer's readers, so a test
can say: what was read (and stored) is every booking the file lists, and they add up to the same sum.

`bookings(data)` gives the number of bookings the file lists and their signed total. For MT940
(`:61:`) and OFX (`<STMTTRN>`) the number is exact. camt entries (`<Ntry>`) may be split into their
transactions, and CODA totals into their details: there the number is the least the importer must
store, and the total is exact.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple


class Bookings(NamedTuple):
    count: int
    total: Decimal
    exact_count: bool


_MT940_61 = re.compile(rb"(?m)^:61:\d{6}(?:\d{4})?(R?[DC])[A-Z]?(\d+(?:[,.]\d*)?)")
_CAMT_NTRY = re.compile(rb"<(?:\w+:)?Ntry>(.*?)</(?:\w+:)?Ntry>", re.S)
_CAMT_AMT = re.compile(rb"<(?:\w+:)?Amt[^>]*>\s*([\d.]+)\s*</(?:\w+:)?Amt>")
_CAMT_IND = re.compile(rb"<(?:\w+:)?CdtDbtInd>\s*(CRDT|DBIT)\s*<")
_OFX_TRN = re.compile(rb"<STMTTRN>(.*?)(?=<STMTTRN>|</BANKTRANLIST>)", re.S | re.I)
_OFX_AMT = re.compile(rb"<TRNAMT>\s*([^<\s]+)", re.I)


def bookings(data: bytes) -> Bookings:
    head = data.lstrip()[:200]
    if re.match(rb"0{5}\d{6}", head):
        return _coda(data)
    if b"<Ntry" in data or b":Ntry>" in data:
        entries = _CAMT_NTRY.findall(data)
        total = Decimal(0)
        for entry in entries:
            body = re.sub(rb"<(?:\w+:)?NtryDtls>.*?</(?:\w+:)?NtryDtls>", b"", entry, flags=re.S)
            amount = Decimal(_CAMT_AMT.search(body).group(1).decode())  # type: ignore[union-attr]
            indicator = _CAMT_IND.search(body)
            total += -amount if indicator and indicator.group(1) == b"DBIT" else amount
        return Bookings(len(entries), total, False)
    if re.search(rb"OFXHEADER|<OFX>", data[:4096], re.I):
        if b"INVSTMTRS" in data.upper() and b"<STMTRS>" not in data.upper():
            return Bookings(0, Decimal(0), True)
        trns = _OFX_TRN.findall(data)
        total = Decimal(0)
        for trn in trns:
            raw = _OFX_AMT.search(trn).group(1).decode().replace(",", ".")  # type: ignore[union-attr]
            total += Decimal(raw)
        return Bookings(len(trns), total, True)
    found = _MT940_61.findall(data)
    total = Decimal(0)
    for mark, amount in found:
        value = Decimal(amount.decode().replace(",", ".").rstrip(".") or "0")
        total += -value if mark in (b"D", b"RC") else value
    return Bookings(len(found), total, True)


def _coda(data: bytes) -> Bookings:
    """Records 2.1 of types 0-3 are the bookings the balances count; the trailers say their totals."""
    count, total = 0, Decimal(0)
    for line in data.decode("latin-1").splitlines():
        if line.startswith("21") and line[53] in "0123":
            count += 1
        if line.startswith("9"):
            total += (Decimal(line[37:52]) - Decimal(line[22:37])) / 1000
    return Bookings(count, total, False)

"""Builds small ISO 20022 camt.053.001.08 statements for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Entry:
    amount: Decimal
    name: str = ""
    text: str = ""
    reference: str = ""  # structured creditor reference (RF...)
    booked_on: date = date(2026, 11, 20)
    credit: bool = True


def camt053(
    entries: list[Entry],
    *,
    statement_id: str = "STMT-1",
    iban: str = "DE89370400440532013000",
    opening: Decimal = Decimal("1000.00"),
    closing: Decimal | None = None,
    currency: str = "EUR",
) -> bytes:
    moved = sum((e.amount if e.credit else -e.amount for e in entries), Decimal(0))
    closing = opening + moved if closing is None else closing

    def balance(code: str, amount: Decimal) -> str:
        sign = "CRDT" if amount >= 0 else "DBIT"
        return (
            f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{abs(amount)}</Amt>'
            f"<CdtDbtInd>{sign}</CdtDbtInd><Dt><Dt>2026-11-20</Dt></Dt></Bal>"
        )

    def entry(e: Entry) -> str:
        role = "Dbtr" if e.credit else "Cdtr"
        remittance = f"<Ustrd>{escape(e.text)}</Ustrd>" if e.text else ""
        if e.reference:
            remittance += (
                f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                f"<Ref>{e.reference}</Ref></CdtrRefInf></Strd>"
            )
        return (
            f'<Ntry><Amt Ccy="{currency}">{e.amount}</Amt><CdtDbtInd>{"CRDT" if e.credit else "DBIT"}</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{e.booked_on}</Dt></BookgDt><ValDt><Dt>{e.booked_on}</Dt></ValDt>"
            f"<BkTxCd/><NtryDtls><TxDtls><RltdPties><{role}><Pty><Nm>{escape(e.name)}</Nm></Pty></{role}>"
            f"</RltdPties><RmtInf>{remittance}</RmtInf></TxDtls></NtryDtls></Ntry>"
        )

    body = "".join(entry(e) for e in entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><CreDtTm>2026-11-20T18:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        f"{balance('OPBD', opening)}{balance('CLBD', closing)}{body}</Stmt></BkToCstmrStmt></Document>"
    ).encode()

"""Bank files as banks really send them (files beside this test, written in the shapes the SWIFT,
Febelfin and OFX specifications and the banks' documentation give): statements over several
pages, optional tags that cannot be read, CODA with globalised movements and structured
communications, OFX that the specification's strictness would refuse. Each is read whole, with
every booking, or refused with a reason naming the statement."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from handoff.cash.domain.bank import BalanceStatus, Statement, check_balance, line_identity
from handoff.cash.formats import StatementError, detect, read_statements
from handoff.cash.formats import coda as coda_format
from handoff.cash.service.statements import read_statement_file
from tests.coda import Move, coda

FILES = Path(__file__).parent / "files"


def read(name: str) -> list[Statement]:
    return read_statements((FILES / name).read_bytes(), name)


def refused(name: str) -> str:
    with pytest.raises(StatementError) as caught:
        read_statement_file((FILES / name).read_bytes(), name)
    assert caught.value.file == name
    return caught.value.reason


# --- MT940: a statement over two pages -----------------------------------------------------------


def test_two_pages_with_one_statement_number_are_one_statement_with_all_nine_bookings() -> None:
    (st,) = read("mt940_two_pages_same_number.sta")
    assert len(st.lines) == 9 and len(st.pages) == 2
    assert [p.lines for p in st.pages] == [5, 4]
    assert len({line.line_id for line in st.lines}) == 9, "page 2's first booking equals page 1's first"
    assert st.lines[0].amount == st.lines[5].amount == Decimal("100.00")
    assert (st.opening and st.opening.amount, st.closing and st.closing.amount) == (
        Decimal("1000.00"),
        Decimal("17540.20"),
    )
    check = check_balance(st)
    assert check.status is BalanceStatus.OK and check.movements == Decimal("16540.20")


def test_pages_numbered_by_the_bank_keep_the_line_ids_they_always_had() -> None:
    (st,) = read("mt940_two_pages_numbered.sta")
    assert st.statement_id == "STARTUMS-117-1/117/1" and len(st.lines) == 9
    page2 = st.lines[5:]
    assert [ln.line_id for ln in page2] == [
        line_identity(st.account, "STARTUMS-117-2/117/2", i, replace(ln, line_id="")) for i, ln in enumerate(page2)
    ]
    assert check_balance(st).ok


def test_a_page_that_does_not_add_up_is_refused_naming_the_page_and_both_balances() -> None:
    reason = refused("mt940_page_does_not_add_up.sta")
    assert reason.startswith("statement STARTUMS-117/117/1 page 2: opening 16780.00 + movements 760.20 = 17540.20")
    assert "stated closing is 17450.20" in reason


def test_a_page_that_does_not_open_where_the_previous_closed_is_refused() -> None:
    reason = refused("mt940_pages_gap.sta")
    assert "page 2 opens with 16708.00 but page 1 closed with 16780.00" in reason


def test_the_same_statement_twice_in_one_file_is_an_error_not_a_duplicate() -> None:
    assert "appears twice in the file" in refused("mt940_same_statement_twice.sta")


def test_two_statements_under_one_id_with_one_identical_booking_are_refused_not_merged() -> None:
    """Two statements numbered alike (`:28C:0`, as Rabobank writes) are two statements; but a booking of
    the second that hashes like one of the first would be lost as "already imported": an error."""
    one = (FILES / "mt940_same_statement_twice.sta").read_text().split("-\n")[0]
    other = one.replace(":60F:C260420EUR3655,00", ":60F:C260421EUR4250,00").replace(
        ":62F:C260420EUR4250,00", ":62F:C260421EUR4845,00"
    )
    with pytest.raises(
        StatementError, match=r"two bookings of the file have one identity \(statement 940-0420/42/1 line 1"
    ):
        read_statement_file(f"{one}-\n{other}-\n".encode(), "two.sta")


def test_an_unreadable_optional_tag_is_a_warning_not_a_refusal() -> None:
    (st,) = read("mt940_garbage_optional_tag.sta")
    assert [ln.amount for ln in st.lines] == [Decimal("1190.00"), Decimal("-35.00")]
    assert check_balance(st).ok
    assert st.warnings == ("statement 1: :65: forward available balance 'Dnullnull' is unreadable; left out",)


def test_an_unreadable_mandatory_tag_still_refuses() -> None:
    data = (FILES / "mt940_garbage_optional_tag.sta").read_bytes().replace(b":62F:C260419EUR3655,00", b":62F:Dnullnull")
    with pytest.raises(StatementError, match="unreadable MT940 tag"):
        read_statements(data, "broken.sta")


def test_a_last_page_that_continues_elsewhere_is_kept_with_a_warning() -> None:
    text = (FILES / "mt940_two_pages_same_number.sta").read_text()
    (st,) = read_statements(text[: text.index("-\n") + 2].encode(), "page1.sta")
    assert len(st.lines) == 5 and check_balance(st).ok
    assert any("next page is not in this file" in w for w in st.warnings)


# --- CODA ----------------------------------------------------------------------------------------


def test_coda_is_recognised_by_its_header_and_read_with_every_booking() -> None:
    data = (FILES / "coda_globalised.cod").read_bytes()
    assert detect(data, "statement.txt") is coda_format
    (st,) = read("coda_globalised.cod")
    assert (st.format, st.account, st.currency, st.statement_id) == ("coda", "BE68539007547034", "EUR", "2026/042/001")
    assert [ln.amount for ln in st.lines] == [Decimal(a) for a in ("1190.00", "1190.00", "595.00", "595.00", "-35.00")]
    assert check_balance(st).ok and st.closing and st.closing.amount == Decimal("4535.00")


def test_a_globalised_total_is_stored_as_its_details_not_twice() -> None:
    (st,) = read("coda_globalised.cod")
    details = st.lines[1:4]
    assert sum(ln.amount for ln in details) == Decimal("2380.00")
    assert [ln.counterparty_name for ln in details] == ["ORBIT MEDIA BV", "CEDAR ROBOTICS NV", "KESTREL LABS"]
    assert Decimal("2380.00") not in [ln.amount for ln in st.lines]


def test_details_that_do_not_add_up_leave_the_total_as_one_booking() -> None:
    data = coda(
        [
            Move(
                Decimal("900.00"),
                kind="1",
                globalisation="1",
                text="SALARIES",
                details=(
                    Move(Decimal("500.00"), kind="5", name="A"),
                    Move(Decimal("300.00"), kind="5", name="B", text="detail text"),
                ),
            ),
        ]
    )
    (st,) = read_statements(data, "partial.cod")
    assert [ln.amount for ln in st.lines] == [Decimal("900.00")]
    assert "SALARIES" in st.lines[0].remittance and "detail text" in st.lines[0].remittance
    assert check_balance(st).ok


def test_a_structured_communication_is_the_structured_reference_when_its_check_digits_hold() -> None:
    (st,) = read("coda_globalised.cod")
    assert (st.lines[0].structured_reference, st.lines[0].end_to_end_id) == ("010806817183", "NIMBUS-2026-0311")
    assert st.lines[0].counterparty_account == "BE71096123456769"
    bad = st.lines[3]
    assert bad.structured_reference == "" and bad.remittance == "+++123/4567/89012+++"
    assert st.warnings == (
        "movement 0002/0003: structured communication +++123/4567/89012+++ fails its check digits; "
        "kept as remittance text",
    )


def test_coda_whose_trailer_totals_disagree_is_refused() -> None:
    data = coda([Move(Decimal("100.00"))], trailer_credit=Decimal("150.00"))
    with pytest.raises(StatementError, match=r"trailer totals debits 0\.00 and credits 150\.00.*credits 100\.00"):
        read_statements(data, "short.cod")


def test_coda_whose_balances_do_not_add_up_is_refused_naming_both() -> None:
    data = coda([Move(Decimal("100.00"))], closing=Decimal("1200.00"))
    with pytest.raises(StatementError, match=r"opening 1000\.00 \+ movements 100\.00 = 1100\.00.*1200\.00"):
        read_statement_file(data, "wrong.cod")


def test_a_truncated_coda_file_is_refused() -> None:
    data = coda([Move(Decimal("100.00"))])
    with pytest.raises(StatementError, match="without a trailer"):
        read_statements(data[: data.index(b"\n8")], "cut.cod")


def test_a_coda_record_of_the_wrong_length_is_refused_naming_it() -> None:
    data = coda([Move(Decimal("100.00"), text="x")]).replace(b"0 0\r\n8", b"0 \r\n8", 1)
    with pytest.raises(StatementError, match="record 5: 127 characters; a CODA record has 128"):
        read_statements(data, "cut.cod")


# --- OFX as banks write it -----------------------------------------------------------------------


def test_ofx_with_blank_header_lines_french_language_and_decimal_commas() -> None:
    (st,) = read("ofx_french_bank.ofx")
    assert [ln.amount for ln in st.lines] == [Decimal("1190.00"), Decimal("-12.50"), Decimal("595.00")]
    assert st.lines[0].remittance == "VIR SEPA Facture INV-2026-0002 réglée"
    assert st.closing and st.closing.amount == Decimal("4772.50")
    assert st.repairs == ("blank lines inside the OFX header", "decimal comma in amounts read as a decimal point")


def test_ofx_on_one_line() -> None:
    (st,) = read("ofx_one_line.ofx")
    assert [(ln.amount, ln.booking_date and ln.booking_date.isoformat()) for ln in st.lines] == [
        (Decimal("2500.00"), "2026-03-03"),
        (Decimal("-310.25"), "2026-03-04"),
    ]
    assert st.repairs == ("OFX header and body on one line",)


def test_two_ofx_statements_of_one_account_chain_their_ledger_balances() -> None:
    february, march = read("ofx_two_statements.ofx")
    assert (len(february.lines), len(march.lines)) == (2, 2)
    assert check_balance(february).status is BalanceStatus.UNKNOWN  # OFX states no opening balance
    assert march.opening and march.opening.amount == Decimal("4000.00") and check_balance(march).ok
    assert "wrong" not in refused("ofx_two_statements_wrong_balance.ofx")
    assert "stated closing is 4210.00" in refused("ofx_two_statements_wrong_balance.ofx")


def test_an_investment_only_ofx_is_refused_with_that_reason() -> None:
    assert refused("ofx_investment_only.ofx").startswith("OFX holds an investment statement (INVSTMTRS) only")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<TRNAMT>$120</TRNAMT>", "TRNAMT: '$120' is not an amount"),
        (b"<DTPOSTED>20261340</DTPOSTED>", "DTPOSTED: '20261340' is not a valid date"),
    ],
)
def test_a_transaction_without_a_readable_amount_or_date_refuses_the_file(body: bytes, reason: str) -> None:
    data = (FILES / "ofx_two_statements.ofx").read_bytes()
    tag = body[1 : body.index(b">")]
    start = data.index(b"<" + tag + b">")
    data = data[:start] + body + data[data.index(b"</" + tag + b">", start) + len(tag) + 3 :]
    with pytest.raises(StatementError, match=reason.replace("$", r"\$")):
        read_statements(data, "broken.ofx")

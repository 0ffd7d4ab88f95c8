"""The mapping syntax's number transforms (exact decimal text, never through float), per-alternative
transforms, line maps and the status of an invoice as a CRM deal shows it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handoff.deals.connectors.mapping import TRANSFORMS, LineMap, MappingError, Rule
from handoff.deals.domain.crm_status import invoice_status
from handoff.deals.domain.orders import LineInput
from handoff.kernel.connectors.http import json_bytes


@pytest.mark.parametrize(
    ("transform", "given", "expected"),
    [
        ("amount", "15600.0", "15600.00"),
        ("amount", "1E+3", "1000.00"),
        ("amount", "0.125", "0.125"),
        ("amount", "abc", "abc"),  # left for readiness to name
        ("number", "12.0", "12"),
        ("number", "1.50", "1.5"),
        ("number", "0.00", "0"),
        ("percent", "10", "10%"),
        ("percent", "12.50", "12.5%"),
        ("percent", "0", ""),  # no discount
        ("discount", "300", "300.00"),
        ("discount", "0.0", ""),
        ("rate", "19.0", "19"),
        ("rate", "0", ""),
    ],
)
def test_number_transforms_give_exact_text(transform: str, given: str, expected: str) -> None:
    assert TRANSFORMS[transform](given) == expected


def test_json_numbers_read_as_decimal_are_written_as_the_vendor_wrote_them() -> None:
    rule = Rule.parse("opp.Amount | amount")
    assert rule.apply({"opp": {"Amount": Decimal("15600.0")}}) == "15600.00"
    assert Rule.parse("opp.Amount").apply({"opp": {"Amount": Decimal("1E+2")}}) == "100"  # never "1E+2"


def test_each_alternative_takes_its_own_transform() -> None:
    rule = Rule.parse("p.pct | percent || p.off | discount")
    assert rule.apply({"p": {"pct": "10", "off": "300"}}) == "10%"
    assert rule.apply({"p": {"pct": "0", "off": "300"}}) == "300.00"  # a zero percentage yields
    assert rule.apply({"p": {}}) == ""
    assert Rule.parse("a || b | date").apply({"a": "2026-10-30T12:00:00Z"}) == "2026-10-30"  # the last's for all


def test_line_map_reads_each_line_and_names_bad_entries() -> None:
    lines = LineMap.parse(
        "items",
        {
            "description": "name",
            "quantity": "qty | number",
            "unit_price": "price | amount",
            "tax_category": "vat | rate",
        },
        {"19": "standard", "7.0": "reduced"},
    )
    doc = {"items": [{"name": "A", "qty": Decimal("12.0"), "price": Decimal("1000.0"), "vat": "7"}, {"name": "B"}, 3]}
    assert lines.apply(doc) == (
        LineInput("A", "12", "1000.00", tax_category="reduced"),
        LineInput("B", "", "", tax_category="standard"),
    )
    assert lines.apply({"items": None}) == ()
    with pytest.raises(MappingError, match=r"lines\.fields\.qty: not a line field"):
        LineMap.parse("items", {"qty": "x"})
    with pytest.raises(MappingError, match=r"lines\.tax_categories\.19: 'normal' is not one of"):
        LineMap.parse("items", {}, {"19": "normal"})


def test_json_bytes_writes_decimals_exactly_and_refuses_floats() -> None:
    assert (
        json_bytes({"a": Decimal("1200.00"), "b": [1, True, None, "ü"]})
        == '{"a":1200.00,"b":[1,true,null,"ü"]}'.encode()
    )
    with pytest.raises(TypeError):
        json_bytes({"a": 1.5})


def status(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "number": "INV-1",
        "document_status": "issued",
        "payment_state": "partial",
        "gross": Decimal("100.00"),
        "paid": Decimal("40"),
        "credited": Decimal("0"),
        "open_amount": Decimal("60.00"),
        "currency": "EUR",
        "due_date": date(2026, 12, 2),
        "today": date(2026, 12, 2),
        "disputed": False,
        "reminder_level": 0,
    }
    return {**values, **changes}


def test_an_invoice_is_overdue_while_something_is_open_past_its_due_date() -> None:
    on_time = invoice_status(**status())  # type: ignore[arg-type]
    late = invoice_status(**status(today=date(2026, 12, 11)))  # type: ignore[arg-type]
    paid = invoice_status(**status(today=date(2026, 12, 11), payment_state="paid", open_amount=Decimal("0")))  # type: ignore[arg-type]
    assert (on_time.payment_state, on_time.overdue_days) == ("partial", 0)
    assert (late.payment_state, late.overdue_days) == ("overdue", 9)
    assert (paid.payment_state, paid.overdue_days) == ("paid", 0)
    assert late.facts()["paid_amount"] == "40.00"


def test_the_days_past_due_alone_do_not_make_a_new_state() -> None:
    day9 = invoice_status(**status(today=date(2026, 12, 11)))  # type: ignore[arg-type]
    day10 = invoice_status(**status(today=date(2026, 12, 12)))  # type: ignore[arg-type]
    disputed = invoice_status(**status(today=date(2026, 12, 12), disputed=True))  # type: ignore[arg-type]
    assert day9.digest() == day10.digest() != disputed.digest()

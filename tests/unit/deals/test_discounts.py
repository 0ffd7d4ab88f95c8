"""Discounts on deals: a deal's `discount` and a line's `discount` (a percentage like "10%" or an
amount like "500.00") are read from deal files and judged by readiness, a bad one a problem named
by its field (`discount`, `lines[N].discount`) instead of a failed draft; the deal amount is
compared with what the lines add up to after their discounts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff.config import load_business_config
from handoff.deals.domain.orders import to_billable
from handoff.deals.domain.readiness import check
from handoff.deals.formats import read_deal_file
from handoff.deals.service.orders import EDITABLE
from handoff.invoicing.domain.allowances import Discount
from tests.builders import GOOD, deal, deal_with_lines, line

RULES = load_business_config().ruleset
LINES = [line(), line(), line()]  # 3 x 4,000.00 = GOOD's amount


def found(d: Any) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in check(d, RULES)]


@pytest.mark.parametrize(
    ("discount", "message"),
    [
        ("ten", "neither a percentage"),
        ("-10%", "negative"),
        ("-5.00", "negative"),
        ("100.5%", "above 100"),
        ("10.001", "cents"),
        ("12000.01", "above the lines' total 12000.00"),
    ],
)
def test_a_bad_deal_discount_is_a_problem_on_discount(discount: str, message: str) -> None:
    [problem] = check(deal_with_lines(LINES, discount=discount), RULES)
    assert (problem.code, problem.field) == ("invalid", "discount")
    assert message in problem.message


@pytest.mark.parametrize(
    ("discount", "message"),
    [
        ("abc", "neither a percentage"),
        ("-1%", "negative"),
        ("150%", "above 100"),
        ("4000.01", "above the line's amount 4000.00"),
    ],
)
def test_a_bad_line_discount_is_a_problem_on_that_lines_discount(discount: str, message: str) -> None:
    [problem] = check(deal_with_lines([line(), line(), line(discount=discount)]), RULES)
    assert (problem.code, problem.field) == ("invalid", "lines[2].discount")
    assert message in problem.message and "line 3" in problem.message


def test_a_discount_on_a_line_without_a_positive_amount_is_a_problem() -> None:
    lines = [line(unit_price="12100.00"), line(unit_price="-100.00", discount="10.00")]
    assert found(deal_with_lines(lines)) == [("invalid", "lines[1].discount")]
    assert found(deal_with_lines([line(unit_price="12100.00"), line(unit_price="-100.00", discount="0%")])) == []


def test_good_discounts_are_ready_and_reach_the_billable_order() -> None:
    d = deal_with_lines([line(discount="10%"), line(discount="400"), line()], discount="500.00", amount="11200.00")
    assert found(d) == []
    billable = to_billable(d)
    assert [ln.discount for ln in billable.lines] == [
        Discount(percentage=Decimal("10")),
        Discount(amount=Decimal("400")),
        None,
    ]
    assert billable.discount == Discount(amount=Decimal("500.00"))


def test_the_deal_amount_matches_the_lines_after_their_discounts_before_or_after_the_deal_discount() -> None:
    lines = [line(discount="10%"), line(), line()]  # 3,600 + 4,000 + 4,000 = 11,600
    assert found(deal_with_lines(lines, amount="11600.00")) == []
    assert found(deal_with_lines(lines, amount="12000.00")) == [("amount_mismatch", "amount")]
    # a deal discount of 10 %: the amount may be the lines' 11,600 or the 10,440 billed
    assert found(deal_with_lines(lines, amount="11600.00", discount="10%")) == []
    assert found(deal_with_lines(lines, amount="10440.00", discount="10%")) == []
    [problem] = check(deal_with_lines(lines, amount="11000.00", discount="10%"), RULES)
    assert (problem.code, problem.field) == ("amount_mismatch", "amount")
    assert "11600.00" in problem.message and "10440.00" in problem.message


def test_a_deal_without_lines_takes_its_discount_off_its_amount() -> None:
    assert found(deal(discount="10%")) == []
    assert found(deal(discount="12000.00")) == []
    assert found(deal(discount="12000.01")) == [("invalid", "discount")]
    assert to_billable(deal(discount="10%")).discount == Discount(percentage=Decimal("10"))
    assert found(deal(amount="lots", discount="10%")) == [("invalid", "amount")]  # nothing to compare with


def test_a_bad_line_value_leaves_the_discount_comparison_alone() -> None:
    d = deal_with_lines([line(), line(), line(unit_price="abc", discount="10%")], discount="10%")
    assert found(d) == [("invalid", "lines[2].unit_price")]


def test_deal_files_carry_discounts(tmp_path: Path) -> None:
    csv_path = tmp_path / "deals.csv"
    csv_path.write_text("deal_id,amount,Discount\nD-1,12000.00,10%\n", encoding="utf-8")
    [event] = read_deal_file(csv_path)
    assert event.deal.get("discount") == "10%"
    json_path = tmp_path / "deals.json"
    doc = [{**GOOD, "discount": 500, "lines": [line(discount="12.5%"), line(discount=100.5), line()]}]
    json_path.write_text(json.dumps(doc), encoding="utf-8")
    [event] = read_deal_file(json_path)
    assert event.deal.get("discount") == "500"
    assert [ln.discount for ln in event.deal.lines] == ["12.5%", "100.5", ""]
    stored = event.deal.as_dict()
    assert stored["discount"] == "500"
    assert [x.get("discount") for x in stored["lines"]] == ["12.5%", "100.5", None]  # (no key: as before)


def test_a_discount_is_the_crms_to_change_not_a_billing_fix() -> None:
    assert "discount" not in EDITABLE


def test_handoff_check_names_the_discount_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff.cli import app

    for name in ("HANDOFF_CONFIG", "HANDOFF_RULES"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "deals.json"
    path.write_text(json.dumps([{**GOOD, "discount": "110%", "lines": [line(), line(), line(discount="x")]}]), "utf-8")
    result = CliRunner().invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(x) for x in result.output.splitlines()]
    assert row["ready"] is False
    assert [(p["code"], p["field"]) for p in row["problems"]] == [
        ("invalid", "lines[2].discount"),
        ("invalid", "discount"),
    ]

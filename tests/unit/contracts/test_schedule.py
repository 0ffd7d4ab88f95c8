"""The billing schedule: worked examples of each billing rule, proration and `due`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractError,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
    RampStep,
    Timing,
)
from handoff.contracts.domain.schedule import contract_value, due, line_end, plan, prorate

D = Decimal
START = date(2027, 1, 1)


def contract(*lines: ContractLine, billing_start: date = START) -> ContractVersion:
    return ContractVersion(
        contract_id="C-1",
        version=1,
        effective=billing_start,
        terms=ContractTerms("CUST-1", "acme-de", "EUR", "net30", billing_start),
        lines=lines,
    )


def line(key: str, price: str, rule: BillingRule, quantity: str = "1", **fields: Any) -> ContractLine:
    return ContractLine(key, "", f"Line {key}", D(quantity), D(price), rule, **fields)


def recurring(frequency: Frequency = Frequency.MONTHLY, **fields: Any) -> BillingRule:
    return BillingRule(BillingKind.RECURRING, frequency=frequency, **fields)


def ramp_contract() -> ContractVersion:
    rule = recurring(
        Frequency.ANNUAL,
        end=date(2030, 1, 1),
        ramp=(RampStep(date(2028, 1, 1), D("12000.00")), RampStep(date(2029, 1, 1), D("15000.00"))),
    )
    return contract(line("L1", "10000.00", rule))


def test_three_year_ramp_annual_in_advance() -> None:
    items = plan(ramp_contract())
    assert [(i.period_key, i.bill_date, i.amount) for i in items] == [
        ("2027-01-01", date(2027, 1, 1), D("10000.00")),
        ("2028-01-01", date(2028, 1, 1), D("12000.00")),
        ("2029-01-01", date(2029, 1, 1), D("15000.00")),
    ]
    assert [(i.period_start, i.period_end) for i in items] == [
        (date(2027, 1, 1), date(2028, 1, 1)),
        (date(2028, 1, 1), date(2029, 1, 1)),
        (date(2029, 1, 1), date(2030, 1, 1)),
    ]
    assert [i.unit_price for i in items] == [D("10000.00"), D("12000.00"), D("15000.00")]
    assert all(i.trigger == "date" and not i.prorated for i in items)
    assert contract_value(ramp_contract()) == D("37000.00")


def test_monthly_line_co_termed_prorates_the_last_period() -> None:
    rule = recurring(start=date(2027, 1, 15), coterm_to=date(2027, 6, 1))
    items = plan(contract(line("L2", "100.00", rule)))
    assert [i.period_key for i in items] == ["2027-01-15", "2027-02-15", "2027-03-15", "2027-04-15", "2027-05-15"]
    assert [i.amount for i in items] == [D("100.00")] * 4 + [D("54.84")]  # 17 of the 31 days of 05-15..06-14
    last = items[-1]
    assert (last.period_start, last.period_end, last.days, last.period_days) == (
        date(2027, 5, 15),
        date(2027, 6, 1),
        17,
        31,
    )
    assert last.prorated and "(17/31 days)" in last.description
    assert contract_value(contract(line("L2", "100.00", rule))) == D("454.84")


def test_in_arrears_bills_on_the_period_end() -> None:
    rule = recurring(Frequency.QUARTERLY, timing=Timing.IN_ARREARS, end=date(2028, 1, 1))
    items = plan(contract(line("L1", "300", rule, quantity="2")))
    assert [i.bill_date for i in items] == [date(2027, 4, 1), date(2027, 7, 1), date(2027, 10, 1), date(2028, 1, 1)]
    assert [i.amount for i in items] == [D("600.00")] * 4
    assert due(items, date(2027, 3, 31), set(), {}) == []
    assert [i.period_key for i in due(items, date(2027, 7, 1), set(), {})] == ["2027-01-01", "2027-04-01"]


def test_periods_are_anchored_on_the_start_and_clamped_to_month_end() -> None:
    rule = recurring(start=date(2027, 1, 31), end=date(2027, 5, 31))
    items = plan(contract(line("L1", "10", rule)))
    assert [i.period_key for i in items] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert all(not i.prorated for i in items)  # 04-30 .. 05-31 is a whole anchored month


def test_one_time_fee_on_a_date_or_at_billing_start() -> None:
    on_date = line("L1", "500", BillingRule(BillingKind.ONE_TIME, bill_on=date(2027, 2, 10)), quantity="3")
    at_start = line("L2", "250.005", BillingRule(BillingKind.ONE_TIME))
    items = plan(contract(on_date, at_start))
    assert [(i.line_key, i.period_key, i.bill_date, i.amount) for i in items] == [
        ("L1", "once", date(2027, 2, 10), D("1500.00")),
        ("L2", "once", START, D("250.01")),  # half-up to cents
    ]
    assert items[0].period_end == date(2027, 2, 11)


def test_milestones_bill_only_when_accepted() -> None:
    rule = BillingRule(
        BillingKind.MILESTONE,
        milestones=(Milestone("KICKOFF", "Kick-off", percent=D("30")), Milestone("GOLIVE", "Go-live", percent=D("70"))),
    )
    version = contract(line("L3", "10000", rule))
    items = plan(version)
    assert [(i.period_key, i.amount, i.bill_date, i.trigger) for i in items] == [
        ("milestone:KICKOFF", D("3000.00"), None, "milestone"),
        ("milestone:GOLIVE", D("7000.00"), None, "milestone"),
    ]
    assert contract_value(version) == D("10000.00")
    assert due(items, date(2030, 1, 1), set(), {}) == []
    accepted = {"KICKOFF": date(2027, 3, 10)}
    assert due(items, date(2027, 3, 9), set(), accepted) == []
    billed_now = due(items, date(2027, 3, 10), set(), accepted)
    assert [(i.period_key, i.bill_date) for i in billed_now] == [("milestone:KICKOFF", date(2027, 3, 10))]
    assert due(items, date(2027, 9, 1), {("L3", "milestone:KICKOFF")}, accepted | {"GOLIVE": date(2027, 9, 1)}) == [
        replace(items[1], bill_date=date(2027, 9, 1))
    ]


def test_milestone_rounding_remainder_goes_to_the_last() -> None:
    rule = BillingRule(
        BillingKind.MILESTONE,
        milestones=(
            Milestone("A", "a", percent=D("33.33")),
            Milestone("B", "b", percent=D("33.33")),
            Milestone("C", "c", percent=D("33.34")),
        ),
    )
    items = plan(contract(line("L1", "100.01", rule)))
    assert [i.amount for i in items] == [D("33.33"), D("33.33"), D("33.35")]
    assert sum(i.amount for i in items) == D("100.01")


def test_discounts_percentage_and_prorated_amount() -> None:
    monthly = recurring(start=date(2027, 1, 15), coterm_to=date(2027, 3, 1))
    items = plan(
        contract(
            line("L1", "100.00", monthly, discount="10%"),
            line("L2", "100.00", monthly, discount="31.00"),
        )
    )
    by_key = {(i.line_key, i.period_key): i for i in items}
    assert by_key["L1", "2027-01-15"].amount == D("90.00")
    assert by_key["L1", "2027-01-15"].discount == D("10.00")
    last = by_key["L1", "2027-02-15"]  # 14 of the 28 days of 02-15..03-14
    assert (last.gross, last.discount, last.amount) == (D("50.00"), D("5.00"), D("45.00"))
    assert by_key["L2", "2027-01-15"].amount == D("69.00")
    assert by_key["L2", "2027-02-15"].discount == D("15.50")
    assert by_key["L2", "2027-02-15"].amount == D("34.50")


def test_time_and_materials_and_usage_are_not_planned() -> None:
    version = contract(
        line("L1", "150", BillingRule(BillingKind.TIME_AND_MATERIALS)),
        line("L2", "0.02", BillingRule(BillingKind.USAGE)),
        line("L3", "99", BillingRule(BillingKind.ONE_TIME)),
    )
    assert [i.line_key for i in plan(version)] == ["L3"]
    assert contract_value(version) == D("99.00")


def auto_renewing(**fields: Any) -> ContractVersion:
    rule = recurring(auto_renew=True, renewal_months=12, notice_days=30, **fields)
    return contract(line("L1", "100", rule))


def test_auto_renewal_terms_are_planned_through_a_date() -> None:
    with pytest.raises(ContractError, match="contract C-1 line L1: through is required"):
        plan(auto_renewing())
    assert len(plan(auto_renewing(), through=date(2027, 12, 31))) == 12
    renewed = plan(auto_renewing(), through=date(2028, 1, 1))  # the second term has begun
    assert len(renewed) == 24 and renewed[-1].period_key == "2028-12-01"
    assert contract_value(auto_renewing(), through=date(2029, 6, 30)) == D("3600.00")


def test_auto_renewal_with_notice_in_time_ends_at_the_term_end() -> None:
    in_time = auto_renewing(notice_given_on=date(2027, 12, 2))  # 2028-01-01 less 30 days
    assert line_end(in_time, in_time.lines[0]) == date(2028, 1, 1)
    assert len(plan(in_time)) == 12  # no `through` needed: the end is known
    assert len(plan(in_time, through=date(2035, 1, 1))) == 12
    late = auto_renewing(notice_given_on=date(2027, 12, 3))
    assert line_end(late, late.lines[0]) == date(2029, 1, 1)
    assert len(plan(late)) == 24


def test_auto_renewal_first_term_ends_at_end() -> None:
    version = auto_renewing(end=date(2027, 7, 1), notice_given_on=date(2028, 1, 1))
    # first term ends 2027-07-01; notice in time for the 2028-07-01 term end
    assert line_end(version, version.lines[0]) == date(2028, 7, 1)
    assert len(plan(version)) == 18


def test_due_skips_billed_and_is_idempotent() -> None:
    items = plan(ramp_contract())
    first = due(items, date(2028, 6, 1), set(), {})
    assert [i.period_key for i in first] == ["2027-01-01", "2028-01-01"]
    billed = {i.key for i in first}
    assert due(items, date(2028, 6, 1), billed, {}) == []
    assert [i.period_key for i in due(items, date(2029, 1, 1), billed, {})] == ["2029-01-01"]
    assert len(due(items + items, date(2029, 1, 1), set(), {})) == 3  # a key is never returned twice


def test_prorate() -> None:
    assert prorate(D("100"), 31, 31) == D("100.00")
    assert prorate(D("100"), 17, 31) == D("54.84")
    assert prorate(D("0.10"), 15, 30) == D("0.05")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line("L7", "100", recurring(end=START)), "contract C-1 line L7: end 2027-01-01 is not after the start"),
        (line("L7", "100", recurring(end=date(2028, 1, 1)), quantity="-1"), "contract C-1 line L7: quantity"),
        (
            line("L7", "100", BillingRule(BillingKind.RECURRING, end=date(2028, 1, 1))),
            "contract C-1 line L7: frequency",
        ),
    ],
)
def test_bad_input_raises_contract_error_naming_contract_line_and_field(bad: ContractLine, message: str) -> None:
    with pytest.raises(ContractError) as info:
        plan(contract(line("L1", "5", BillingRule(BillingKind.ONE_TIME)), bad))
    assert str(info.value).startswith(message)
    assert (info.value.contract_id, info.value.line_key) == ("C-1", "L7")


def test_auto_renewal_notice_far_ahead_is_refused() -> None:
    version = auto_renewing(notice_given_on=date(9999, 12, 31))
    with pytest.raises(ContractError, match="contract C-1 line L1: notice_given_on is too far ahead"):
        plan(version)

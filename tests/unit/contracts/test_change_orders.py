"""Change orders: worked examples of applying and replanning, and every refusal."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.change_orders import (
    AddLine,
    ChangeOrder,
    ChangeOrderError,
    ChangePrice,
    ChangeQuantity,
    Extend,
    RemoveLine,
    ShiftDates,
    Terminate,
    apply_change_order,
    replaced_by_change,
    replan,
    retired_keys,
)
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
from handoff.contracts.domain.schedule import due, plan
from handoff.kernel.money import round2

D = Decimal
START = date(2027, 1, 1)


def contract(*lines: ContractLine) -> ContractVersion:
    return ContractVersion(
        contract_id="C-1",
        version=1,
        effective=START,
        terms=ContractTerms("CUST-1", "acme-de", "EUR", "net30", START),
        lines=lines,
    )


def line(key: str, price: str, rule: BillingRule, quantity: str = "1", **fields: Any) -> ContractLine:
    return ContractLine(key, "", f"Line {key}", D(quantity), D(price), rule, **fields)


def recurring(frequency: Frequency = Frequency.MONTHLY, **fields: Any) -> BillingRule:
    fields.setdefault("end", date(2028, 1, 1))
    return BillingRule(BillingKind.RECURRING, frequency=frequency, **fields)


def order(effective: date, *changes: Any, key: str = "CO-1") -> ChangeOrder:
    return ChangeOrder(key, effective, tuple(changes), reason="customer request")


def annual(quantity: str = "10", price: str = "100.00", **fields: Any) -> ContractVersion:
    return contract(line("L1", price, recurring(Frequency.ANNUAL, **fields), quantity=quantity))


def billed_through(version: ContractVersion, on: date) -> set[tuple[str, str]]:
    return {item.key for item in due(plan(version), on, set(), {})}


# ---- worked examples ----


def test_upsell_mid_year_on_an_annual_in_advance_line_debits_the_added_units_for_the_remaining_days() -> None:
    old = annual(end=date(2029, 1, 1))
    new = apply_change_order(old, order(date(2027, 7, 1), ChangeQuantity("L1", D("15"))))
    assert (new.version, new.effective, new.change_order, new.terms) == (2, date(2027, 7, 1), "CO-1", old.terms)
    assert new.line("L1").quantity == D("15")

    billed = billed_through(old, date(2027, 6, 30))
    assert billed == {("L1", "2027-01-01")}
    future, adjustments = replan(old, new, billed)

    assert [(i.period_key, i.amount) for i in future] == [("2028-01-01", D("1500.00"))]
    [debit] = adjustments
    remaining = (date(2028, 1, 1) - date(2027, 7, 1)).days  # 184 of 365
    assert debit.amount == round2(5 * D("100.00") * remaining / 365) == D("252.05")
    assert (debit.line_key, debit.period_key, debit.trigger) == ("L1", "adjust:CO-1:2027-01-01", "change_order")
    assert (debit.bill_date, debit.period_start, debit.period_end) == (
        date(2027, 7, 1),
        date(2027, 7, 1),
        START.replace(year=2028),
    )
    assert (debit.days, debit.period_days, debit.quantity, debit.unit_price) == (184, 365, D(1), D("252.05"))
    assert "CO-1" in debit.description
    assert replan(old, new, billed) == (future, adjustments)  # replanning again gives the same keys and amounts


def test_upsell_rounds_each_part_of_the_year_once_so_the_year_bills_exactly_its_days() -> None:
    old = annual(price="1200.00")
    new = apply_change_order(old, order(date(2027, 7, 1), ChangeQuantity("L1", D("15"))))
    [debit] = replan(old, new, billed_through(old, date(2027, 6, 30)))[1]
    used, remaining = round2(D(12000) * 181 / 365), round2(D(18000) * 184 / 365)  # 5950.68 + 9073.97
    assert D("12000.00") + debit.amount == used + remaining
    assert debit.amount == D("3024.65")  # 5 x 1200 x 184/365 = 3024.657: within the cent


def test_termination_credits_the_unused_days_of_a_billed_period() -> None:
    old = annual()
    new = apply_change_order(old, order(date(2027, 10, 1), Terminate(date(2027, 10, 1))))
    assert new.line("L1").rule.end == date(2027, 10, 1)
    future, adjustments = replan(old, new, billed_through(old, date(2027, 9, 30)))
    assert future == []
    [credit] = adjustments
    unused = (date(2028, 1, 1) - date(2027, 10, 1)).days  # 92
    assert credit.amount == -round2(D("1000.00") * unused / 365) == D("-252.05")
    assert (credit.period_start, credit.period_end, credit.bill_date) == (
        date(2027, 10, 1),
        date(2028, 1, 1),
        date(2027, 10, 1),
    )


def test_termination_later_than_the_effective_date_credits_from_the_termination_on() -> None:
    old = annual()
    new = apply_change_order(old, order(date(2027, 9, 15), Terminate(date(2027, 10, 1))))
    [credit] = replan(old, new, billed_through(old, date(2027, 9, 14)))[1]
    assert credit.amount == D("-252.05")


def test_price_change_on_a_monthly_in_arrears_line_from_a_period_start_changes_nothing_billed() -> None:
    old = contract(line("L1", "100.00", recurring(timing=Timing.IN_ARREARS)))
    new = apply_change_order(old, order(date(2027, 3, 1), ChangePrice("L1", D("120.00"))))
    billed = billed_through(old, date(2027, 2, 28))
    assert billed == {("L1", "2027-01-01")}  # February bills on 1 March
    future, adjustments = replan(old, new, billed)
    assert adjustments == []
    assert [i.period_key for i in future] == [f"2027-{m:02d}-01" for m in range(3, 13)]
    assert {i.amount for i in future} == {D("120.00")}
    february = next(i for i in plan(old) if i.period_key == "2027-02-01")
    assert not replaced_by_change(february, date(2027, 3, 1))  # it stays, at the old price
    # billed on 1 March before the change was entered: the same
    assert replan(old, new, billed_through(old, date(2027, 3, 1)))[1] == []


def test_price_change_inside_an_unbilled_in_arrears_period_keeps_the_old_price_for_its_first_days() -> None:
    old = contract(line("L1", "100.00", recurring(timing=Timing.IN_ARREARS)))
    new = apply_change_order(old, order(date(2027, 3, 15), ChangePrice("L1", D("120.00"))))
    future, adjustments = replan(old, new, billed_through(old, date(2027, 3, 14)))
    march = future[0]
    assert (march.period_key, march.amount) == ("2027-03-01", D("120.00"))
    [adjustment] = adjustments
    assert adjustment.period_key == "adjust:CO-1:2027-03-01"
    # 14 days at 100 and 17 at 120, each rounded: 45.16 + 65.81
    assert march.amount + adjustment.amount == D("45.16") + D("65.81")


def test_removing_a_started_recurring_line_ends_it_and_credits_the_rest_of_the_period() -> None:
    old = contract(line("L1", "300.00", recurring(Frequency.QUARTERLY)), line("L2", "50.00", recurring()))
    new = apply_change_order(old, order(date(2027, 2, 1), RemoveLine("L1")))
    assert new.line("L1").rule.end == date(2027, 2, 1)
    future, adjustments = replan(old, new, billed_through(old, date(2027, 1, 31)))
    assert {i.line_key for i in future} == {"L2"}
    [credit] = adjustments
    assert credit.amount == -round2(D(300) * 59 / 90) == D("-196.67")


def test_removing_lines_not_started_drops_them_and_retires_their_keys() -> None:
    one_time = BillingRule(BillingKind.ONE_TIME, bill_on=date(2027, 6, 1))
    old = contract(line("L1", "10.00", recurring()), line("L2", "500.00", one_time))
    new = apply_change_order(old, order(date(2027, 2, 1), RemoveLine("L2")))
    assert [ln.key for ln in new.lines] == ["L1"]
    assert retired_keys([old, new]) == frozenset({"L2"})
    future, adjustments = replan(old, new, billed_through(old, date(2027, 1, 31)))
    assert adjustments == [] and all(i.line_key == "L1" for i in future)


def test_added_line_starts_on_the_effective_date_and_only_bills_from_then() -> None:
    old = annual()
    extra = line("L2", "20.00", BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, end=date(2027, 6, 1)))
    setup = line("L3", "99.00", BillingRule(BillingKind.ONE_TIME))
    new = apply_change_order(old, order(date(2027, 4, 1), AddLine(extra), AddLine(setup)))
    assert new.line("L2").rule.start == date(2027, 4, 1)
    assert new.line("L3").rule.bill_on == date(2027, 4, 1)
    future, adjustments = replan(old, new, billed_through(old, date(2027, 3, 31)))
    assert [(i.line_key, i.period_key) for i in future] == [
        ("L2", "2027-04-01"),
        ("L2", "2027-05-01"),
        ("L3", "once"),
    ]
    assert adjustments == []


def test_extend_lengthens_the_line_and_plans_the_new_periods() -> None:
    old = annual(end=date(2028, 1, 1))
    new = apply_change_order(old, order(date(2027, 12, 1), Extend("L1", date(2028, 7, 1))))
    future, adjustments = replan(old, new, billed_through(old, date(2027, 11, 30)))
    assert adjustments == []
    [half] = future
    assert (half.period_key, half.days, half.period_days) == ("2028-01-01", 182, 366)
    assert half.amount == round2(D(1000) * 182 / 366)


def test_extend_without_a_line_extends_every_recurring_line_ending_before() -> None:
    co = BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, coterm_to=date(2027, 6, 1))
    old = contract(line("L1", "10.00", recurring()), line("L2", "5.00", co))
    new = apply_change_order(old, order(date(2027, 2, 1), Extend(None, date(2028, 6, 1))))
    assert new.line("L1").rule.end == date(2028, 6, 1)
    assert (new.line("L2").rule.end, new.line("L2").rule.coterm_to) == (date(2028, 6, 1), date(2028, 6, 1))


def test_shift_dates_moves_a_line_not_started_yet() -> None:
    rule = recurring(start=date(2027, 6, 1), end=date(2027, 9, 1), ramp=(RampStep(date(2027, 8, 1), D("12")),))
    old = contract(line("L1", "10.00", rule))
    new = apply_change_order(old, order(date(2027, 3, 1), ShiftDates("L1", 30)))
    moved = new.line("L1").rule
    assert (moved.start, moved.end, moved.ramp[0].starts) == (date(2027, 7, 1), date(2027, 10, 1), date(2027, 8, 31))
    future, adjustments = replan(old, new, set())
    assert [i.period_key for i in future] == ["2027-07-01", "2027-08-01", "2027-09-01"] and adjustments == []


def test_price_change_keeps_later_ramp_steps_and_replaces_earlier_ones() -> None:
    ramp = (RampStep(date(2027, 3, 1), D("11")), RampStep(date(2027, 9, 1), D("13")))
    old = contract(line("L1", "10.00", recurring(ramp=ramp)))
    new = apply_change_order(old, order(date(2027, 5, 1), ChangePrice("L1", D("12"))))
    assert new.line("L1").rule.ramp == (RampStep(date(2027, 9, 1), D("13")),)
    prices = {i.period_key: i.unit_price for i in replan(old, new, billed_through(old, date(2027, 4, 30)))[0]}
    assert (prices["2027-05-01"], prices["2027-09-01"]) == (D("12"), D("13"))


def test_a_backdated_change_adjusts_whole_periods_billed_after_its_effective_date() -> None:
    old = contract(line("L1", "100.00", recurring()))
    new = apply_change_order(old, order(date(2027, 3, 1), ChangeQuantity("L1", D("2"))))
    billed = billed_through(old, date(2027, 5, 10))  # January to May billed at 1
    future, adjustments = replan(old, new, billed)
    assert [a.period_key for a in adjustments] == [
        "adjust:CO-1:2027-03-01",
        "adjust:CO-1:2027-04-01",
        "adjust:CO-1:2027-05-01",
    ]
    assert {a.amount for a in adjustments} == {D("100.00")}
    assert future[0].period_key == "2027-06-01"


def test_milestones_billed_are_final_and_pending_ones_follow_the_new_version() -> None:
    rule = BillingRule(
        BillingKind.MILESTONE,
        milestones=(Milestone("M1", "Design", percent=D(50)), Milestone("M2", "Go-live", percent=D(50))),
    )
    old = contract(line("L1", "1000.00", rule))
    new = apply_change_order(old, order(date(2027, 5, 1), ChangePrice("L1", D("1200.00"))))
    billed = {i.key for i in due(plan(old), date(2027, 4, 30), set(), {"M1": date(2027, 3, 1)})}
    future, adjustments = replan(old, new, billed)
    assert adjustments == []
    assert [(i.period_key, i.amount) for i in future] == [("milestone:M2", D("600.00"))]


# ---- refusals ----


def refused(version: ContractVersion, co: ChangeOrder, field: str, line_key: str = "", **kw: Any) -> str:
    with pytest.raises(ChangeOrderError) as caught:
        apply_change_order(version, co, **kw)
    error = caught.value
    assert (error.contract_id, error.change_order, error.field, error.line_key) == (
        "C-1",
        co.key or "?",
        field,
        line_key,
    )
    assert isinstance(error, ContractError)
    message = str(error)
    assert message.startswith(f"contract C-1 change order {co.key or '?'}")
    assert field in message
    return message


def test_refuses_an_effective_date_before_the_contract_start() -> None:
    message = refused(annual(), order(date(2026, 12, 31), ChangeQuantity("L1", D(2))), "effective")
    assert "2026-12-31 is before the contract's start 2027-01-01" in message


def test_refuses_an_effective_date_before_the_current_version_took_effect() -> None:
    v2 = apply_change_order(annual(), order(date(2027, 6, 1), ChangeQuantity("L1", D(12))))
    message = refused(v2, order(date(2027, 5, 1), ChangeQuantity("L1", D(2)), key="CO-2"), "effective")
    assert "before 2027-06-01, when version 2 took effect" in message


def test_refuses_an_unknown_line() -> None:
    message = refused(annual(), order(date(2027, 2, 1), ChangeQuantity("L9", D(2))), "line", "L9")
    assert "'L9' does not exist" in message


def test_refuses_a_line_changed_after_its_removal_in_the_same_order() -> None:
    later = contract(line("L1", "10.00", recurring(start=date(2027, 6, 1))))
    co = order(date(2027, 2, 1), RemoveLine("L1"), ChangePrice("L1", D(1)))
    assert "was removed by this change order" in refused(later, co, "line", "L1")
    # a started line stays, ended: it cannot change after that
    ended = order(date(2027, 2, 1), RemoveLine("L1"), ChangePrice("L1", D(1)))
    assert "ended on 2027-02-01" in refused(annual(), ended, "unit_price", "L1")


def test_refuses_reusing_a_removed_lines_key() -> None:
    old = contract(line("L1", "10.00", recurring()), line("L2", "5.00", recurring(start=date(2027, 6, 1))))
    again = line("L2", "7.00", BillingRule(BillingKind.ONE_TIME))
    co = order(date(2027, 2, 1), RemoveLine("L2"), AddLine(again))
    assert "line keys are never reused" in refused(old, co, "key", "L2")
    v2 = apply_change_order(old, order(date(2027, 2, 1), RemoveLine("L2")))
    later = order(date(2027, 3, 1), AddLine(again), key="CO-2")
    assert "never reused" in refused(v2, later, "key", "L2", retired=retired_keys([old, v2]))


def test_refuses_adding_a_line_that_exists_or_starts_before_the_effective_date() -> None:
    refused(annual(), order(date(2027, 2, 1), AddLine(line("L1", "1", BillingRule(BillingKind.ONE_TIME)))), "key", "L1")
    early = line("L2", "1", recurring(start=date(2027, 1, 15)))
    assert "2027-01-15 is before" in refused(annual(), order(date(2027, 2, 1), AddLine(early)), "start", "L2")
    once = line("L3", "1", BillingRule(BillingKind.ONE_TIME, bill_on=date(2027, 1, 1)))
    refused(annual(), order(date(2027, 2, 1), AddLine(once)), "bill_on", "L3")


@pytest.mark.parametrize("quantity", [D(0), D(-3)])
def test_refuses_a_quantity_not_above_zero(quantity: Decimal) -> None:
    message = refused(annual(), order(date(2027, 2, 1), ChangeQuantity("L1", quantity)), "quantity", "L1")
    assert f"must be above 0, not {quantity}" in message


def test_refuses_a_negative_price() -> None:
    refused(annual(), order(date(2027, 2, 1), ChangePrice("L1", D("-1"))), "unit_price", "L1")


def test_refuses_changing_a_line_that_ended_or_billed_before_the_effective_date() -> None:
    ended = contract(line("L1", "10.00", recurring(end=date(2027, 3, 1))), line("L2", "1.00", recurring()))
    assert "ended on 2027-03-01" in refused(
        ended, order(date(2027, 4, 1), ChangeQuantity("L1", D(2))), "quantity", "L1"
    )
    billed = contract(line("L1", "10.00", BillingRule(BillingKind.ONE_TIME)))
    assert "credit note" in refused(billed, order(date(2027, 2, 1), ChangePrice("L1", D(2))), "unit_price", "L1")
    refused(billed, order(date(2027, 2, 1), RemoveLine("L1")), "line", "L1")


def test_refuses_extensions_that_do_not_extend() -> None:
    refused(annual(), order(date(2027, 2, 1), Extend("L1", date(2027, 12, 1))), "new_end", "L1")
    renewing = contract(
        line("L1", "10.00", BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, auto_renew=True))
    )
    assert "renews automatically" in refused(
        renewing, order(date(2027, 2, 1), Extend("L1", date(2029, 1, 1))), "new_end", "L1"
    )
    one_time = contract(line("L1", "10.00", BillingRule(BillingKind.ONE_TIME, bill_on=date(2027, 5, 1))))
    refused(one_time, order(date(2027, 2, 1), Extend("L1", date(2029, 1, 1))), "new_end", "L1")
    refused(one_time, order(date(2027, 2, 1), Extend(None, date(2029, 1, 1))), "new_end")
    ended = contract(line("L1", "10.00", recurring(end=date(2027, 3, 1))))
    assert "add a line" in refused(ended, order(date(2027, 4, 1), Extend("L1", date(2028, 1, 1))), "new_end", "L1")


def test_refuses_a_termination_before_the_effective_date_or_with_nothing_left() -> None:
    refused(annual(), order(date(2027, 5, 1), Terminate(date(2027, 4, 1))), "on")
    ended = contract(line("L1", "10.00", recurring(end=date(2027, 3, 1))))
    assert "already ends" in refused(ended, order(date(2027, 4, 1), Terminate(date(2027, 5, 1))), "on")


def test_refuses_shifting_a_started_line_or_before_the_effective_date() -> None:
    assert "cannot move" in refused(annual(), order(date(2027, 2, 1), ShiftDates("L1", 10)), "start", "L1")
    later = contract(line("L1", "10.00", recurring(start=date(2027, 6, 1))))
    refused(later, order(date(2027, 5, 1), ShiftDates("L1", -60)), "start", "L1")
    refused(later, order(date(2027, 5, 1), ShiftDates("L1", 0)), "days", "L1")
    milestone = BillingRule(BillingKind.MILESTONE, milestones=(Milestone("M1", "All", percent=D(100)),))
    refused(contract(line("L1", "10.00", milestone)), order(date(2027, 5, 1), ShiftDates("L1", 5)), "days", "L1")


def test_refuses_an_order_without_key_or_changes() -> None:
    refused(annual(), order(date(2027, 2, 1), ChangeQuantity("L1", D(2)), key=""), "key")
    refused(annual(), order(date(2027, 2, 1)), "changes")


def test_a_version_the_changes_leave_invalid_is_refused_naming_the_change_order() -> None:
    rule = BillingRule(BillingKind.MILESTONE, milestones=(Milestone("M1", "All", amount=D("100.00")),))
    old = contract(line("L1", "100.00", rule))
    message = refused(old, order(date(2027, 2, 1), ChangeQuantity("L1", D(2))), "milestones", "L1")
    assert message.startswith("contract C-1 change order CO-1 line L1: milestones add up to 100.00")
    bad = line("L2", "1.00", BillingRule(BillingKind.RECURRING, end=date(2028, 1, 1)))
    refused(annual(), order(date(2027, 2, 1), AddLine(bad)), "frequency", "L2")


def test_replan_refuses_versions_that_do_not_follow_each_other() -> None:
    old = annual()
    with pytest.raises(ContractError, match="does not follow"):
        replan(old, old, set())


# ---- JSON ----


def test_change_order_json_round_trips_every_change() -> None:
    added = line(
        "L9",
        "12.50",
        recurring(Frequency.QUARTERLY, start=date(2027, 4, 1), ramp=(RampStep(date(2028, 1, 1), D("13.00")),)),
        discount="5%",
    )
    co = ChangeOrder(
        "CO-7",
        date(2027, 4, 1),
        (
            AddLine(added),
            RemoveLine("L2"),
            ChangeQuantity("L1", D("15.000")),
            ChangePrice("L1", D("99.90")),
            Extend("L1", date(2029, 1, 1)),
            Extend(None, date(2029, 6, 1)),
            Terminate(date(2030, 1, 1)),
            ShiftDates("L3", -7),
        ),
        reason="upsell and clean-up",
    )
    doc = co.to_json()
    assert doc["changes"][2] == {"type": "change_quantity", "line_key": "L1", "quantity": "15.000"}
    assert ChangeOrder.from_json(doc) == co
    assert ChangeOrder.from_json(json.loads(json.dumps(doc))) == co


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"key": "CO-1", "effective": "2027-02-30", "changes": []}, "effective"),
        ({"key": "CO-1", "effective": "2027-02-01", "changes": [{"type": "upgrade"}]}, "changes[0].type"),
        (
            {
                "key": "CO-1",
                "effective": "2027-02-01",
                "changes": [{"type": "change_quantity", "line_key": "L1", "quantity": 1.5}],
            },
            "changes[0].quantity",
        ),
        (
            {
                "key": "CO-1",
                "effective": "2027-02-01",
                "changes": [{"type": "shift_dates", "line_key": "L1", "days": "3"}],
            },
            "changes[0].days",
        ),
        (
            {"key": "CO-1", "effective": "2027-02-01", "changes": [{"type": "add_line", "line": {"key": "L2"}}]},
            "changes[0].line",
        ),
        ({"key": "CO-1", "effective": "2027-02-01", "changes": "all"}, "changes"),
        ({"effective": "2027-02-01", "changes": []}, "key"),
    ],
)
def test_change_order_from_json_names_the_bad_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ChangeOrderError) as caught:
        ChangeOrder.from_json(doc)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"change order {doc.get('key', '?')}: {field}")


def test_replaced_by_change_keeps_periods_ending_by_the_effective_date() -> None:
    items = plan(contract(line("L1", "10.00", recurring(timing=Timing.IN_ARREARS))))
    assert [replaced_by_change(i, date(2027, 3, 1)) for i in items[:3]] == [False, False, True]
    adjustment = replace(items[5], trigger="change_order", period_key="adjust:CO-1:2027-06-01")
    assert not replaced_by_change(adjustment, date(2027, 3, 1))

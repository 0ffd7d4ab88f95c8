"""The project model: opening from a contract, plan documents (round-trip and errors), lookups."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.domain.model import (
    BillingKind,
    BillingRule,
    ContractLine,
    ContractTerms,
    ContractVersion,
    Frequency,
    Milestone,
)
from handoff.projects.domain.model import (
    Project,
    ProjectError,
    ProjectSettings,
    Retainer,
    apply_plan,
    plan_to_json,
    project_from_contract,
    project_from_json,
    project_to_json,
)

D = Decimal
START = date(2027, 1, 1)


def tm_line(key: str, product: str, quantity: str = "100", price: str = "150") -> ContractLine:
    return ContractLine(
        key, product, f"{product} time", D(quantity), D(price), BillingRule(BillingKind.TIME_AND_MATERIALS)
    )


def contract(*lines: ContractLine, **terms: Any) -> ContractVersion:
    base = ContractTerms(
        customer_id="CUST-1",
        legal_entity="acme-de",
        currency="EUR",
        payment_terms="net30",
        billing_start=START,
        owner_email="owner@example.com",
    )
    return ContractVersion("C-1", 1, START, replace(base, **terms), tuple(lines))


def milestone_line() -> ContractLine:
    rule = BillingRule(
        BillingKind.MILESTONE,
        milestones=(
            Milestone("design", "Design signed off", amount=D("5000")),
            Milestone("golive", "", amount=D("5000")),
        ),
    )
    return ContractLine("L9", "", "Fixed fee", D(1), D("10000"), rule)


def project() -> Project:
    return project_from_contract(
        contract(tm_line("L1", "architect"), tm_line("L2", "developer", "200", "0"), milestone_line()),
        {"developer": D("95.00")},
    )


def two_phase_plan() -> dict[str, Any]:
    return {
        "manager_email": "pm@example.com",
        "phases": [
            {
                "key": "design",
                "name": "Design",
                "start": "2027-01-01",
                "end": "2027-01-31",
                "milestone": "design",
                "budget": {"architect": "60", "developer": "20.5"},
            },
            {
                "key": "build",
                "name": "Build",
                "start": "2027-02-01",
                "end": "2027-04-30",
                "milestone": "golive",
                "budget": {"architect": "40", "developer": "179.5"},
            },
        ],
        "settings": {
            "approval_required": True,
            "rounding_increment": "0.25",
            "rounding": "nearest",
            "cap": "50000.00",
            "cap_alert_percent": "75",
            "expense_markup_percent": "10",
            "retainer": {"hours": "40", "rate_role": "architect", "topup_below_hours": "8", "topup_hours": "20"},
            "wip_alert_amount": "10000",
            "wip_alert_days": 45,
        },
    }


def test_project_from_contract_roles_rates_milestones_and_default_plan() -> None:
    p = project()
    assert p.project_id == "PRJ-C-1" and p.currency == "EUR" and p.customer_id == "CUST-1"
    assert [(r.role, r.line_key, r.rate, r.budget_hours) for r in p.roles] == [
        ("architect", "L1", D("150"), D("100")),
        ("developer", "L2", D("95.00"), D("200")),  # unit price 0: the rate card's
    ]
    assert [(m.key, m.name, m.line_key) for m in p.milestones] == [
        ("design", "Design signed off", "L9"),
        ("golive", "golive", "L9"),
    ]
    (phase,) = p.phases
    assert (phase.key, phase.start, phase.end) == ("delivery", START, date(2027, 3, 31))  # +3 months, inclusive
    assert dict(phase.budget) == {"architect": D("100"), "developer": D("200")}
    assert p.manager_email == "owner@example.com" and p.settings == ProjectSettings() and p.plan_version == 1


def test_role_named_by_key_when_product_empty_and_plan_ends_with_the_contract() -> None:
    recurring = ContractLine(
        "L3",
        "",
        "Support",
        D(1),
        D(100),
        BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, end=date(2027, 7, 1)),
    )
    p = project_from_contract(contract(tm_line("L1", ""), recurring), {})
    assert p.roles[0].role == "L1"
    assert p.end == date(2027, 6, 30)


def test_missing_rate_names_contract_line_and_role() -> None:
    with pytest.raises(ProjectError, match=r"^contract C-1 line L2: rate for role 'architect' is missing$"):
        project_from_contract(contract(tm_line("L1", "developer"), tm_line("L2", "architect", price="0")), {})


def test_contract_without_delivery_lines_and_duplicate_roles_are_refused() -> None:
    recurring = ContractLine(
        "L3",
        "",
        "Support",
        D(1),
        D(100),
        BillingRule(BillingKind.RECURRING, frequency=Frequency.MONTHLY, end=date(2027, 7, 1)),
    )
    with pytest.raises(ProjectError, match="contract C-1: lines hold no time-and-materials"):
        project_from_contract(contract(recurring), {})
    with pytest.raises(ProjectError, match="contract C-1 line L2: product names role 'architect' of line L1 again"):
        project_from_contract(contract(tm_line("L1", "architect"), tm_line("L2", "architect")), {})


def test_apply_plan_sets_phases_settings_retainer_and_milestone_dates() -> None:
    p = apply_plan(project(), two_phase_plan())
    assert p.plan_version == 2 and p.manager_email == "pm@example.com"
    assert [ph.key for ph in p.phases] == ["design", "build"]
    assert (p.start, p.end) == (START, date(2027, 4, 30))
    assert p.settings.rounding_increment == D("0.25") and p.settings.rounding == "nearest"
    assert p.settings.cap == D("50000.00") and p.settings.cap_alert_percent == D(75)
    assert p.settings.retainer == Retainer(D(40), "architect", D(8), D(20))
    assert p.settings.wip_alert_days == 45 and p.settings.approval_required
    assert p.milestone("design").planned_on == date(2027, 1, 31)  # the end of the phase it closes
    assert p.phase_for(date(2027, 2, 1)).key == "build"
    assert p.phase_for(date(2027, 1, 31)).key == "design"


def test_plan_round_trips_exactly_through_json_text() -> None:
    p = apply_plan(project(), two_phase_plan())
    doc = json.loads(json.dumps(plan_to_json(p)))
    again = apply_plan(p, doc)
    assert replace(again, plan_version=p.plan_version) == p
    assert plan_to_json(again) == plan_to_json(p)
    assert plan_to_json(p)["phases"][0]["budget"] == {"architect": "60", "developer": "20.5"}


def test_project_round_trips_exactly_for_storage() -> None:
    p = replace(apply_plan(project(), two_phase_plan()), closed_through=date(2027, 1, 31))
    doc = json.loads(json.dumps(project_to_json(p)))
    assert project_from_json(doc) == p


def test_partial_plan_keeps_what_it_leaves_out_and_null_clears() -> None:
    p = apply_plan(project(), two_phase_plan())
    q = apply_plan(p, {"settings": {"cap": None, "retainer": None}})
    assert q.phases == p.phases and q.manager_email == p.manager_email
    assert q.settings.cap is None and q.settings.retainer is None
    assert q.settings.rounding_increment == D("0.25")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["phases"][1].update(end="2027-01-15"), "phases[1].end 2027-01-15 is before its start 2027-02-01"),
        (
            lambda d: d["phases"][1].update(start="2027-01-20"),
            "phases[1].start 2027-01-20..2027-04-30 overlaps phase 'design'",
        ),
        (
            lambda d: d["phases"][0]["budget"].update(tester="3"),
            r"phases[0].budget.tester is not a role of the project",
        ),
        (lambda d: d["phases"][0]["budget"].update(architect="-1"), r"phases[0].budget.architect must be at least 0"),
        (
            lambda d: d["phases"][0]["budget"].update(architect=1.5),
            r"phases[0].budget.architect is not a decimal number written as text",
        ),
        (lambda d: d["phases"][0].update(milestone="nope"), r"phases[0].milestone 'nope' is not a milestone"),
        (lambda d: d["phases"][0].update(start="01/02/2027"), r"phases[0].start is not an ISO date"),
        (lambda d: d["phases"][1].update(key="design"), r"phases[1].key 'design' is used by two phases"),
        (lambda d: d.update(phases=[]), "phases are missing"),
        (lambda d: d["settings"].update(rounding="down"), "settings.rounding is 'down', not one of up, nearest"),
        (lambda d: d["settings"].update(cap="0"), "settings.cap must be above 0"),
        (lambda d: d["settings"].update(cap_alert_percent="120"), "settings.cap_alert_percent must be at most 100"),
        (lambda d: d["settings"].update(approval_required="yes"), "settings.approval_required is not true or false"),
        (lambda d: d["settings"].update(colour="red"), "settings.colour is not a setting"),
        (
            lambda d: d["settings"]["retainer"].update(rate_role="ceo"),
            "settings.retainer.rate_role 'ceo' is not a role",
        ),
        (lambda d: d["settings"]["retainer"].pop("hours"), "settings.retainer.hours is missing"),
        (lambda d: d.update(budget={}), "budget is not a plan field"),
    ],
)
def test_bad_plans_name_the_field(change: Any, message: str) -> None:
    doc = two_phase_plan()
    change(doc)
    with pytest.raises(ProjectError) as caught:
        apply_plan(project(), doc)
    assert str(caught.value).startswith("project PRJ-C-1 plan: ")
    assert message in str(caught.value)


def test_lookups_name_the_field() -> None:
    p = project()
    assert p.role("developer").rate == D("95.00")
    with pytest.raises(
        ProjectError, match=r"^project PRJ-C-1: role 'tester' is unknown \(roles: architect, developer\)$"
    ) as caught:
        p.role("tester")
    assert caught.value.field == "role" and caught.value.record == "project PRJ-C-1"
    with pytest.raises(ProjectError, match="work_date 2027-04-01 is in no phase of the plan"):
        p.phase_for(date(2027, 4, 1))
    with pytest.raises(ProjectError, match="milestone 'x' is unknown"):
        p.milestone("x")
    assert p.role_for_line("L2").role == "developer"
    assert not p.is_closed(date(2027, 1, 1))
    assert replace(p, closed_through=date(2027, 1, 31)).is_closed(date(2027, 1, 31))

"""Property: however work arrives and is edited between postings, the postings bill in total exactly
what one posting of the final state bills, and posting again with nothing new bills nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.contracts.domain.model import BillingKind, BillingRule, ContractLine, ContractTerms, ContractVersion
from handoff.kernel.money import ZERO, round2
from handoff.projects.domain.model import Project, Retainer, project_from_contract
from handoff.projects.domain.rating import EntryPosting, EntryState, PostingPlan, rate_delivery, round_hours

D = Decimal
START = date(2027, 1, 1)
FINAL = date(2027, 4, 1)


def make_project(developer_rate: int, increment: Decimal, mode: str) -> Project:
    lines = (
        ContractLine("L1", "architect", "Architect", D(100), D(150), BillingRule(BillingKind.TIME_AND_MATERIALS)),
        ContractLine(
            "L2", "developer", "Developer", D(200), D(developer_rate), BillingRule(BillingKind.TIME_AND_MATERIALS)
        ),
    )
    terms = ContractTerms("CUST-1", "acme-de", "EUR", "net30", START)
    project = project_from_contract(ContractVersion("C-1", 1, START, terms, lines), {})
    return replace(project, settings=replace(project.settings, rounding_increment=increment, rounding=mode))


versions = st.fixed_dictionaries(
    {
        "hours": st.integers(1, 1000).map(lambda n: D(n) / 100),
        "work_date": st.integers(0, 89).map(lambda n: START + timedelta(days=n)),
        "role": st.sampled_from(["architect", "developer"]),
        "billable": st.sampled_from([True, True, True, False]),
        "deleted": st.sampled_from([False, False, False, True]),
        "status": st.sampled_from(["approved", "approved", "approved", "rejected"]),
    }
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.integers(0, 4), versions),  # a new entry, or a new revision of one
        st.tuples(st.just("post"), st.integers(20, 100), st.none()),  # a posting through START + n days
    ),
    min_size=4,
    max_size=30,
)


def apply(state: dict[int, EntryState], postings: list[EntryPosting]) -> None:
    for p in postings:
        state[p.entry_id] = replace(
            state[p.entry_id],
            posted_revision=p.revision,
            posted_hours=p.hours,
            posted_amount=p.amount,
            posted_drawn_hours=p.drawn_hours,
            posted_role=p.role,
            posted_month=p.month,
        )


def checked(plan: PostingPlan) -> PostingPlan:
    for item in plan.items:
        assert item.amount == round2(item.quantity * item.unit_price)  # EN 16931: line net = quantity x price
    return plan


@settings(max_examples=300, deadline=None)
@given(
    steps=steps,
    developer_rate=st.integers(1, 300),
    increment=st.sampled_from([D(0), D("0.25"), D("0.1")]),
    mode=st.sampled_from(["up", "nearest"]),
)
def test_split_postings_bill_what_one_posting_of_the_final_state_bills(
    steps: list[tuple[str, int, dict[str, object] | None]], developer_rate: int, increment: Decimal, mode: str
) -> None:
    project = make_project(developer_rate, increment, mode)
    state: dict[int, EntryState] = {}
    billed = ZERO
    number = 0
    for kind, value, changes in [*steps, ("post", (FINAL - START).days, None)]:
        if kind == "edit":
            assert changes is not None
            if value in state:
                state[value] = replace(state[value], revision=state[value].revision + 1, **changes)  # type: ignore[arg-type]
            else:
                state[value] = EntryState(id=value, external_id=f"e{value}", source="csv", person="p", **changes)  # type: ignore[arg-type]
            continue
        number += 1
        plan = checked(
            rate_delivery(project, list(state.values()), number=number, through=START + timedelta(days=value))
        )
        billed += sum((item.amount for item in plan.items), ZERO)
        apply(state, plan.postings)

    expected = ZERO
    for e in state.values():
        if not e.deleted and e.billable and e.status == "approved":
            expected += round_hours(e.hours, increment, mode) * project.role(e.role).rate
    assert billed == expected

    fresh = {
        i: EntryState(
            e.id, e.external_id, e.source, e.role, e.person, e.work_date, e.hours, e.billable, e.status, e.deleted
        )
        for i, e in state.items()
    }
    single = checked(rate_delivery(project, list(fresh.values()), number=1, through=FINAL))
    assert sum((item.amount for item in single.items), ZERO) == expected

    again = rate_delivery(project, list(state.values()), number=number + 1, through=FINAL)
    assert again.items == [] and again.postings == []


@settings(max_examples=200, deadline=None)
@given(
    steps=steps,
    retainer_hours=st.integers(1, 40),
    below=st.integers(0, 10),
    topup=st.integers(1, 20),
)
def test_with_a_retainer_every_hour_is_drawn_or_billed_once(
    steps: list[tuple[str, int, dict[str, object] | None]], retainer_hours: int, below: int, topup: int
) -> None:
    project = make_project(100, D(0), "up")
    retainer = Retainer(D(retainer_hours), "architect", D(below), D(topup))
    project = replace(project, settings=replace(project.settings, retainer=retainer))
    state: dict[int, EntryState] = {}
    balance: Decimal | None = None
    funded = ZERO
    number = 0
    for kind, value, changes in [*steps, ("post", (FINAL - START).days, None)]:
        if kind == "edit":
            assert changes is not None
            if value in state:
                state[value] = replace(state[value], revision=state[value].revision + 1, **changes)  # type: ignore[arg-type]
            else:
                state[value] = EntryState(id=value, external_id=f"e{value}", source="csv", person="p", **changes)  # type: ignore[arg-type]
            continue
        number += 1
        plan = checked(
            rate_delivery(
                project,
                list(state.values()),
                number=number,
                through=START + timedelta(days=value),
                retainer_balance=balance,
            )
        )
        funded += sum((i.quantity for i in plan.items if i.period_key.startswith("retainer-")), ZERO)
        balance = plan.retainer_balance
        assert balance is not None and balance >= below
        apply(state, plan.postings)
    drawn = ZERO
    for e in state.values():
        live = not e.deleted and e.billable and e.status == "approved"
        assert e.posted_hours + e.posted_drawn_hours == (e.hours if live else ZERO)
        assert e.posted_hours >= ZERO and e.posted_drawn_hours >= ZERO
        drawn += e.posted_drawn_hours
    assert balance == funded - drawn


@settings(max_examples=200, deadline=None)
@given(steps=steps, cap=st.integers(1, 3000))
def test_time_billed_never_passes_the_cap(steps: list[tuple[str, int, dict[str, object] | None]], cap: int) -> None:
    project = make_project(100, D("0.25"), "up")
    project = replace(project, settings=replace(project.settings, cap=D(cap)))
    state: dict[int, EntryState] = {}
    posted_time = ZERO
    number = 0
    for kind, value, changes in [*steps, ("post", (FINAL - START).days, None)]:
        if kind == "edit":
            assert changes is not None
            if value in state:
                state[value] = replace(state[value], revision=state[value].revision + 1, **changes)  # type: ignore[arg-type]
            else:
                state[value] = EntryState(id=value, external_id=f"e{value}", source="csv", person="p", **changes)  # type: ignore[arg-type]
            continue
        number += 1
        plan = checked(
            rate_delivery(
                project,
                list(state.values()),
                number=number,
                through=START + timedelta(days=value),
                posted_time_amount=posted_time,
            )
        )
        assert plan.time_amount == sum((i.amount for i in plan.items), ZERO)
        posted_time += plan.time_amount
        assert posted_time <= cap
        if plan.over_cap:
            assert {a.kind for a in plan.alerts} == {"cap", "cap_reached"}
        apply(state, plan.postings)
    for e in state.values():
        live = not e.deleted and e.billable and e.status == "approved"
        assert ZERO <= e.posted_hours <= (round_hours(e.hours, D("0.25"), "up") if live else ZERO)

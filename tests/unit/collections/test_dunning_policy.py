"""Dunning policy: levels by days overdue, pauses, disputes, paid invoices, no level twice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from handoff.collections.domain import (
    CustomerPause,
    DunningPolicy,
    InvoiceState,
    PolicyError,
    Tone,
    due_reminders,
    policy_from_dict,
)

DEFAULT = Path(__file__).resolve().parents[3] / "src" / "handoff" / "defaults" / "dunning.yaml"
TODAY = date(2026, 3, 31)


@pytest.fixture
def policy() -> DunningPolicy:
    return policy_from_dict(yaml.safe_load(DEFAULT.read_text(encoding="utf-8")))


def invoice(days_overdue: int, **kw: object) -> InvoiceState:
    base: dict[str, object] = dict(
        number="INV-1",
        customer_id="C1",
        due_date=TODAY - timedelta(days=days_overdue),
        amount_open=Decimal("100.00"),
        currency="EUR",
    )
    base.update(kw)
    return InvoiceState(**base)  # type: ignore[arg-type]


def test_the_bundled_policy_loads_with_three_escalating_levels(policy: DunningPolicy) -> None:
    assert [lv.tone for lv in policy.levels] == [Tone.FRIENDLY, Tone.FIRM, Tone.FINAL]
    days = [lv.days_after_due for lv in policy.levels]
    assert days == sorted(days) and len(set(days)) == 3


def test_level_follows_days_overdue(policy: DunningPolicy) -> None:
    first, second, third = policy.levels
    assert due_reminders([invoice(first.days_after_due - 1)], policy, TODAY) == []
    (r,) = due_reminders([invoice(first.days_after_due)], policy, TODAY)
    assert (r.level, r.tone, r.days_overdue) == (1, Tone.FRIENDLY, first.days_after_due)
    (r,) = due_reminders([invoice(second.days_after_due, levels_sent=frozenset({1}))], policy, TODAY)
    assert (r.level, r.copy_to) == (2, second.copy_to)
    (r,) = due_reminders([invoice(third.days_after_due + 30, levels_sent=frozenset({1, 2}))], policy, TODAY)
    assert r.tone is Tone.FINAL


def test_never_the_same_level_twice_nor_a_lower_one(policy: DunningPolicy) -> None:
    days = policy.levels[1].days_after_due
    assert due_reminders([invoice(days, levels_sent=frozenset({1, 2}))], policy, TODAY) == []
    assert due_reminders([invoice(days, levels_sent=frozenset({3}))], policy, TODAY) == []


def test_a_late_start_begins_at_level_one(policy: DunningPolicy) -> None:
    # issue 16: levels are sent in order, so a late start sends level 1 first (this test asserted level 3)
    (r,) = due_reminders([invoice(policy.levels[2].days_after_due)], policy, TODAY)
    assert r.level == 1


def test_nothing_for_paid_draft_disputed_or_undated_invoices(policy: DunningPolicy) -> None:
    days = policy.levels[0].days_after_due + 1
    states = [
        invoice(days, amount_open=Decimal("0")),
        invoice(days, issued=False),
        invoice(days, disputed=True),
        invoice(days, due_date=None),
    ]
    assert due_reminders(states, policy, TODAY) == []


def test_customer_pause_holds_reminders_until_its_end(policy: DunningPolicy) -> None:
    state = invoice(policy.levels[0].days_after_due + 1)
    assert due_reminders([state], policy, TODAY, [CustomerPause("C1")]) == []
    assert due_reminders([state], policy, TODAY, [CustomerPause("C1", until=TODAY)]) == []
    assert len(due_reminders([state], policy, TODAY, [CustomerPause("C1", until=TODAY - timedelta(days=1))])) == 1
    assert len(due_reminders([state], policy, TODAY, [CustomerPause("OTHER")])) == 1


def test_minimum_gap_between_reminders(policy: DunningPolicy) -> None:
    state = invoice(
        policy.levels[1].days_after_due,
        levels_sent=frozenset({1}),
        last_reminder_on=TODAY - timedelta(days=policy.min_days_between - 1),
    )
    assert due_reminders([state], policy, TODAY) == []
    later = TODAY + timedelta(days=1)
    assert [r.level for r in due_reminders([state], policy, later)] == [2]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty list"),
        ({"levels": [{"level": 1, "days_after_due": 7, "tone": "rude"}]}, "tone 'rude'"),
        (
            {
                "levels": [
                    {"level": 1, "days_after_due": 7, "tone": "firm"},
                    {"level": 3, "days_after_due": 9, "tone": "final"},
                ]
            },
            "without gaps",
        ),
        (
            {
                "levels": [
                    {"level": 1, "days_after_due": 9, "tone": "firm"},
                    {"level": 2, "days_after_due": 9, "tone": "final"},
                ]
            },
            "more days",
        ),
        ({"levels": [{"level": 1, "days_after_due": 9, "tone": "firm", "copy_to": "boss"}]}, "copy_to"),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(raw: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy_from_dict(raw)

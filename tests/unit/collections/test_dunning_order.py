"""Dunning climbs one level at a time (issue 16, item 3): whatever the days overdue when dunning starts,
an invoice gets level 1 first, then each next level no sooner than `min_days_between` after the previous
reminder and not before its own `days_after_due`; the gap is validated when the policy loads."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from handoff.collections.domain import DunningPolicy, InvoiceState, PolicyError, Tone, due_reminders, policy_from_dict
from handoff.config import ConfigError, load_dunning_policy

DEFAULT = Path(__file__).resolve().parents[3] / "src" / "handoff" / "defaults" / "dunning.yaml"
START = date(2026, 3, 31)
POLICY = policy_from_dict(yaml.safe_load(DEFAULT.read_text(encoding="utf-8")))


def state(days_overdue: int, on: date = START) -> InvoiceState:
    return InvoiceState("INV-1", "C1", on - timedelta(days=days_overdue), Decimal("100.00"), "EUR")


def simulate(inv: InvoiceState, policy: DunningPolicy, days: int) -> list[tuple[date, int]]:
    """Run dunning once a day from START for `days` days, feeding what was sent back in."""
    sent: list[tuple[date, int]] = []
    for n in range(days):
        today = START + timedelta(days=n)
        for r in due_reminders([inv], policy, today):
            sent.append((today, r.level))
            inv = replace(inv, levels_sent=inv.levels_sent | {r.level}, last_reminder_on=today)
    return sent


def test_an_invoice_ninety_days_overdue_gets_the_friendly_level_first() -> None:
    (r,) = due_reminders([state(90)], POLICY, START)
    assert (r.level, r.tone, r.copy_to) == (1, Tone.FRIENDLY, ())


def test_a_late_start_climbs_one_level_per_gap() -> None:
    gap = timedelta(days=POLICY.min_days_between)
    assert simulate(state(90), POLICY, 60) == [(START, 1), (START + gap, 2), (START + 2 * gap, 3)]


def test_the_next_level_still_waits_for_its_own_days_after_due() -> None:
    first, second, _ = POLICY.levels
    inv = state(first.days_after_due)  # level 1 today; level 2 only once its days after due are reached
    sent = simulate(inv, POLICY, 40)
    assert sent[:2] == [(START, 1), (inv.due_date + timedelta(days=second.days_after_due), 2)]  # type: ignore[operator]


@given(start_overdue=st.integers(min_value=-10, max_value=400), gap=st.integers(min_value=1, max_value=30))
def test_levels_always_go_out_in_order_with_the_gap_and_as_soon_as_allowed(start_overdue: int, gap: int) -> None:
    policy = replace(POLICY, min_days_between=gap)
    inv = state(start_overdue)
    assert inv.due_date is not None
    sent = simulate(inv, policy, 200)
    assert [lv for _, lv in sent] == [lv.level for lv in policy.levels]  # all of them, in order
    for (on, level), (prev_on, _) in zip(sent, [(START - timedelta(days=gap), 0), *sent], strict=False):
        days_after_due = policy.levels[level - 1].days_after_due
        earliest = max(START, prev_on + timedelta(days=gap), inv.due_date + timedelta(days=days_after_due))
        assert on == earliest, (level, on, earliest)


@pytest.mark.parametrize("value", [-1, 0, "7", 1.5, True, None])
def test_a_bad_gap_between_levels_is_refused_naming_the_field(value: object) -> None:
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    raw["min_days_between"] = value
    with pytest.raises(PolicyError, match=r"min_days_between.*whole number of days, at least 1.*got"):
        policy_from_dict(raw)


def test_the_gap_defaults_to_seven_days_and_a_bad_one_names_the_file(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    assert raw["min_days_between"] == POLICY.min_days_between == 7
    del raw["min_days_between"]
    assert policy_from_dict(raw).min_days_between == 7
    bad = tmp_path / "dunning.yaml"
    bad.write_text(yaml.safe_dump({**raw, "min_days_between": 0}))
    with pytest.raises(ConfigError, match=r"dunning.yaml: .*min_days_between"):
        load_dunning_policy(bad)

"""Dunning: which payment reminders are due today, under a policy of escalating levels.

Levels climb one at a time, in a tone (friendly, firm, final) and with people copied (the account
owner, a finance lead): an invoice's next level is the one after the highest already sent, level 1
first, whatever the days overdue when dunning starts (a final notice "despite our earlier reminders"
must follow earlier reminders). It goes out once the invoice is that level's `days_after_due` past
its due date and at least `min_days_between` days after the previous reminder. Rules, each a reason
a reminder is *not* sent: the invoice is paid or not issued, it is disputed, the customer's reminders
are paused (until a date, or indefinitely), every level was sent, the next level is not reached yet,
or the previous reminder is too recent. One reminder per invoice per run.

The policy is business configuration: `defaults/dunning.yaml`, validated by `policy_from_dict`.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any


class Tone(enum.StrEnum):
    FRIENDLY = "friendly"
    FIRM = "firm"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    days_after_due: int
    tone: Tone
    copy_to: tuple[str, ...] = ()


DEFAULT_MIN_DAYS_BETWEEN = 7  # the gap between two reminders of one invoice when the policy names none


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    levels: tuple[Level, ...]  # numbered 1, 2, 3... in this order, each later after the due date
    min_days_between: int = DEFAULT_MIN_DAYS_BETWEEN  # days, at least 1: never two reminders the same day

    def next_level(self, levels_sent: frozenset[int]) -> Level | None:
        """The level after the highest one sent (level 1 when none was), or None after the last."""
        top = max(levels_sent, default=0)
        return self.levels[top] if 0 <= top < len(self.levels) else None


@dataclass(frozen=True, slots=True)
class InvoiceState:
    """What dunning needs to know about one invoice."""

    number: str
    customer_id: str
    due_date: date | None
    amount_open: Decimal
    currency: str
    issued: bool = True
    disputed: bool = False
    levels_sent: frozenset[int] = frozenset()
    last_reminder_on: date | None = None


@dataclass(frozen=True, slots=True)
class CustomerPause:
    customer_id: str
    until: date | None = None  # None: paused until lifted


@dataclass(frozen=True, slots=True)
class Reminder:
    invoice_number: str
    customer_id: str
    level: int
    tone: Tone
    copy_to: tuple[str, ...]
    days_overdue: int
    amount_open: Decimal
    currency: str


class PolicyError(ValueError):
    """A dunning policy file that cannot be used, with every problem found."""


def policy_from_dict(raw: Mapping[str, Any]) -> DunningPolicy:
    problems: list[str] = []
    levels: list[Level] = []
    raw_levels = raw.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise PolicyError("dunning policy: `levels` must be a non-empty list")
    for n, item in enumerate(raw_levels, start=1):
        where = f"levels[{n}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        try:
            tone = Tone(str(item.get("tone")))
        except ValueError:
            problems.append(f"{where}: tone {item.get('tone')!r} is not one of {[t.value for t in Tone]}")
            continue
        level, days = item.get("level"), item.get("days_after_due")
        if not isinstance(level, int) or not isinstance(days, int) or days < 0:
            problems.append(f"{where}: `level` and `days_after_due` must be whole numbers, days >= 0")
            continue
        copy_to = item.get("copy_to") or []
        if not isinstance(copy_to, list) or not all(isinstance(c, str) for c in copy_to):
            problems.append(f"{where}: `copy_to` must be a list of role names")
            continue
        levels.append(Level(level, days, tone, tuple(copy_to)))
    ordered = sorted(levels, key=lambda lv: lv.level)
    if [lv.level for lv in ordered] != list(range(1, len(ordered) + 1)) and not problems:
        problems.append("levels must be numbered 1, 2, 3... without gaps or repeats")
    if any(a.days_after_due >= b.days_after_due for a, b in itertools.pairwise(ordered)):
        problems.append("each level must come more days after the due date than the one before")
    gap = raw.get("min_days_between", DEFAULT_MIN_DAYS_BETWEEN)
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 1:
        problems.append(
            "`min_days_between` (the gap between two reminders of one invoice) must be a whole number of days, "
            f"at least 1 (got {gap!r})"
        )
    if problems:
        raise PolicyError("dunning policy: " + "; ".join(problems))
    return DunningPolicy(tuple(ordered), int(gap))


def _paused(customer_id: str, pauses: Mapping[str, CustomerPause], today: date) -> bool:
    pause = pauses.get(customer_id)
    return pause is not None and (pause.until is None or today <= pause.until)


def due_reminders(
    invoices_state: Iterable[InvoiceState],
    policy: DunningPolicy,
    today: date,
    pauses: Iterable[CustomerPause] = (),
) -> list[Reminder]:
    """The reminders to send today, one per invoice at most, ordered by customer and invoice."""
    paused = {p.customer_id: p for p in pauses}
    out: list[Reminder] = []
    for inv in invoices_state:
        if not inv.issued or inv.amount_open <= 0 or inv.due_date is None or inv.disputed:
            continue
        if _paused(inv.customer_id, paused, today):
            continue
        overdue = (today - inv.due_date).days
        level = policy.next_level(inv.levels_sent)  # one level at a time: never skip one, never back down
        if level is None or overdue < level.days_after_due:
            continue
        if inv.last_reminder_on and today - inv.last_reminder_on < timedelta(days=policy.min_days_between):
            continue
        out.append(
            Reminder(
                inv.number,
                inv.customer_id,
                level.level,
                level.tone,
                level.copy_to,
                overdue,
                inv.amount_open,
                inv.currency,
            )
        )
    return sorted(out, key=lambda r: (r.customer_id, r.invoice_number))

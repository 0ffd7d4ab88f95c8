"""What approved delivery bills: the pure posting computation ("Rating rules" of the projects design).

`rate_delivery` takes a project, the state of its time entries and expenses (`EntryState`,
`ExpenseState`: as stored, with what each was last posted at), the posting number and `through`
day, the amount of time posted so far (for the not-to-exceed cap) and the retainer balance, and
returns a `PostingPlan`: the contract schedule items to add (`PlannedItem`, the fields of
`contracts.service.delivery.DeliveryItem`), what every entry is now posted at (`EntryPosting`),
the hours and amounts over the cap, the expenses that could not be posted, the cap alerts, and the
new retainer balance. Nothing here reads or writes storage: posting twice with nothing new plans
nothing, because every entry examined comes back as posted at its current revision.

Rules, in short:
- time: hours rounded per entry to `rounding_increment` (up, or nearest half-up); one item per
  (role line, month worked) per posting, amount = round2(sum of rounded hours x rate) half-up;
- an entry posted at an older revision is adjusted: new rounded hours (0 if deleted, rejected or
  made non-billable) minus the posted hours, grouped per (role, month) into "time-adjust" items
  (negative allowed); a changed role or month reverses the old posting and posts the new one;
- cap: time posted + new may not pass `cap`; the group that crosses it is cut to what remains
  (to the hundredth of an hour), the rest is over-cap (not billed);
- expenses: one item per (month, tax category) on line "expenses", amount = round2(sum of the
  amounts converted to the contract currency x (1 + markup %)); no exchange rate -> skipped;
- retainer: time is drawn from the prepaid balance first (an item on line "retainer" at price 0
  shows it), the rest bills as T&M; below `topup_below_hours` a top-up item is posted. A retainer
  never funded (balance None) is funded first with its `hours`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal

from handoff.invoicing.domain.invoices import AnnexRow
from handoff.kernel.money import ZERO, round2
from handoff.projects.domain.model import HUNDRED, Project, ProjectRole

AnnexLine = AnnexRow  # the annex row of the invoice: kind, day, person, role, description, quantity, amount, reference

APPROVED, SUBMITTED, REJECTED = "approved", "submitted", "rejected"
EXPENSES_LINE = "expenses"
RETAINER_LINE = "retainer"
HOUR_STEP = Decimal("0.01")  # a capped group is cut to the hundredth of an hour
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True)
class EntryState:
    """A time entry as stored, and what it was last posted at (posted_revision 0: never posted)."""

    id: int
    external_id: str
    source: str
    role: str
    person: str
    work_date: date
    hours: Decimal  # as reported, not rounded
    billable: bool = True
    status: str = APPROVED  # approved | submitted | rejected
    deleted: bool = False
    revision: int = 1
    posted_revision: int = 0
    posted_hours: Decimal = ZERO  # billed as T&M (rounded hours, after the cap)
    posted_amount: Decimal = ZERO  # posted_hours x rate, exact (not rounded to cents)
    notes: str = ""
    posted_drawn_hours: Decimal = ZERO  # drawn from the retainer
    posted_role: str = ""  # the role it was posted under ("" = `role`)
    posted_month: date | None = None  # first day of the month it was posted in (None = work_date's)


@dataclass(frozen=True, slots=True)
class ExpenseState:
    """An expense as stored, with its amount in the contract currency (None: no exchange rate)."""

    id: int
    external_id: str
    source: str
    person: str
    spent_on: date
    amount: Decimal  # as spent, in `currency`
    currency: str
    converted_amount: Decimal | None  # in the contract currency; None = no rate for `currency` that day
    category: str
    tax_category: str = "standard"
    receipt_ref: str = ""
    description: str = ""
    billable: bool = True
    status: str = APPROVED
    deleted: bool = False
    revision: int = 1
    posted_revision: int = 0
    posted_amount: Decimal = ZERO  # billed, markup included, exact
    posted_month: date | None = None  # None = spent_on's month
    posted_tax_category: str = ""  # "" = `tax_category`


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """A contract schedule item to add (the fields of `contracts.service.delivery.DeliveryItem`)."""

    line_key: str
    period_key: str
    period_start: date
    period_end: date
    bill_date: date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    description: str
    product: str
    tax_category: str
    supply: str
    trigger: str
    note: str
    detail: tuple[AnnexRow, ...] = ()


@dataclass(frozen=True, slots=True)
class PostingPart:
    """One entry's share of one item: a `delivery_postings` row (kind time | retainer | expense)."""

    kind: str
    line_key: str
    period_key: str
    hours: Decimal  # hours added to the item (negative in an adjustment); expenses: 0
    amount: Decimal  # exact hours x rate, or the expense's amount with markup (not rounded)


@dataclass(frozen=True, slots=True)
class EntryPosting:
    """What one entry is posted at after this posting (copy to its posted_* columns), and the
    items this posting put it in (`parts`; empty when only e.g. its notes changed)."""

    entry_id: int
    kind: str  # "time" | "expense"
    revision: int
    line_key: str  # the role's line; "expenses"
    period_key: str  # the main item it went into this time ("" if none)
    hours: Decimal  # billed as T&M, in total now (expenses: 0)
    amount: Decimal  # billed in total now, exact
    drawn_hours: Decimal = ZERO  # drawn from the retainer, in total now
    over_cap_hours: Decimal = ZERO  # hours of this entry not billed because of the cap (this posting)
    role: str = ""  # time: the role now posted under
    month: date | None = None  # first day of the month now posted in
    tax_category: str = ""  # expenses
    parts: tuple[PostingPart, ...] = ()


@dataclass(frozen=True, slots=True)
class OverCap:
    """Time not billed because it would pass the not-to-exceed cap (leakage)."""

    role: str
    month: date
    hours: Decimal
    amount: Decimal  # hours x rate, rounded to cents


@dataclass(frozen=True, slots=True)
class Skipped:
    """An expense not posted, and why (e.g. no exchange rate)."""

    expense_id: int
    external_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Alert:
    """A threshold crossed: raise once per (project, kind, key)."""

    kind: str  # "cap" | "cap_reached"
    key: str
    message: str


@dataclass(slots=True)
class PostingPlan:
    """What a posting adds and records (see the module docstring)."""

    items: list[PlannedItem] = field(default_factory=list)
    postings: list[EntryPosting] = field(default_factory=list)
    over_cap: list[OverCap] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    retainer_balance: Decimal | None = None
    time_amount: Decimal = ZERO  # the time items' amounts (adjustments included): add to posted time for the cap

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.items), ZERO)


# ---- helpers ----


def month_of(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def month_name(month: date) -> str:
    """ "January 2027" (English, whatever the locale)."""
    return f"{_MONTHS[month.month - 1]} {month.year}"


def round_hours(hours: Decimal, increment: Decimal, mode: str) -> Decimal:
    """`hours` rounded to `increment` (0: unchanged): "up" to the next step, "nearest" half-up."""
    if increment <= ZERO:
        return hours
    steps = (hours / increment).quantize(Decimal(1), rounding=ROUND_CEILING if mode == "up" else ROUND_HALF_UP)
    return steps * increment


def fmt_hours(hours: Decimal) -> str:
    """Hours with at least two decimals: "42.50", "-2.00", "0.125"."""
    return f"{hours:.2f}" if hours == hours.quantize(HOUR_STEP) else str(hours.normalize())


def fmt_amount(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def role_label(role: str) -> str:
    """ "senior_architect" -> "Senior architect": the role as a finance person reads it."""
    text = role.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def _sources(sources: set[str]) -> str:
    return ", ".join(sorted(sources))


def _plural(count: int, word: str) -> str:
    """ "1 time entry", "37 time entries", "3 expenses"."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


# ---- time ----


@dataclass(slots=True)
class _Share:
    """One entry's requested hours in a time group, and what the cap lets through."""

    entry: EntryState
    hours: Decimal
    reason: str = ""  # adjustments: "edited" | "deleted" | "rejected" | "made non-billable" | "moved"
    billed: Decimal = ZERO


@dataclass(slots=True)
class _Work:
    """The running state of one entry during the posting."""

    entry: EntryState
    billed: Decimal  # T&M hours posted, in total, before the cap of this posting
    drawn: Decimal
    role: str
    month: date
    parts: list[PostingPart] = field(default_factory=list)
    over_cap: Decimal = ZERO
    main_period: str = ""


def _billable_hours(project: Project, entry: EntryState) -> Decimal:
    if entry.deleted or not entry.billable or entry.status == REJECTED:
        return ZERO
    settings = project.settings
    return round_hours(entry.hours, settings.rounding_increment, settings.rounding)


def _why(entry: EntryState, moved: bool) -> str:
    if entry.deleted:
        return "deleted"
    if entry.status == REJECTED:
        return "rejected"
    if not entry.billable:
        return "made non-billable"
    return "moved" if moved else "edited"


def _pending(project: Project, status: str) -> bool:
    """Awaiting a manager's approval: not billable yet (left alone until approved or rejected)."""
    return status == SUBMITTED and project.settings.approval_required


class _Rater:
    """One posting of one project: entries -> groups (retainer first, then T&M per role and month),
    the cap over the groups, then the items and what each entry is now posted at."""

    def __init__(
        self,
        project: Project,
        number: int,
        through: date,
        posted_time_amount: Decimal,
        retainer_balance: Decimal | None,
    ) -> None:
        self.project, self.number, self.through = project, number, through
        self.posted_time_amount = posted_time_amount
        self.retainer = project.settings.retainer
        self.balance = retainer_balance
        self.plan = PostingPlan()
        # (adjust?, role, month) -> shares
        self.groups: dict[tuple[bool, str, date], list[_Share]] = defaultdict(list)
        self.drawn: dict[date, list[tuple[_Work, Decimal, str]]] = defaultdict(list)
        self.work: list[_Work] = []
        self.role_order = {role.role: index for index, role in enumerate(project.roles)}

    # -- retainer --

    def fund(self) -> None:
        """A retainer never funded is invoiced first: its prepaid hours at the rate of its role."""
        if self.retainer is not None and self.balance is None:
            self.balance = ZERO
            self._topup(self.retainer.hours, initial=True)

    def draw(self, hours: Decimal) -> Decimal:
        """Hours taken from the retainer balance (at most `hours`)."""
        if self.retainer is None or self.balance is None or hours <= ZERO:
            return ZERO
        taken = min(hours, max(self.balance, ZERO))
        self.balance -= taken
        return taken

    def give_back(self, work: _Work, hours: Decimal, month: date) -> None:
        """Hours drawn earlier that an edit no longer needs go back to the balance."""
        if self.balance is not None:
            self.balance += hours
        work.drawn -= hours
        self.drawn[month].append((work, -hours, work.role))

    def _topup(self, hours: Decimal, *, initial: bool = False) -> None:
        assert self.retainer is not None and self.balance is not None
        role = self.project.role(self.retainer.rate_role)
        before = self.balance
        self.balance += hours
        text = (
            f"Retainer: {fmt_hours(hours)} h prepaid at {fmt_amount(role.rate)}"
            if initial
            else f"Retainer top-up: {fmt_hours(hours)} h at {fmt_amount(role.rate)} (balance {fmt_hours(before)} h)"
        )
        self.plan.items.append(
            PlannedItem(
                line_key=RETAINER_LINE,
                period_key=f"retainer-{'prepaid' if initial else 'topup'}:{self.number}",
                period_start=self.through,
                period_end=self.through + timedelta(days=1),  # the bill day, like a one-time item
                bill_date=self.through,
                quantity=hours,
                unit_price=role.rate,
                amount=round2(hours * role.rate),
                description=text,
                product=RETAINER_LINE,
                tax_category="standard",
                supply="services",
                trigger="retainer",
                note=f"project {self.project.project_id}: retainer of {fmt_hours(self.retainer.hours)} h",
            )
        )

    def topup_if_low(self) -> None:
        """One top-up item of as many `topup_hours` as bring the balance back to the threshold."""
        retainer, balance = self.retainer, self.balance
        if retainer is None or balance is None or balance >= retainer.topup_below_hours:
            return
        times = ((retainer.topup_below_hours - balance) / retainer.topup_hours).quantize(
            Decimal(1), rounding=ROUND_CEILING
        )
        self._topup(max(times, Decimal(1)) * retainer.topup_hours)

    # -- entries --

    def entry(self, entry: EntryState) -> None:
        project = self.project
        if entry.posted_revision == entry.revision and entry.posted_revision > 0:
            return
        if entry.work_date >= self.through or _pending(project, entry.status):
            return  # later; an edit awaiting approval leaves the posted version standing
        target = _billable_hours(project, entry)
        if target > ZERO:
            project.role(entry.role)  # the role must exist (ProjectError naming it)
        month = month_of(entry.work_date)
        if entry.posted_revision == 0:
            if target <= ZERO:
                return  # never billed, nothing to bill: no record
            work = _Work(entry, ZERO, ZERO, entry.role, month)
            self.work.append(work)
            self._post_new(work, target, adjust=False)
            return
        old_role = entry.posted_role or entry.role
        old_month = entry.posted_month or month
        moved = old_role != entry.role or old_month != month
        work = _Work(entry, entry.posted_hours, entry.posted_drawn_hours, old_role, old_month)
        self.work.append(work)
        reason = _why(entry, moved)
        if moved:
            if work.billed:
                self.groups[(True, old_role, old_month)].append(_Share(entry, -work.billed, reason))
            if work.drawn:
                self.give_back(work, work.drawn, old_month)
            work.role, work.month = entry.role, month
            if target > ZERO:
                self._post_new(work, target, adjust=True, reason=reason)
            return
        delta = target - (work.billed + work.drawn)
        if delta > ZERO:
            self._post_new(work, delta, adjust=True, reason=reason)
        elif delta < ZERO:
            less_billed = min(work.billed, -delta)
            less_drawn = -delta - less_billed
            if less_billed:
                self.groups[(True, old_role, old_month)].append(_Share(entry, -less_billed, reason))
            if less_drawn:
                self.give_back(work, less_drawn, old_month)

    def _post_new(self, work: _Work, hours: Decimal, *, adjust: bool, reason: str = "") -> None:
        drawn = self.draw(hours)
        if drawn:
            work.drawn += drawn
            self.drawn[work.month].append((work, drawn, work.role))
        rest = hours - drawn
        if rest > ZERO:
            self.groups[(adjust, work.role, work.month)].append(_Share(work.entry, rest, reason))

    # -- groups, cap and items --

    def time_items(self) -> None:
        cap = self.project.settings.cap
        room = None if cap is None else cap - self.posted_time_amount

        def order(key: tuple[bool, str, date]) -> tuple[bool, date, bool, int]:
            adjust, role, month = key
            net = sum((s.hours for s in self.groups[key]), ZERO)
            return (net >= ZERO, month, not adjust, self.role_order.get(role, len(self.role_order)))

        works = {id(w.entry): w for w in self.work}
        for key in sorted(self.groups, key=order):
            adjust, role_name, month = key
            role = self.project.role(role_name)
            shares = sorted(self.groups[key], key=lambda s: (s.entry.work_date, s.entry.id))
            requested = sum((s.hours for s in shares), ZERO)
            allowed = requested
            if room is not None and requested > ZERO and requested * role.rate > room:
                allowed = max((room / role.rate).quantize(HOUR_STEP, rounding=ROUND_DOWN), ZERO)
            self._allocate(shares, allowed)
            billed = sum((s.billed for s in shares), ZERO)
            amount = round2(billed * role.rate)
            if room is not None:
                room -= amount
            cut = requested - billed
            if cut > ZERO:
                self.plan.over_cap.append(OverCap(role_name, month, cut, round2(cut * role.rate)))
            kind = "time-adjust" if adjust else "time"
            period_key = f"{kind}:{month:%Y-%m}:{self.number}"
            for share in shares:
                work = works[id(share.entry)]
                work.over_cap += share.hours - share.billed
                work.billed += share.billed
                if share.billed:
                    work.parts.append(
                        PostingPart("time", role.line_key, period_key, share.billed, share.billed * role.rate)
                    )
                    if work.role == role_name and work.month == month:
                        work.main_period = period_key
            if not any(s.billed for s in shares):
                continue  # wholly over the cap: nothing to bill
            self.plan.items.append(self._time_item(role, month, shares, billed, amount, adjust, cut, period_key))
            self.plan.time_amount += amount

    @staticmethod
    def _allocate(shares: list[_Share], allowed: Decimal) -> None:
        """Bill negatives in full and positives in order until `allowed` (net) is reached."""
        negative = sum((s.hours for s in shares if s.hours < ZERO), ZERO)
        left = allowed - negative
        for share in shares:
            if share.hours < ZERO:
                share.billed = share.hours
            else:
                share.billed = min(share.hours, max(left, ZERO))
                left -= share.billed

    def _time_item(
        self,
        role: ProjectRole,
        month: date,
        shares: list[_Share],
        billed: Decimal,
        amount: Decimal,
        adjust: bool,
        cut: Decimal,
        period_key: str,
    ) -> PlannedItem:
        project = self.project
        counted = [s for s in shares if s.billed]
        sources = {s.entry.source for s in counted}
        label = f"{role_label(role.role)}, {month_name(month)}"
        if adjust:
            reasons = sorted({s.reason for s in counted if s.reason})
            why = " and ".join(reasons) or "edited"
            description = f"Adjustment: {label}: {fmt_hours(billed)} h (entries {why} after invoicing)"
            note = (
                f"project {project.project_id}: {_plural(len(counted), 'time entry')} ({_sources(sources)}) "
                f"{why} after invoicing, {month_name(month)}"
            )
        else:
            description = f"{label}: {fmt_hours(billed)} h at {fmt_amount(role.rate)}"
            note = (
                f"project {project.project_id}: {_plural(len(counted), 'time entry')} ({_sources(sources)}), "
                f"{month_name(month)}"
            )
        if cut > ZERO and project.settings.cap is not None:
            description += (
                f", capped at not-to-exceed {fmt_amount(project.settings.cap)}: {fmt_hours(cut)} h not billed"
            )
        detail = tuple(
            AnnexRow(
                kind="time",
                day=s.entry.work_date,
                person=s.entry.person,
                role=role.role,
                description=s.entry.notes,
                quantity=s.billed,
                amount=round2(s.billed * role.rate),
                reference=s.entry.external_id,
            )
            for s in counted
        )
        return PlannedItem(
            line_key=role.line_key,
            period_key=period_key,
            period_start=month,
            period_end=self._period_end(month),
            bill_date=self.through,
            quantity=billed,
            unit_price=role.rate,
            amount=amount,
            description=description,
            product=role.role,
            tax_category="standard",
            supply="services",
            trigger="time",
            note=note.replace(" ()", ""),
            detail=detail,
        )

    def _period_end(self, month: date) -> date:
        end = next_month(month)
        return self.through if self.through > month and self.through < end else end

    def drawn_items(self) -> None:
        for month in sorted(self.drawn):
            rows = self.drawn[month]
            hours = sum((h for _, h, _ in rows), ZERO)
            period_key = f"retainer:{month:%Y-%m}:{self.number}"
            for work, drawn, _ in rows:
                work.parts.append(PostingPart("retainer", RETAINER_LINE, period_key, drawn, ZERO))
                work.main_period = work.main_period or period_key
            sources = {w.entry.source for w, _, _ in rows}
            self.plan.items.append(
                PlannedItem(
                    line_key=RETAINER_LINE,
                    period_key=period_key,
                    period_start=month,
                    period_end=self._period_end(month),
                    bill_date=self.through,
                    quantity=hours,
                    unit_price=ZERO,
                    amount=ZERO,
                    description=(
                        f"Retainer, {month_name(month)}: {fmt_hours(hours)} h "
                        f"{'drawn from' if hours >= ZERO else 'returned to'} retainer "
                        f"({fmt_hours(self.balance or ZERO)} h left)"
                    ),
                    product=RETAINER_LINE,
                    tax_category="standard",
                    supply="services",
                    trigger="retainer",
                    note=(
                        f"project {self.project.project_id}: {_plural(len(rows), 'time entry')} "
                        f"({_sources(sources)}) drawn from retainer, {month_name(month)}"
                    ),
                    detail=tuple(
                        AnnexRow(
                            "time", w.entry.work_date, w.entry.person, r, w.entry.notes, h, ZERO, w.entry.external_id
                        )
                        for w, h, r in rows
                    ),
                )
            )

    def entry_postings(self) -> None:
        for work in self.work:
            role = self.project.role(work.role) if work.billed else None
            line_key = role.line_key if role is not None else self._line_of(work.role)
            self.plan.postings.append(
                EntryPosting(
                    entry_id=work.entry.id,
                    kind="time",
                    revision=work.entry.revision,
                    line_key=line_key,
                    period_key=work.main_period,
                    hours=work.billed,
                    amount=work.billed * role.rate if role is not None else ZERO,
                    drawn_hours=work.drawn,
                    over_cap_hours=work.over_cap,
                    role=work.role,
                    month=work.month,
                    parts=tuple(work.parts),
                )
            )

    def _line_of(self, role: str) -> str:
        return next((r.line_key for r in self.project.roles if r.role == role), "")

    # -- cap alerts --

    def cap_alerts(self, entries: Sequence[EntryState]) -> None:
        settings, project = self.project.settings, self.project
        if settings.cap is None:
            return
        waiting = ZERO  # approved work not posted yet (dated on or after `through`)
        for entry in entries:
            if entry.posted_revision == 0 and entry.work_date >= self.through and not _pending(project, entry.status):
                hours = _billable_hours(project, entry)
                rate = next((r.rate for r in project.roles if r.role == entry.role), ZERO)
                waiting += hours * rate
        over = sum((o.amount for o in self.plan.over_cap), ZERO)
        total = self.posted_time_amount + self.plan.time_amount + over + round2(waiting)
        share = total * HUNDRED / settings.cap
        said = (
            f"project {project.project_id}: time posted and approved {fmt_amount(total)} {project.currency} is "
            f"{share.quantize(Decimal(1), rounding=ROUND_DOWN)} % of the not-to-exceed {fmt_amount(settings.cap)} "
            f"{project.currency}"
        )
        if share >= settings.cap_alert_percent:
            self.plan.alerts.append(Alert("cap", str(settings.cap_alert_percent), said))
        if share >= HUNDRED:
            self.plan.alerts.append(
                Alert("cap_reached", "100", said + (f"; {fmt_amount(over)} not billed" if over else ""))
            )


# ---- expenses ----


def _expense_items(
    project: Project, expenses: Sequence[ExpenseState], number: int, through: date, plan: PostingPlan
) -> None:
    markup = project.settings.expense_markup_percent
    factor = 1 + markup / HUNDRED
    # (adjust?, month, tax_category) -> [(expense, amount, reason)]
    groups: dict[tuple[bool, date, str], list[tuple[ExpenseState, Decimal, str]]] = defaultdict(list)
    states: list[tuple[ExpenseState, Decimal, date, str, list[PostingPart]]] = []
    for expense in sorted(expenses, key=lambda e: (e.spent_on, e.id)):
        if expense.posted_revision == expense.revision and expense.posted_revision > 0:
            continue
        if expense.spent_on >= through or _pending(project, expense.status):
            continue
        live = not expense.deleted and expense.billable and expense.status != REJECTED
        if live and expense.converted_amount is None:
            plan.skipped.append(
                Skipped(
                    expense.id,
                    expense.external_id,
                    f"expense {expense.external_id}: no exchange rate from {expense.currency} to {project.currency} "
                    f"on {expense.spent_on.isoformat()}",
                )
            )
            continue
        target = (expense.converted_amount or ZERO) * factor if live else ZERO
        month = month_of(expense.spent_on)
        if expense.posted_revision == 0:
            if target <= ZERO:
                continue
            groups[(False, month, expense.tax_category)].append((expense, target, ""))
            states.append((expense, target, month, expense.tax_category, []))
            continue
        old_month = expense.posted_month or month
        old_tax = expense.posted_tax_category or expense.tax_category
        moved = old_month != month or old_tax != expense.tax_category
        reason = _expense_why(expense, moved)
        if moved:
            if expense.posted_amount:
                groups[(True, old_month, old_tax)].append((expense, -expense.posted_amount, reason))
            if target:
                groups[(True, month, expense.tax_category)].append((expense, target, reason))
        elif target != expense.posted_amount:
            groups[(True, month, expense.tax_category)].append((expense, target - expense.posted_amount, reason))
        states.append((expense, target, month, expense.tax_category, []))
    parts: dict[int, list[PostingPart]] = {e.id: p for e, _, _, _, p in states}
    main: dict[int, str] = {}
    for adjust, month, tax in sorted(groups, key=lambda k: (k[1], not k[0], k[2] != "standard", k[2])):
        rows = groups[(adjust, month, tax)]
        kind = "expenses-adjust" if adjust else "expenses"
        period_key = f"{kind}:{month:%Y-%m}:{number}" + ("" if tax == "standard" else f":{tax}")
        amount = round2(sum((a for _, a, _ in rows), ZERO))
        for expense, share, _ in rows:
            parts[expense.id].append(PostingPart("expense", EXPENSES_LINE, period_key, ZERO, share))
            main[expense.id] = period_key
        categories = sorted({e.category for e, _, _ in rows if e.category})
        sources = _sources({e.source for e, _, _ in rows})
        what = _plural(len(rows), "expense")
        with_markup = f", incl. {markup.normalize():f} % markup" if markup else ""
        if adjust:
            why = " and ".join(sorted({r for _, _, r in rows}))
            description = (
                f"Adjustment: Expenses, {month_name(month)}: {fmt_amount(amount)} ({what} {why} after invoicing)"
            )
        else:
            description = f"Expenses, {month_name(month)}: {what}" + (
                f" ({', '.join(categories)})" if categories else ""
            )
        description += with_markup
        plan.items.append(
            PlannedItem(
                line_key=EXPENSES_LINE,
                period_key=period_key,
                period_start=month,
                period_end=through if month < through < next_month(month) else next_month(month),
                bill_date=through,
                quantity=Decimal(1),
                unit_price=amount,
                amount=amount,
                description=description,
                product=EXPENSES_LINE,
                tax_category=tax,
                supply="services",
                trigger="expense",
                note=f"project {project.project_id}: {what} ({sources}), {month_name(month)}",
                detail=tuple(
                    AnnexRow(
                        kind="expense",
                        day=e.spent_on,
                        person=e.person,
                        role=e.category,
                        description=_expense_text(e),
                        quantity=Decimal(1),
                        amount=round2(a),
                        reference=e.receipt_ref or e.external_id,
                    )
                    for e, a, _ in rows
                ),
            )
        )
    for expense, target, month, tax, own in states:
        plan.postings.append(
            EntryPosting(
                entry_id=expense.id,
                kind="expense",
                revision=expense.revision,
                line_key=EXPENSES_LINE,
                period_key=main.get(expense.id, ""),
                hours=ZERO,
                amount=target,
                month=month,
                tax_category=tax,
                parts=tuple(own),
            )
        )


def _expense_why(expense: ExpenseState, moved: bool) -> str:
    if expense.deleted:
        return "deleted"
    if expense.status == REJECTED:
        return "rejected"
    if not expense.billable:
        return "made non-billable"
    return "moved" if moved else "edited"


def _expense_text(expense: ExpenseState) -> str:
    text = expense.description or expense.category
    if expense.currency and expense.converted_amount is not None and expense.converted_amount != expense.amount:
        text += f" ({fmt_amount(expense.amount)} {expense.currency})"
    return text


# ---- the posting ----


def rate_delivery(
    project: Project,
    entries: Sequence[EntryState],
    expenses: Sequence[ExpenseState] = (),
    *,
    number: int,
    through: date,
    posted_time_amount: Decimal = ZERO,
    retainer_balance: Decimal | None = None,
) -> PostingPlan:
    """Posting number `number` of `project`: what its work dated before `through` bills now.

    `entries` / `expenses`: the project's entries not posted at their current revision (more may be
    passed: those posted at their revision are ignored; approved ones dated on or after `through`
    count towards the cap alert). `posted_time_amount`: the time items posted so far (sum of their
    amounts), for the cap. `retainer_balance`: hours left, None if the retainer was never funded.
    ProjectError if an entry names a role the project lacks."""
    rater = _Rater(project, number, through, posted_time_amount, retainer_balance)
    rater.fund()
    for entry in sorted(entries, key=lambda e: (e.work_date, e.id)):
        rater.entry(entry)
    rater.time_items()
    rater.drawn_items()
    rater.topup_if_low()
    rater.entry_postings()
    rater.cap_alerts(entries)
    _expense_items(project, expenses, number, through, rater.plan)
    rater.plan.retainer_balance = rater.balance
    return rater.plan

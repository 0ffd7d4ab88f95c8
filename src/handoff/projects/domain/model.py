"""The project: what a won services contract is delivered as, and its plan.

A `Project` is opened for a contract with time-and-materials or milestone lines
(`project_from_contract`): each T&M line is a `ProjectRole` (named by the line's product, else its
key; billed at the line's unit price, else the rate card's rate for the role), each milestone of a
milestone line a `Milestone`. The plan (`Phase`s with budgets in hours per role, the manager, and
the billing and alert `ProjectSettings`) starts as one phase "delivery" and is changed by a plan
document (`apply_plan`), the JSON that `plan_to_json` writes: Decimals as strings, dates ISO 8601,
so a plan round-trips exactly. `project_to_json` / `project_from_json` do the same for the whole
project (roles, rates and all), for storage.

Errors are `ProjectError`, whose message names the record and the field:
"contract C-1 line L2: rate for role 'architect' is missing",
"project PRJ-C-1 plan: phases[2].end 2027-01-31 is before its start 2027-02-01".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from handoff.contracts.domain.model import BillingKind, ContractVersion, add_months
from handoff.kernel.money import ZERO

HUNDRED = Decimal("100")
ROUNDING_MODES = ("up", "nearest")
DEFAULT_PHASE = "delivery"
PROJECT_PREFIX = "PRJ-"


class ProjectError(ValueError):
    """A project, plan or role lookup that cannot be; the message names the record and the field.
    `record` and `field` say the same for programs."""

    def __init__(self, message: str, *, record: str = "", field: str = "") -> None:
        super().__init__(message)
        self.record, self.field = record, field

    @classmethod
    def at(cls, record: str, field: str, problem: str) -> ProjectError:
        """The error on `field` of `record`: `ProjectError.at("project PRJ-C-1", "role", "'x' is unknown")`
        reads "project PRJ-C-1: role 'x' is unknown"."""
        return cls(f"{record}: {field} {problem}", record=record, field=field)


def project_id_for(contract_id: str) -> str:
    """The project of a contract: "PRJ-" + the contract id (one project per contract)."""
    return PROJECT_PREFIX + contract_id


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of the plan, `start` to `end` inclusive, with its budget in hours per role and the
    milestone (key, or "") that closes it."""

    key: str
    name: str
    start: date
    end: date
    milestone: str = ""
    budget: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def budget_hours(self) -> Decimal:
        """All roles' budgeted hours of the phase."""
        return sum(self.budget.values(), ZERO)


@dataclass(frozen=True, slots=True)
class ProjectRole:
    """A role of the team, billed on the contract's T&M line `line_key` at `rate` per hour."""

    role: str
    line_key: str
    rate: Decimal
    budget_hours: Decimal
    description: str = ""


@dataclass(frozen=True, slots=True)
class Retainer:
    """Prepaid hours drawn down before time bills; below `topup_below_hours` left, a top-up of
    `topup_hours` at the rate of `rate_role` is invoiced."""

    hours: Decimal
    rate_role: str
    topup_below_hours: Decimal
    topup_hours: Decimal


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """How the project's delivery bills and when it alerts (see the spec's plan settings)."""

    approval_required: bool = False  # time and expenses bill only once a manager approved them
    rounding_increment: Decimal = ZERO  # hours per entry rounded to this (0.25); 0 = not rounded
    rounding: str = "up"  # "up" | "nearest" (half up)
    cap: Decimal | None = None  # not-to-exceed amount on time, in the contract currency
    cap_alert_percent: Decimal = Decimal(80)  # alert once posted + approved reach this share of the cap
    expense_markup_percent: Decimal = ZERO  # 0 = pass-through
    retainer: Retainer | None = None
    burn_alert_percent: Decimal = HUNDRED  # alert when actual hours pass this share of plan-to-date
    wip_alert_amount: Decimal | None = None  # alert when unbilled work passes this amount ...
    wip_alert_days: int | None = None  # ... or its oldest entry this many days


@dataclass(frozen=True, slots=True)
class Milestone:
    """A milestone of the contract's milestone line `line_key`, planned for `planned_on`."""

    key: str
    name: str
    line_key: str
    planned_on: date | None = None


@dataclass(frozen=True, slots=True)
class Project:
    """A contract's delivery: team roles with rates, the plan's phases and milestones, settings."""

    project_id: str
    contract_id: str
    customer_id: str
    name: str
    currency: str
    manager_email: str
    owner_email: str
    roles: tuple[ProjectRole, ...]
    phases: tuple[Phase, ...]
    milestones: tuple[Milestone, ...]
    settings: ProjectSettings
    start: date
    end: date  # inclusive
    closed_through: date | None = None  # finance closed the periods through this day
    plan_version: int = 1

    @property
    def record(self) -> str:
        return f"project {self.project_id}"

    def role(self, name: str) -> ProjectRole:
        """The role `name`; ProjectError naming the field "role" if the project has none."""
        for role in self.roles:
            if role.role == name:
                return role
        known = ", ".join(r.role for r in self.roles) or "none"
        raise ProjectError.at(self.record, "role", f"{name!r} is unknown (roles: {known})")

    def role_for_line(self, line_key: str) -> ProjectRole:
        """The role billed on the T&M line `line_key`."""
        for role in self.roles:
            if role.line_key == line_key:
                return role
        raise ProjectError.at(self.record, "line_key", f"{line_key!r} is no role's line")

    def phase(self, key: str) -> Phase:
        """The phase `key`; ProjectError naming the field "phase" if the plan has none."""
        for phase in self.phases:
            if phase.key == key:
                return phase
        known = ", ".join(p.key for p in self.phases) or "none"
        raise ProjectError.at(self.record, "phase", f"{key!r} is unknown (phases: {known})")

    def phase_for(self, day: date) -> Phase:
        """The phase whose dates hold `day`; ProjectError naming "work_date" if none does."""
        for phase in self.phases:
            if phase.start <= day <= phase.end:
                return phase
        raise ProjectError.at(self.record, "work_date", f"{day.isoformat()} is in no phase of the plan")

    def milestone(self, key: str) -> Milestone:
        """The milestone `key`; ProjectError naming the field "milestone" if the project has none."""
        for milestone in self.milestones:
            if milestone.key == key:
                return milestone
        known = ", ".join(m.key for m in self.milestones) or "none"
        raise ProjectError.at(self.record, "milestone", f"{key!r} is unknown (milestones: {known})")

    def is_closed(self, day: date) -> bool:
        """Whether `day` lies in a period finance closed."""
        return self.closed_through is not None and day <= self.closed_through


# ---- opening a project from its contract ----


def project_from_contract(
    version: ContractVersion, rates: Mapping[str, Decimal], *, name: str = "", manager_email: str = ""
) -> Project:
    """The project a contract opens: roles from its T&M lines (rate = the line's unit price, else
    `rates[role]` from the rate card), milestones from its milestone lines, and the default plan:
    one phase "delivery" from billing_start through the contract's last date (or 3 months),
    budgeted with the T&M lines' quantities. ProjectError naming contract, line and field."""
    cid = version.contract_id
    roles: list[ProjectRole] = []
    milestones: list[Milestone] = []
    for line in version.lines:
        where = f"contract {cid} line {line.key}"
        if line.rule.kind is BillingKind.TIME_AND_MATERIALS:
            role_name = line.product.strip() or line.key
            clash = next((r for r in roles if r.role == role_name), None)
            if clash is not None:
                raise ProjectError.at(where, "product", f"names role {role_name!r} of line {clash.line_key} again")
            rate = line.unit_price if line.unit_price > ZERO else rates.get(role_name)
            if rate is None or rate <= ZERO:
                raise ProjectError.at(where, f"rate for role {role_name!r}", "is missing")
            roles.append(ProjectRole(role_name, line.key, rate, line.quantity, line.description))
        elif line.rule.kind is BillingKind.MILESTONE:
            milestones.extend(Milestone(m.key, m.name or m.key, line.key) for m in line.rule.milestones)
    if not roles and not milestones:
        raise ProjectError.at(f"contract {cid}", "lines", "hold no time-and-materials or milestone line")
    start = version.terms.billing_start
    end = _contract_last_day(version, start)
    phase = Phase(DEFAULT_PHASE, "Delivery", start, end, "", {r.role: r.budget_hours for r in roles})
    return Project(
        project_id=project_id_for(cid),
        contract_id=cid,
        customer_id=version.terms.customer_id,
        name=name or f"Project {cid}",
        currency=version.terms.currency,
        manager_email=manager_email or version.terms.owner_email,
        owner_email=version.terms.owner_email,
        roles=tuple(roles),
        phases=(phase,),
        milestones=tuple(milestones),
        settings=ProjectSettings(),
        start=start,
        end=end,
    )


def _contract_last_day(version: ContractVersion, start: date) -> date:
    """The contract's last dated day (one-time bill days, recurring ends), else start + 3 months - 1."""
    days: list[date] = []
    for line in version.lines:
        rule = line.rule
        if rule.kind is BillingKind.ONE_TIME and rule.bill_on is not None:
            days.append(rule.bill_on)
        elif rule.kind is BillingKind.RECURRING:
            end = rule.coterm_to or rule.end
            if end is not None:
                days.append(end - timedelta(days=1))  # end is exclusive
    last = max(days, default=None)
    if last is None or last <= start:
        return add_months(start, 3) - timedelta(days=1)
    return last


# ---- plan documents ----


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _retainer_json(retainer: Retainer | None) -> dict[str, Any] | None:
    if retainer is None:
        return None
    return {
        "hours": str(retainer.hours),
        "rate_role": retainer.rate_role,
        "topup_below_hours": str(retainer.topup_below_hours),
        "topup_hours": str(retainer.topup_hours),
    }


def settings_to_json(settings: ProjectSettings) -> dict[str, Any]:
    """The settings as JSON-ready data (Decimals as strings)."""
    return {
        "approval_required": settings.approval_required,
        "rounding_increment": str(settings.rounding_increment),
        "rounding": settings.rounding,
        "cap": _d(settings.cap),
        "cap_alert_percent": str(settings.cap_alert_percent),
        "expense_markup_percent": str(settings.expense_markup_percent),
        "retainer": _retainer_json(settings.retainer),
        "burn_alert_percent": str(settings.burn_alert_percent),
        "wip_alert_amount": _d(settings.wip_alert_amount),
        "wip_alert_days": settings.wip_alert_days,
    }


def plan_to_json(project: Project) -> dict[str, Any]:
    """The project's plan as a plan document (`apply_plan` reads it back exactly)."""
    return {
        "manager_email": project.manager_email,
        "phases": [
            {
                "key": p.key,
                "name": p.name,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "milestone": p.milestone,
                "budget": {role: str(hours) for role, hours in p.budget.items()},
            }
            for p in project.phases
        ],
        "milestones": [
            {"key": m.key, "planned_on": None if m.planned_on is None else m.planned_on.isoformat()}
            for m in project.milestones
        ],
        "settings": settings_to_json(project.settings),
    }


def apply_plan(project: Project, doc: Mapping[str, Any]) -> Project:
    """The project with the plan document `doc` applied, plan_version + 1. A key left out keeps the
    current value (top level and inside `settings`); `cap`, `retainer`, `wip_alert_*` set to null
    clear them. Project start/end become the phases' span. A milestone's planned_on is the doc's,
    else the end of the phase it closes. ProjectError naming the field ("phases[2].end ...")."""
    reader = _PlanReader(f"{project.record} plan")
    doc = reader.obj(doc, "plan")
    unknown = sorted(set(doc) - {"manager_email", "phases", "milestones", "settings", "retainer"})
    if unknown:
        raise reader.fail(unknown[0], "is not a plan field (manager_email, phases, milestones, settings)")
    manager = project.manager_email
    if "manager_email" in doc:
        manager = reader.text(doc.get("manager_email"), "manager_email").strip()
    settings = reader.settings(doc, project)
    phases = project.phases
    if "phases" in doc:
        phases = reader.phases(doc.get("phases"), project)
    planned = reader.milestone_dates(doc, project)
    milestones = tuple(
        replace(m, planned_on=planned.get(m.key, _closing_day(phases, m.key) or m.planned_on))
        for m in project.milestones
    )
    return replace(
        project,
        manager_email=manager,
        phases=phases,
        milestones=milestones,
        settings=settings,
        start=min(p.start for p in phases),
        end=max(p.end for p in phases),
        plan_version=project.plan_version + 1,
    )


def _closing_day(phases: tuple[Phase, ...], milestone: str) -> date | None:
    return next((p.end for p in phases if p.milestone == milestone), None)


class _PlanReader:
    """Reads a plan document, naming the field of what is wrong ("phases[2].end")."""

    def __init__(self, record: str) -> None:
        self.record = record

    def fail(self, field: str, problem: str) -> ProjectError:
        return ProjectError.at(self.record, field, problem)

    def obj(self, value: Any, name: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(name, "is not an object")
        return value

    def seq(self, value: Any, name: str) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise self.fail(name, "is not a list")
        return list(value)

    def text(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise self.fail(name, f"is not text: {value!r}")
        return value

    def flag(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(name, f"is not true or false: {value!r}")
        return value

    def decimal(self, value: Any, name: str, *, minimum: Decimal | None = ZERO, above: bool = False) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.fail(name, f"is not a decimal number written as text: {value!r}")
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise self.fail(name, f"is not a decimal number: {value!r}") from None
        if not result.is_finite():
            raise self.fail(name, f"is not a finite number: {value!r}")
        if minimum is not None and (result <= minimum if above else result < minimum):
            raise self.fail(name, f"must be {'above' if above else 'at least'} {minimum}, not {result}")
        return result

    def percent(self, value: Any, name: str, *, most: Decimal | None = HUNDRED) -> Decimal:
        result = self.decimal(value, name)
        if most is not None and result > most:
            raise self.fail(name, f"must be at most {most}, not {result}")
        return result

    def day(self, value: Any, name: str) -> date:
        if not isinstance(value, str):
            raise self.fail(name, f"is not an ISO date: {value!r}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"is not an ISO date: {value!r}") from None

    def whole(self, value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(name, f"is not a whole number from 0 up: {value!r}")
        return value

    # ---- parts ----

    def phases(self, raw: Any, project: Project) -> tuple[Phase, ...]:
        items = self.seq(raw, "phases")
        if not items:
            raise self.fail("phases", "are missing: a plan needs at least one phase")
        role_names = {r.role for r in project.roles}
        milestone_keys = {m.key for m in project.milestones}
        phases: list[Phase] = []
        for index, item in enumerate(items):
            at = f"phases[{index}]"
            doc = self.obj(item, at)
            unknown = sorted(set(doc) - {"key", "name", "start", "end", "milestone", "budget"})
            if unknown:
                raise self.fail(f"{at}.{unknown[0]}", "is not a phase field (key, name, start, end, milestone, budget)")
            key = self.text(doc.get("key"), f"{at}.key").strip()
            if not key:
                raise self.fail(f"{at}.key", "is missing")
            if any(p.key == key for p in phases):
                raise self.fail(f"{at}.key", f"{key!r} is used by two phases")
            name = self.text(doc.get("name") or key, f"{at}.name")
            if doc.get("start") is None:
                raise self.fail(f"{at}.start", "is missing")
            if doc.get("end") is None:
                raise self.fail(f"{at}.end", "is missing")
            start = self.day(doc["start"], f"{at}.start")
            end = self.day(doc["end"], f"{at}.end")
            if end < start:
                raise self.fail(f"{at}.end", f"{end.isoformat()} is before its start {start.isoformat()}")
            for other in phases:
                if start <= other.end and other.start <= end:
                    raise self.fail(
                        f"{at}.start",
                        f"{start.isoformat()}..{end.isoformat()} overlaps phase {other.key!r} "
                        f"({other.start.isoformat()}..{other.end.isoformat()})",
                    )
            milestone = self.text(doc.get("milestone") or "", f"{at}.milestone").strip()
            if milestone and milestone not in milestone_keys:
                known = ", ".join(sorted(milestone_keys)) or "none"
                raise self.fail(f"{at}.milestone", f"{milestone!r} is not a milestone of the contract ({known})")
            budget: dict[str, Decimal] = {}
            for role, hours in self.obj(doc.get("budget") or {}, f"{at}.budget").items():
                if role not in role_names:
                    known = ", ".join(sorted(role_names)) or "none"
                    raise self.fail(f"{at}.budget.{role}", f"is not a role of the project ({known})")
                budget[str(role)] = self.decimal(hours, f"{at}.budget.{role}")
            phases.append(Phase(key, name, start, end, milestone, budget))
        return tuple(phases)

    def milestone_dates(self, doc: Mapping[str, Any], project: Project) -> dict[str, date | None]:
        if "milestones" not in doc:
            return {}
        planned: dict[str, date | None] = {}
        keys = {m.key for m in project.milestones}
        for index, item in enumerate(self.seq(doc.get("milestones"), "milestones")):
            at = f"milestones[{index}]"
            entry = self.obj(item, at)
            key = self.text(entry.get("key"), f"{at}.key")
            if key not in keys:
                known = ", ".join(sorted(keys)) or "none"
                raise self.fail(f"{at}.key", f"{key!r} is not a milestone of the contract ({known})")
            value = entry.get("planned_on")
            if value is not None:
                planned[key] = self.day(value, f"{at}.planned_on")
        return planned

    def settings(self, doc: Mapping[str, Any], project: Project) -> ProjectSettings:
        current = project.settings
        raw = self.obj(doc.get("settings") or {}, "settings")
        known = set(settings_to_json(current))
        unknown = sorted(set(raw) - known)
        if unknown:
            raise self.fail(f"settings.{unknown[0]}", f"is not a setting ({', '.join(sorted(known))})")
        changes: dict[str, Any] = {}
        for name, value in raw.items():
            at = f"settings.{name}"
            if name == "approval_required":
                changes[name] = self.flag(value, at)
            elif name == "rounding_increment":
                changes[name] = ZERO if value is None else self.decimal(value, at)
            elif name == "rounding":
                if value not in ROUNDING_MODES:
                    raise self.fail(at, f"is {value!r}, not one of {', '.join(ROUNDING_MODES)}")
                changes[name] = value
            elif name == "cap":
                changes[name] = None if value is None else self.decimal(value, at, above=True)
            elif name in ("cap_alert_percent", "burn_alert_percent"):
                changes[name] = self.percent(value, at, most=HUNDRED if name == "cap_alert_percent" else None)
            elif name == "expense_markup_percent":
                changes[name] = self.percent(value, at, most=None)
            elif name == "retainer":
                changes[name] = None if value is None else self.retainer(value, project, at)
            elif name == "wip_alert_amount":
                changes[name] = None if value is None else self.decimal(value, at, above=True)
            elif name == "wip_alert_days":
                changes[name] = None if value is None else self.whole(value, at)
        if "retainer" in doc and "retainer" not in raw:
            top = doc.get("retainer")
            changes["retainer"] = None if top is None else self.retainer(top, project, "retainer")
        return replace(current, **changes)

    def retainer(self, value: Any, project: Project, at: str) -> Retainer:
        doc = self.obj(value, at)
        for name in ("hours", "rate_role", "topup_below_hours", "topup_hours"):
            if doc.get(name) is None:
                raise self.fail(f"{at}.{name}", "is missing")
        rate_role = self.text(doc["rate_role"], f"{at}.rate_role")
        if rate_role not in {r.role for r in project.roles}:
            known = ", ".join(r.role for r in project.roles) or "none"
            raise self.fail(f"{at}.rate_role", f"{rate_role!r} is not a role of the project ({known})")
        return Retainer(
            hours=self.decimal(doc["hours"], f"{at}.hours", above=True),
            rate_role=rate_role,
            topup_below_hours=self.decimal(doc["topup_below_hours"], f"{at}.topup_below_hours"),
            topup_hours=self.decimal(doc["topup_hours"], f"{at}.topup_hours", above=True),
        )


# ---- the whole project, for storage ----


def project_to_json(project: Project) -> dict[str, Any]:
    """The whole project as JSON-ready data (`project_from_json` reads it back exactly)."""
    return {
        "project_id": project.project_id,
        "contract_id": project.contract_id,
        "customer_id": project.customer_id,
        "name": project.name,
        "currency": project.currency,
        "owner_email": project.owner_email,
        "start": project.start.isoformat(),
        "end": project.end.isoformat(),
        "closed_through": None if project.closed_through is None else project.closed_through.isoformat(),
        "plan_version": project.plan_version,
        "roles": [
            {
                "role": r.role,
                "line_key": r.line_key,
                "rate": str(r.rate),
                "budget_hours": str(r.budget_hours),
                "description": r.description,
            }
            for r in project.roles
        ],
        "milestones": [{"key": m.key, "name": m.name, "line_key": m.line_key} for m in project.milestones],
        "plan": plan_to_json(project),
    }


def project_from_json(doc: Mapping[str, Any]) -> Project:
    """The project `project_to_json` wrote; ProjectError naming the field if `doc` is not one."""
    pid = str(doc.get("project_id", "?")) if isinstance(doc, Mapping) else "?"
    reader = _PlanReader(f"project {pid}")
    doc = reader.obj(doc, "project")

    def text(name: str, source: Mapping[str, Any] = doc, at: str = "") -> str:
        return reader.text(source.get(name), f"{at}{name}")

    roles: list[ProjectRole] = []
    for i, item in enumerate(reader.seq(doc.get("roles"), "roles")):
        r, at = reader.obj(item, f"roles[{i}]"), f"roles[{i}]."
        roles.append(
            ProjectRole(
                role=text("role", r, at),
                line_key=text("line_key", r, at),
                rate=reader.decimal(r.get("rate"), f"{at}rate", above=True),
                budget_hours=reader.decimal(r.get("budget_hours"), f"{at}budget_hours"),
                description=reader.text(r.get("description", ""), f"{at}description"),
            )
        )
    milestones: list[Milestone] = []
    for i, item in enumerate(reader.seq(doc.get("milestones"), "milestones")):
        m, at = reader.obj(item, f"milestones[{i}]"), f"milestones[{i}]."
        milestones.append(Milestone(text("key", m, at), text("name", m, at), text("line_key", m, at)))
    closed = doc.get("closed_through")
    version = doc.get("plan_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise reader.fail("plan_version", f"is not a whole number from 1 up: {version!r}")
    base = Project(
        project_id=text("project_id"),
        contract_id=text("contract_id"),
        customer_id=text("customer_id"),
        name=text("name"),
        currency=text("currency"),
        manager_email="",
        owner_email=text("owner_email"),
        roles=tuple(roles),
        phases=(),
        milestones=tuple(milestones),
        settings=ProjectSettings(),
        start=reader.day(doc.get("start"), "start"),
        end=reader.day(doc.get("end"), "end"),
        closed_through=None if closed is None else reader.day(closed, "closed_through"),
        plan_version=version,
    )
    plan = reader.obj(doc.get("plan"), "plan")
    for name in ("manager_email", "phases", "milestones", "settings"):
        if name not in plan:
            raise reader.fail(f"plan.{name}", "is missing")
    return replace(apply_plan(base, plan), plan_version=version)

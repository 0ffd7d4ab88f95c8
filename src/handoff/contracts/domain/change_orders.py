"""Change orders: the only way a contract changes, each making the next contract version, and the
schedule that follows from it without ever editing what was invoiced.

A `ChangeOrder` (key, effective date, changes, reason) applied to the current version
(`apply_change_order`) gives version + 1, in force from the order's effective date (the start of
that day); the days before it stay under the versions before. Changes, applied in order:

- `AddLine(line)`: a new line; its key must never have been used in the contract (removed lines'
  keys are retired: pass `retired_keys(versions)`). It starts on or after the effective date
  (a recurring line without `start`, or a one-time line without `bill_on`, starts on it).
- `RemoveLine(key)`: a recurring line that has started ends on the effective date (it stays in
  the version, ended); one not started yet, a one-time line billing on or after the effective
  date, a milestone, time and materials or usage line leaves the version. A one-time line billed
  before the effective date cannot be removed (a credit note corrects it).
- `ChangeQuantity(key, quantity)` (> 0) and `ChangePrice(key, unit_price)` (>= 0; a ramp's steps
  after the effective date are kept, earlier ones give way to the new price): from the
  effective date on.
- Neither these nor `RemoveLine` apply to a recurring line that has ended by the effective date
  or a one-time line billed before it.
- `Extend(key | None, new_end)`: a recurring line (None: every recurring line that would
  otherwise end before `new_end`) ends later; not an auto-renewing line, nor one that ended
  before the effective date (add a line instead: the days between would be billed by no one).
- `Terminate(on)`: the contract ends on `on` (the first day not billed, on or after the
  effective date): recurring lines end then (those not started by then leave), one-time lines
  billing from then on leave; milestone, time and materials and usage lines stay as they are.
- `ShiftDates(key, days)`: a line not started yet moves by `days` (a recurring line's start,
  end, co-term and ramp steps; a one-time line's bill day), staying on or after the effective date.

Refusals raise `ChangeOrderError` (a `ContractError`) naming the contract, the change order, the
line and the field; the new version must also pass `validate`.

Replanning (`replan` and `replaced_by_change`, in `replanning`, imported here; the full rules in
its docstring): invoiced periods are never edited, only adjusted. Each day is billed at the
version in force that day, so a period the change touches changes value by
value(old, days before E) + value(new, days from E) - value(old, all its days) (E the effective
date; each part prorated over the full calendar period and rounded to cents once), billed as an
adjustment "adjust:<order key>:<period_key>" (trigger "change_order", bill date E); unbilled
periods from E on simply carry the new terms. So an upsell from 10 to 15 units in mid-year on an
annual-in-advance line debits 5 x price x remaining days / days in the year (to the cent), a
termination credits the unused days, and a price change on a monthly in-arrears line effective on
a period's first day, with nothing billed for that period, adjusts nothing: the periods from then
on carry the new price.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from handoff.contracts.domain.model import (
    BillingKind,
    ContractError,
    ContractLine,
    ContractVersion,
    RampStep,
    _line_json,
    _Reader,
    validate,
)
from handoff.contracts.domain.replanning import ADJUST_PREFIX, replaced_by_change, replan
from handoff.contracts.domain.schedule import line_end, line_start
from handoff.kernel.money import ZERO

__all__ = [
    "ADJUST_PREFIX",
    "AddLine",
    "Change",
    "ChangeOrder",
    "ChangeOrderError",
    "ChangePrice",
    "ChangeQuantity",
    "Extend",
    "RemoveLine",
    "ShiftDates",
    "Terminate",
    "apply_change_order",
    "replaced_by_change",
    "replan",
    "retired_keys",
]


class ChangeOrderError(ContractError):
    """A change order that cannot apply; the message names the contract, the change order, the
    line and the field ("contract C-1 change order CO-2 line L2: quantity must be above 0, not 0")."""

    def __init__(
        self, message: str, *, contract_id: str = "", change_order: str = "", line_key: str = "", field: str = ""
    ) -> None:
        super().__init__(message, contract_id=contract_id, line_key=line_key, field=field)
        self.change_order = change_order


def _error(contract_id: str, order: str, field: str, problem: str, line: str = "") -> ChangeOrderError:
    where = f"contract {contract_id} change order {order}" + (f" line {line}" if line else "")
    return ChangeOrderError(
        f"{where}: {field} {problem}", contract_id=contract_id, change_order=order, line_key=line, field=field
    )


# ---- the changes ----


@dataclass(frozen=True, slots=True)
class AddLine:
    line: ContractLine


@dataclass(frozen=True, slots=True)
class RemoveLine:
    line_key: str


@dataclass(frozen=True, slots=True)
class ChangeQuantity:
    line_key: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class ChangePrice:
    line_key: str
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Extend:
    line_key: str | None  # None: every recurring line that would end before new_end
    new_end: date  # the first day no longer billed


@dataclass(frozen=True, slots=True)
class Terminate:
    on: date  # the first day no longer billed


@dataclass(frozen=True, slots=True)
class ShiftDates:
    line_key: str
    days: int


Change: TypeAlias = AddLine | RemoveLine | ChangeQuantity | ChangePrice | Extend | Terminate | ShiftDates

_TYPES: dict[type[Any], str] = {
    AddLine: "add_line",
    RemoveLine: "remove_line",
    ChangeQuantity: "change_quantity",
    ChangePrice: "change_price",
    Extend: "extend",
    Terminate: "terminate",
    ShiftDates: "shift_dates",
}


@dataclass(frozen=True, slots=True)
class ChangeOrder:
    """A signed change to a contract, in force from `effective`; `key` names it for good."""

    key: str
    effective: date
    changes: tuple[Change, ...]
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The order as JSON-ready data (Decimals as strings, dates ISO 8601); `from_json` reads it back."""
        return {
            "key": self.key,
            "effective": self.effective.isoformat(),
            "reason": self.reason,
            "changes": [_change_json(change) for change in self.changes],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ChangeOrder:
        """The order `to_json` wrote; ChangeOrderError naming the change order and field if not one."""
        return _OrderReader(doc).order()


def _change_json(change: Change) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": _TYPES[type(change)]}
    if isinstance(change, AddLine):
        doc["line"] = _line_json(change.line)
    elif isinstance(change, Terminate):
        doc["on"] = change.on.isoformat()
    else:
        doc["line_key"] = change.line_key
        if isinstance(change, ChangeQuantity):
            doc["quantity"] = str(change.quantity)
        elif isinstance(change, ChangePrice):
            doc["unit_price"] = str(change.unit_price)
        elif isinstance(change, Extend):
            doc["new_end"] = change.new_end.isoformat()
        elif isinstance(change, ShiftDates):
            doc["days"] = change.days
    return doc


class _OrderReader:
    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.key = str(doc.get("key") or "?") if isinstance(doc, Mapping) else "?"

    def fail(self, field: str, problem: str) -> ChangeOrderError:
        return ChangeOrderError(f"change order {self.key}: {field} {problem}", change_order=self.key, field=field)

    def get(self, doc: Mapping[str, Any], field: str, name: str) -> Any:
        if doc.get(field) is None:
            raise self.fail(name, "is missing")
        return doc[field]

    def text(self, doc: Mapping[str, Any], field: str, name: str) -> str:
        value = self.get(doc, field, name)
        if not isinstance(value, str):
            raise self.fail(name, f"is not text: {value!r}")
        return value

    def day(self, doc: Mapping[str, Any], field: str, name: str) -> date:
        value = self.text(doc, field, name)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"is not an ISO date: {value!r}") from None

    def decimal(self, doc: Mapping[str, Any], field: str, name: str) -> Decimal:
        value = self.get(doc, field, name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.fail(name, f"is not a decimal number written as text: {value!r}")
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(name, f"is not a decimal number: {value!r}") from None
        if not result.is_finite():
            raise self.fail(name, f"is not a finite number: {value!r}")
        return result

    def order(self) -> ChangeOrder:
        if not isinstance(self.doc, Mapping):
            raise self.fail("document", "is not an object")
        doc: Mapping[str, Any] = self.doc
        key = self.text(doc, "key", "key")
        reason = doc.get("reason") or ""
        if not isinstance(reason, str):
            raise self.fail("reason", f"is not text: {reason!r}")
        raw = doc.get("changes")
        if not isinstance(raw, list | tuple):
            raise self.fail("changes", "is not a list")
        changes = tuple(self.change(item, f"changes[{index}]") for index, item in enumerate(raw))
        return ChangeOrder(key, self.day(doc, "effective", "effective"), changes, reason)

    def change(self, raw: Any, at: str) -> Change:
        if not isinstance(raw, Mapping):
            raise self.fail(at, "is not an object")
        kind = self.text(raw, "type", f"{at}.type")
        if kind == "add_line":
            line = raw.get("line")
            try:
                return AddLine(_Reader("?").line(line))
            except ContractError as exc:
                raise self.fail(f"{at}.line", f"is not a contract line: {exc}") from None
        if kind == "terminate":
            return Terminate(self.day(raw, "on", f"{at}.on"))
        if kind not in _TYPES.values():
            raise self.fail(f"{at}.type", f"is {kind!r}, not one of {', '.join(_TYPES.values())}")
        if kind == "extend":
            line_key = raw.get("line_key")
            if line_key is not None and not isinstance(line_key, str):
                raise self.fail(f"{at}.line_key", f"is not text: {line_key!r}")
            return Extend(line_key, self.day(raw, "new_end", f"{at}.new_end"))
        key = self.text(raw, "line_key", f"{at}.line_key")
        if kind == "remove_line":
            return RemoveLine(key)
        if kind == "change_quantity":
            return ChangeQuantity(key, self.decimal(raw, "quantity", f"{at}.quantity"))
        if kind == "change_price":
            return ChangePrice(key, self.decimal(raw, "unit_price", f"{at}.unit_price"))
        days = self.get(raw, "days", f"{at}.days")
        if isinstance(days, bool) or not isinstance(days, int):
            raise self.fail(f"{at}.days", f"is not a whole number: {days!r}")
        return ShiftDates(key, days)


# ---- applying a change order ----


def retired_keys(versions: Iterable[ContractVersion]) -> frozenset[str]:
    """The line keys some version had that the latest one no longer has: never to be reused."""
    ordered = sorted(versions, key=lambda v: v.version)
    if not ordered:
        return frozenset()
    ever = {line.key for version in ordered for line in version.lines}
    return frozenset(ever - {line.key for line in ordered[-1].lines})


def apply_change_order(
    version: ContractVersion, order: ChangeOrder, *, retired: Collection[str] = ()
) -> ContractVersion:
    """The version `order` makes of `version` (see the module docstring), validated; raises
    ChangeOrderError naming the contract, the change order, the line and the field.
    `retired`: the keys of lines removed by earlier change orders (`retired_keys`)."""
    cid = version.contract_id
    key = order.key if isinstance(order.key, str) else ""
    if not key.strip():
        raise _error(cid, "?", "key", "is missing")
    if not isinstance(order.effective, date):
        raise _error(cid, key, "effective", "is missing")
    if order.effective < version.terms.billing_start:
        raise _error(
            cid, key, "effective", f"{order.effective} is before the contract's start {version.terms.billing_start}"
        )
    if order.effective < version.effective:
        raise _error(
            cid,
            key,
            "effective",
            f"{order.effective} is before {version.effective}, when version {version.version} took effect",
        )
    if key == version.change_order:
        raise _error(cid, key, "key", f"already made version {version.version}")
    if not order.changes:
        raise _error(cid, key, "changes", "are missing: a change order changes something")
    editor = _Editor(version, order, retired)
    for change in order.changes:
        editor.apply(change)
    new = ContractVersion(
        contract_id=cid,
        version=version.version + 1,
        effective=order.effective,
        terms=version.terms,
        lines=tuple(editor.lines.values()),
        documents=version.documents,
        change_order=key,
    )
    try:
        validate(new)
    except ContractError as exc:
        message, prefix = str(exc), f"contract {cid}"
        if message.startswith(prefix):
            message = f"{prefix} change order {key}{message[len(prefix) :]}"
        raise ChangeOrderError(
            message, contract_id=cid, change_order=key, line_key=exc.line_key, field=exc.field
        ) from None
    return new


def _current_end(version: ContractVersion, line: ContractLine) -> date | None:
    """The first day a recurring line no longer bills; None while it renews without notice."""
    rule = line.rule
    if rule.auto_renew and rule.coterm_to is None and rule.notice_given_on is None:
        return None
    return line_end(version, line)


def _bill_day(version: ContractVersion, line: ContractLine) -> date:
    return line.rule.bill_on or version.terms.billing_start


def _ended(line: ContractLine, end: date) -> ContractLine:
    rule = replace(line.rule, end=end, coterm_to=None, auto_renew=False, notice_given_on=None)
    return replace(line, rule=rule)


class _Editor:
    """The lines of the version being made, changed one change at a time."""

    def __init__(self, version: ContractVersion, order: ChangeOrder, retired: Collection[str]) -> None:
        self.version, self.order = version, order
        self.effective = order.effective
        self.lines: dict[str, ContractLine] = {line.key: line for line in version.lines}
        self.removed: set[str] = set()
        self.retired = set(retired)

    def fail(self, field: str, problem: str, line: str = "") -> ChangeOrderError:
        return _error(self.version.contract_id, self.order.key, field, problem, line)

    def get(self, key: str) -> ContractLine:
        if key in self.lines:
            return self.lines[key]
        why = "was removed by this change order" if key in self.removed else "does not exist"
        raise self.fail("line", f"{key!r} {why}", line=key if isinstance(key, str) else "")

    def drop(self, key: str) -> None:
        del self.lines[key]
        self.removed.add(key)

    def apply(self, change: Change) -> None:
        if isinstance(change, AddLine):
            self.add(change.line)
        elif isinstance(change, RemoveLine):
            self.remove(self.get(change.line_key))
        elif isinstance(change, ChangeQuantity):
            self.quantity(self.get(change.line_key), change.quantity)
        elif isinstance(change, ChangePrice):
            self.price(self.get(change.line_key), change.unit_price)
        elif isinstance(change, Extend):
            self.extend(change.line_key, change.new_end)
        elif isinstance(change, Terminate):
            self.terminate(change.on)
        elif isinstance(change, ShiftDates):
            self.shift(self.get(change.line_key), change.days)
        else:
            raise self.fail("changes", f"holds {change!r}, which is not a change")

    def add(self, line: ContractLine) -> None:
        key, rule, effective = line.key, line.rule, self.effective
        if key in self.lines:
            raise self.fail("key", f"{key!r} is already a line of the contract", line=key)
        if key in self.removed or key in self.retired:
            raise self.fail("key", f"{key!r} belonged to a removed line: line keys are never reused", line=key)
        if rule.kind is BillingKind.RECURRING:
            start = rule.start or effective
            if start < effective:
                raise self.fail("start", f"{start} is before the change order's effective date {effective}", line=key)
            rule = replace(rule, start=start)
        elif rule.kind is BillingKind.ONE_TIME:
            bill_on = rule.bill_on or effective
            if bill_on < effective:
                raise self.fail(
                    "bill_on", f"{bill_on} is before the change order's effective date {effective}", line=key
                )
            rule = replace(rule, bill_on=bill_on)
        self.lines[key] = replace(line, rule=rule)

    def changeable(self, line: ContractLine, field: str) -> None:
        """Refuse to change a line whose billing lies wholly before the effective date."""
        kind, effective = line.rule.kind, self.effective
        if kind is BillingKind.RECURRING:
            end = _current_end(self.version, line)
            if end is not None and end <= effective:
                raise self.fail(
                    field, f"cannot change: the line ended on {end}, by the effective date {effective}", line=line.key
                )
        elif kind is BillingKind.ONE_TIME:
            day = _bill_day(self.version, line)
            if day < effective:
                raise self.fail(
                    field,
                    f"cannot change: the line billed on {day}, before the effective date {effective}"
                    " (a credit note corrects it)",
                    line=line.key,
                )

    def remove(self, line: ContractLine) -> None:
        self.changeable(line, "line")
        if line.rule.kind is BillingKind.RECURRING and line_start(self.version, line) < self.effective:
            self.lines[line.key] = _ended(line, self.effective)
        else:
            self.drop(line.key)

    def quantity(self, line: ContractLine, quantity: Decimal) -> None:
        if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= ZERO:
            raise self.fail("quantity", f"must be above 0, not {quantity}", line=line.key)
        self.changeable(line, "quantity")
        self.lines[line.key] = replace(line, quantity=quantity)

    def price(self, line: ContractLine, unit_price: Decimal) -> None:
        if not isinstance(unit_price, Decimal) or not unit_price.is_finite() or unit_price < ZERO:
            raise self.fail("unit_price", f"must be 0 or more, not {unit_price}", line=line.key)
        self.changeable(line, "unit_price")
        ramp = tuple(step for step in line.rule.ramp if step.starts > self.effective)
        self.lines[line.key] = replace(line, unit_price=unit_price, rule=replace(line.rule, ramp=ramp))

    def extend(self, key: str | None, new_end: date) -> None:
        if not isinstance(new_end, date):
            raise self.fail("new_end", "is missing", line=key or "")
        if key is not None:
            self.extend_line(self.get(key), new_end)
            return
        extended = False
        for line in list(self.lines.values()):
            rule = line.rule
            if rule.kind is not BillingKind.RECURRING or rule.auto_renew:
                continue
            end = _current_end(self.version, line)
            if end is not None and self.effective <= end < new_end:
                self.extend_line(line, new_end)
                extended = True
        if not extended:
            raise self.fail("new_end", f"{new_end}: no recurring line running on {self.effective} ends before it")

    def extend_line(self, line: ContractLine, new_end: date) -> None:
        rule, key = line.rule, line.key
        if rule.kind is not BillingKind.RECURRING:
            raise self.fail("new_end", f"applies to recurring lines only, not {rule.kind}", line=key)
        if rule.auto_renew:
            raise self.fail("new_end", "cannot extend a line that renews automatically", line=key)
        end = _current_end(self.version, line)
        assert end is not None  # a line that does not renew has an end
        if end < self.effective:
            raise self.fail(
                "new_end", f"the line ended on {end}, before the effective date {self.effective}: add a line", line=key
            )
        if new_end <= end:
            raise self.fail("new_end", f"{new_end} is not after the line's end {end}", line=key)
        coterm = new_end if rule.coterm_to is not None else None
        self.lines[key] = replace(line, rule=replace(rule, end=new_end, coterm_to=coterm))

    def terminate(self, on: date) -> None:
        if not isinstance(on, date):
            raise self.fail("on", "is missing")
        if on < self.effective:
            raise self.fail("on", f"{on} is before the effective date {self.effective}")
        changed = False
        for line in list(self.lines.values()):
            kind = line.rule.kind
            if kind is BillingKind.RECURRING:
                if line_start(self.version, line) >= on:
                    self.drop(line.key)
                    changed = True
                    continue
                end = _current_end(self.version, line)
                if end is None or end > on:
                    self.lines[line.key] = _ended(line, on)
                    changed = True
            elif kind is BillingKind.ONE_TIME and _bill_day(self.version, line) >= on:
                self.drop(line.key)
                changed = True
        if not changed:
            raise self.fail("on", f"{on}: every dated line already ends by then")

    def shift(self, line: ContractLine, days: int) -> None:
        key, rule, effective = line.key, line.rule, self.effective
        if isinstance(days, bool) or not isinstance(days, int) or days == 0:
            raise self.fail("days", f"must be a whole number of days other than 0, not {days!r}", line=key)
        delta = timedelta(days=days)
        if rule.kind is BillingKind.RECURRING:
            field, old = "start", line_start(self.version, line)
        elif rule.kind is BillingKind.ONE_TIME:
            field, old = "bill_on", _bill_day(self.version, line)
        else:
            raise self.fail("days", f"{rule.kind} lines have no dates to shift", line=key)
        if old < effective:
            raise self.fail(
                field, f"the line started on {old}, before the effective date {effective}: it cannot move", line=key
            )
        try:
            new = old + delta
            if rule.kind is BillingKind.ONE_TIME:
                rule = replace(rule, bill_on=new)
            else:
                rule = replace(
                    rule,
                    start=new,
                    end=None if rule.end is None else rule.end + delta,
                    coterm_to=None if rule.coterm_to is None else rule.coterm_to + delta,
                    ramp=tuple(RampStep(step.starts + delta, step.unit_price) for step in rule.ramp),
                )
        except OverflowError:
            raise self.fail("days", f"{days} moves the line's dates out of the calendar", line=key) from None
        if new < effective:
            raise self.fail(field, f"{new} would be before the effective date {effective}", line=key)
        self.lines[key] = replace(line, rule=rule)

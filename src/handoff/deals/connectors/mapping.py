"""Declarative field mapping: a vendor's payload to the canonical deal fields.

A mapping names, for each canonical field (`DEAL_FIELDS` of `domain.orders`), where its value is
found in the vendor's document. One syntax serves every CRM module and the business-edited YAML
of the generic webhook:

- `deal.properties.amount`: a dotted path through objects; `contacts[0]` takes a list item and
  `emails[?primary]` the first item whose `primary` is true (else the first item);
- `a.b || c.d`: the first of several paths that has a value;
- `{contact.firstname} {contact.lastname}`: a template of paths;
- `=EUR`: a constant;
- `path | date`: a transform after the value (`date`, `lower`, `upper`, `country`, `text`,
  and for numbers `amount`, `number`, `percent`, `discount`, `rate`; for a line's billing terms
  `frequency`, `recurring`, `renewing`, `fixed_term`, `days_after`, `months_after`); `country` resolves by the
  same rule as readiness (`deals.domain.countries`). Each alternative may take its own transform
  (`a | percent || b | discount`); one without takes the last alternative's, so `a || b | date`
  dates either. An alternative whose transform gives nothing (a zero `percent`) yields to the next.

Numbers are read as exact decimal text, never through float (the connectors decode JSON numbers
as Decimal): `amount` writes at least two decimals (`15600.0` -> `15600.00`, `0.125` stays),
`number` the shortest exact form (`12.0` -> `12`), `percent` a discount percentage (`10` ->
`10%`), `discount` a discount amount, `rate` a tax rate; the last three give nothing for zero
(no discount, no rate stated). Text that is not a number is kept as written, for readiness to judge.

A line's billing terms (`deals.domain.billing_terms`) come from what the CRMs state of a recurring
line: its billing frequency (HubSpot's `recurringbillingfrequency`: `monthly`, `quarterly`,
`annually`, `per_six_months`, ...; Pipedrive's `billing_frequency`: `one-time`, `monthly`,
`quarterly`, `semi-annually`, `annually`, ...) gives `frequency` (monthly, quarterly, annual; a
frequency handoff does not bill is kept as written, for readiness to name) and, through
`recurring`, the line's `billing` (empty for one-time); a fixed term (`fixed_term`: any value
means no auto-renewal) or none (`renewing`: a recurring frequency alone renews until cancelled);
a start delay in days or months (`days_after`, `months_after`: `30` -> `P30D`, after the
contract's billing start; zero: none).

`LineMap` maps a vendor's line objects (HubSpot line items, Salesforce opportunity line items,
Pipedrive deal products) to deal lines in the same syntax, each rule read from one line object;
`tax_categories` turns what the CRM states (a tax rate, a tax code) into a product tax category.

`FieldMap.parse` and `LineMap.parse` check every entry when they are built, so a bad mapping fails
at load with the entry named; applying one to a payload never raises: missing values become empty
strings, which readiness reports as problems on the deal (or its line).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from handoff.deals.domain.countries import country_code
from handoff.deals.domain.orders import DEAL_FIELDS, LINE_FIELDS, LineInput
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES

_STEP = re.compile(r"^(?P<key>[A-Za-z0-9_$@\-]+)(?P<index>\[(?:\d+|\?[A-Za-z0-9_]+)\])*$")
_INDEX = re.compile(r"\[(\d+|\?[A-Za-z0-9_]+)\]")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """A mapping entry that cannot be understood; the message names the entry."""


def _date(value: str) -> str:
    if value.isdigit() and len(value) >= 12:  # epoch milliseconds (HubSpot)
        return datetime.fromtimestamp(int(value) / 1000, UTC).date().isoformat()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return value  # left for readiness to judge


def _country(value: str) -> str:
    """The ISO code by the deal's own rule (`deals.domain.countries`), or the value as written when
    that rule finds no single country: readiness then names it, unknown or ambiguous, never guessed."""
    return country_code(value) or value


CENTS = Decimal("0.01")


def _decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number(value: str) -> str:
    """The shortest exact decimal text (`12.0` -> `12`, `1E+3` -> `1000`); not a number: as written."""
    number = _decimal(value)
    if number is None:
        return value
    return format(number.normalize(), "f") if number else "0"


def _amount(value: str) -> str:
    """Money as exact text with at least two decimals (`15600.0` -> `15600.00`, `0.125` stays)."""
    number = _decimal(value)
    if number is None:
        return value
    exponent = number.as_tuple().exponent
    try:
        return format(number.quantize(CENTS) if isinstance(exponent, int) and exponent > -2 else number, "f")
    except InvalidOperation:  # beyond the decimal context's precision: left for readiness's range check
        return format(number, "f")


def _nonzero(convert: Callable[[str], str], suffix: str = "") -> Callable[[str], str]:
    def transform(value: str) -> str:
        number = _decimal(value)
        if number is not None and not number:
            return ""
        return convert(value) + suffix if number is not None else value

    return transform


# What the CRMs call their billing frequencies, as handoff bills them (others are kept as written).
_FREQUENCY_WORDS = {
    "month": "monthly",
    "monthly": "monthly",
    "quarter": "quarterly",
    "quarterly": "quarterly",
    "year": "annual",
    "yearly": "annual",
    "annual": "annual",
    "annually": "annual",
}
_ONE_TIME = frozenset({"one_time", "one-time", "onetime", "once", "none"})


def _frequency(value: str) -> str:
    word = value.strip().lower()
    return "" if word in _ONE_TIME else _FREQUENCY_WORDS.get(word, value)


def _recurring(value: str) -> str:
    """A billing frequency names a recurring line (one-time: nothing, so the line bills once)."""
    return "" if value.strip().lower() in _ONE_TIME else "recurring"


def _renewing(value: str) -> str:
    return "" if value.strip().lower() in _ONE_TIME else "true"


def _after(unit: str) -> Callable[[str], str]:
    def transform(value: str) -> str:
        number = _decimal(value)
        if number is None:
            return value
        if not number:
            return ""
        return f"P{format(number.normalize(), 'f')}{unit}" if number == number.to_integral_value() else value

    return transform


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "text": lambda v: v,
    "lower": str.lower,
    "upper": str.upper,
    "date": _date,
    "country": _country,
    "amount": _amount,
    "number": _number,
    "percent": _nonzero(_number, "%"),  # a discount percentage: `10` -> `10%`; zero: none
    "discount": _nonzero(_amount),  # a discount amount; zero: none
    "rate": _nonzero(_number),  # a tax rate as stated; zero: none stated
    "frequency": _frequency,  # a CRM's billing frequency: monthly, quarterly, annual; one-time: none
    "recurring": _recurring,  # a CRM's billing frequency: `recurring`, or nothing for one-time
    "renewing": _renewing,  # a billing frequency without a fixed term: renews until cancelled
    "fixed_term": lambda v: "false",  # a fixed term is given: no auto-renewal
    "days_after": _after("D"),  # a start delay in days: `30` -> `P30D`; zero: none
    "months_after": _after("M"),  # a start delay in months: `3` -> `P3M`; zero: none
}


def _check_path(path: str) -> None:
    if not path or not all(_STEP.match(step) for step in path.split(".")):
        raise MappingError(f"{path!r} is not a path like `deal.properties.amount` or `contacts[0].email`")


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    for step in path.split("."):
        key = step.split("[", 1)[0]
        doc = doc.get(key) if isinstance(doc, Mapping) else None
        for index in _INDEX.findall(step):
            if not isinstance(doc, list) or not doc:
                return None
            if index.startswith("?"):
                flag = index[1:]
                doc = next((x for x in doc if isinstance(x, Mapping) and x.get(flag) in (True, "true", 1)), doc[0])
            else:
                doc = doc[int(index)] if int(index) < len(doc) else None
        if doc is None:
            return None
    return doc


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # as the vendor wrote it, never in exponent form
    return str(value).strip()


@dataclass(frozen=True)
class Rule:
    source: str
    kind: str  # const | paths | template
    parts: tuple[str, ...]  # the constant, the alternatives (paths or `=constants`), or the template
    transform: str  # of a constant or template; of each alternative, see `transforms`
    transforms: tuple[str, ...] = ()  # one per alternative of `paths`

    @classmethod
    def parse(cls, source: str) -> Rule:
        if "{" in source or (source.strip().startswith("=") and "||" not in source):
            expr, _, transform = source.partition(" | ")
            expr, transform = expr.strip(), transform.strip() or "text"
            _check_transform(transform)
            if expr.startswith("="):
                return cls(source, "const", (expr[1:],), transform)
            paths = tuple(_TEMPLATE.findall(expr))
            if not paths:
                raise MappingError(f"template {expr!r} names no path in braces")
            for p in paths:
                _check_path(p.strip())
            return cls(source, "template", (expr,), transform)
        alternatives: list[tuple[str, str]] = []
        for part in source.split("||"):
            expr, _, transform = part.partition(" | ")
            expr, transform = expr.strip(), transform.strip()
            if transform:
                _check_transform(transform)
            if not expr.startswith("="):  # a constant as the last resort: `a.b || =business`
                _check_path(expr)
            alternatives.append((expr, transform))
        last = alternatives[-1][1] or "text"
        return cls(
            source,
            "paths",
            tuple(p for p, _ in alternatives),
            last,
            tuple(t or last for _, t in alternatives),
        )

    def apply(self, doc: Any) -> str:
        if self.kind == "const":
            value = self.parts[0]
        elif self.kind == "template":
            value = " ".join(_TEMPLATE.sub(lambda m: _text(lookup(doc, m.group(1).strip())), self.parts[0]).split())
        else:
            for path, transform in zip(self.parts, self.transforms, strict=True):
                found = path[1:] if path.startswith("=") else _text(lookup(doc, path))
                if found and (value := TRANSFORMS[transform](found)):
                    return value
            return ""
        return TRANSFORMS[self.transform](value) if value else ""

    def paths(self) -> Iterator[str]:
        """The paths this rule reads (not its constants)."""
        if self.kind == "template":
            yield from (p.strip() for p in _TEMPLATE.findall(self.parts[0]))
        elif self.kind == "paths":
            yield from (p for p in self.parts if not p.startswith("="))


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise MappingError(f"unknown transform {transform!r}; known: {', '.join(sorted(TRANSFORMS))}")


@dataclass(frozen=True)
class FieldMap:
    """Canonical field -> rule; `custom` keeps extra named values beside the generic fields."""

    fields: Mapping[str, Rule]
    custom: Mapping[str, Rule]

    @classmethod
    def parse(cls, fields: Mapping[str, str], custom: Mapping[str, str] | None = None) -> FieldMap:
        unknown = sorted(set(fields) - set(DEAL_FIELDS))
        if unknown:
            raise MappingError(f"fields.{unknown[0]}: not a deal field; known: {', '.join(DEAL_FIELDS)}")
        if "deal_id" not in fields:
            raise MappingError("fields.deal_id: required (where the deal's id is found)")
        parsed: dict[str, Rule] = {}
        extra: dict[str, Rule] = {}
        for section, source, out in (("fields", fields, parsed), ("custom", custom or {}, extra)):
            for name, rule in source.items():
                if not isinstance(rule, str):
                    raise MappingError(f"{section}.{name}: must be text (a path, `=constant` or template)")
                try:
                    out[name] = Rule.parse(rule)
                except MappingError as exc:
                    raise MappingError(f"{section}.{name}: {exc}") from None
        return cls(parsed, extra)

    def apply(self, doc: Any) -> dict[str, str]:
        """The canonical fields (plus custom ones) for one vendor document."""
        out = {name: rule.apply(doc) for name, rule in self.fields.items()}
        out.update({name: rule.apply(doc) for name, rule in self.custom.items() if name not in out})
        return out

    def paths(self) -> Iterator[str]:
        """Every path the mapping reads."""
        for rule in (*self.fields.values(), *self.custom.values()):
            yield from rule.paths()


# What a deal line is when the mapping leaves a field empty (as a deal file's absent key).
_LINE_DEFAULTS = {"tax_category": "standard", "supply": "services"}


@dataclass(frozen=True)
class LineMap:
    """Where a vendor document keeps its lines (`items`: a path to a list of objects) and where each
    line field is in one of them; `tax_categories`: the CRM's value (after the rule's transform, e.g.
    a `rate` of `19`) -> product tax category. A value not in the table is kept as written, so
    readiness names the line whose tax category it cannot use."""

    items: str
    fields: Mapping[str, Rule]
    tax_categories: Mapping[str, str]

    @classmethod
    def parse(cls, items: str, fields: Mapping[str, str], tax_categories: Mapping[str, str] | None = None) -> LineMap:
        try:
            _check_path(items)
        except MappingError as exc:
            raise MappingError(f"lines.items: {exc}") from None
        unknown = sorted(set(fields) - set(LINE_FIELDS))
        if unknown:
            raise MappingError(f"lines.fields.{unknown[0]}: not a line field; known: {', '.join(LINE_FIELDS)}")
        parsed: dict[str, Rule] = {}
        for name, rule in fields.items():
            if not isinstance(rule, str):
                raise MappingError(f"lines.fields.{name}: must be text (a path, `=constant` or template)")
            try:
                parsed[name] = Rule.parse(rule)
            except MappingError as exc:
                raise MappingError(f"lines.fields.{name}: {exc}") from None
        # numbers compared by value: a table's `19` matches a CRM's `19.0`
        table = {_number(str(k).strip()): str(v).strip().lower() for k, v in (tax_categories or {}).items()}
        for value, category in table.items():
            if category not in PRODUCT_CATEGORIES:
                raise MappingError(
                    f"lines.tax_categories.{value}: {category!r} is not one of {', '.join(sorted(PRODUCT_CATEGORIES))}"
                )
        return cls(items, parsed, table)

    def apply(self, doc: Any) -> tuple[LineInput, ...]:
        """The deal lines of one vendor document (none when it has no list at `items`)."""
        found = lookup(doc, self.items)
        if not isinstance(found, list):
            return ()
        lines = []
        for item in found:
            if not isinstance(item, Mapping):
                continue
            values = {name: rule.apply(item) for name, rule in self.fields.items()}
            category = values.get("tax_category", "")
            values["tax_category"] = self.tax_categories.get(_number(category), category)
            values.update({k: v for k, v in _LINE_DEFAULTS.items() if not values.get(k)})
            lines.append(LineInput(**{k: v for k, v in values.items() if k in LINE_FIELDS}))
        return tuple(lines)

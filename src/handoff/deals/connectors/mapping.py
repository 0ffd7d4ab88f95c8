"""Declarative field mapping: a vendor's payload to the canonical deal fields.

A mapping names, for each canonical field (`DEAL_FIELDS` of `domain.orders`), where its value is
found in the vendor's document. One syntax serves every CRM module and the business-edited YAML
of the generic webhook:

- `deal.properties.amount`: a dotted path through objects; `contacts[0]` takes a list item and
  `emails[?primary]` the first item whose `primary` is true (else the first item);
- `a.b || c.d`: the first of several paths that has a value;
- `{contact.firstname} {contact.lastname}`: a template of paths;
- `=EUR`: a constant;
- `path | date`: a transform after the value (`date`, `lower`, `upper`, `country`, `text`).

`FieldMap.parse` checks every entry when it is built, so a bad mapping fails at load with the
field named; applying it to a payload never raises: missing values become empty strings, which
readiness reports as problems on the deal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pycountry

from handoff.deals.domain.orders import DEAL_FIELDS

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
    if len(value) == 2:
        return value.upper()
    try:
        return str(pycountry.countries.lookup(value).alpha_2)
    except LookupError:
        return value


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "text": lambda v: v,
    "lower": str.lower,
    "upper": str.upper,
    "date": _date,
    "country": _country,
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
    return str(value).strip()


@dataclass(frozen=True)
class Rule:
    source: str
    kind: str  # const | paths | template
    parts: tuple[str, ...]
    transform: str

    @classmethod
    def parse(cls, source: str) -> Rule:
        expr, _, transform = source.partition(" | ")
        expr, transform = expr.strip(), transform.strip() or "text"
        if transform not in TRANSFORMS:
            raise MappingError(f"unknown transform {transform!r}; known: {', '.join(sorted(TRANSFORMS))}")
        if expr.startswith("="):
            return cls(source, "const", (expr[1:],), transform)
        if "{" in expr:
            paths = tuple(_TEMPLATE.findall(expr))
            if not paths:
                raise MappingError(f"template {expr!r} names no path in braces")
            for p in paths:
                _check_path(p.strip())
            return cls(source, "template", (expr,), transform)
        paths = tuple(p.strip() for p in expr.split("||"))
        for p in paths:
            if not p.startswith("="):  # a constant as the last resort: `a.b || =business`
                _check_path(p)
        return cls(source, "paths", paths, transform)

    def apply(self, doc: Any) -> str:
        if self.kind == "const":
            value = self.parts[0]
        elif self.kind == "template":
            value = " ".join(_TEMPLATE.sub(lambda m: _text(lookup(doc, m.group(1).strip())), self.parts[0]).split())
        else:
            found = (p[1:] if p.startswith("=") else _text(lookup(doc, p)) for p in self.parts)
            value = next((v for v in found if v), "")
        return TRANSFORMS[self.transform](value) if value else ""


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

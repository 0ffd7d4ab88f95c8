"""Billing readiness: configurable rules that judge a deal's fields and return problems as data.

A rule names a field, a check and optionally a condition under which it applies. Checks never
raise: each failure is a `Problem(code, field, message)` with code `missing` (no value) or
`invalid` (a value that fails the check). The exception queue is simply the stored problems.

The rule set is business configuration (YAML, see `handoff.config`); this module only knows the
vocabulary of checks and conditions a rules file may use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import pycountry
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat

from handoff.deals.domain.orders import FALSE_WORDS, TRUE_WORDS, DealInput
from handoff.kernel.money import D, MoneyError
from handoff.kernel.parties import EU_MEMBER_STATES, vat_prefix

MISSING = "missing"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Problem:
    code: str  # missing | invalid (stable, relied on by `handoff check` consumers)
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rule:
    field: str
    check: str
    when: str | None = None
    values: tuple[str, ...] = ()  # for `one_of`
    pattern: str | None = None  # for `pattern`
    message: str | None = None  # overrides the invalid message


@dataclass(frozen=True, slots=True)
class ReadinessContext:
    """What the checks need from configuration: our selling entities and allowed terms."""

    legal_entities: frozenset[str]
    payment_terms: frozenset[str]


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    context: ReadinessContext
    _compiled: Mapping[str, re.Pattern[str]] = field(default_factory=dict)


# A check returns None when the value is fine, else the message of an `invalid` problem.
# Emptiness is judged before any check runs, so a check sees a non-empty value.
Check = Callable[[str, DealInput, Rule, ReadinessContext], str | None]


@lru_cache(maxsize=65536)
def _email_error(value: str) -> str | None:
    # Memoised: a bulk import sees the same billing addresses again and again.
    try:
        # syntax only (no DNS); the reserved .test domain is accepted, as test and staging data use it
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return f"billing e-mail {value!r} is not a valid address: {exc}"
    return None


def _email(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return _email_error(value)


def _country(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if len(value) == 2 and value.isalpha() and pycountry.countries.get(alpha_2=value.upper()):
        return None
    return f"country {value!r} is not an ISO 3166-1 alpha-2 code"


def _currency(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if len(value) == 3 and value.isalpha() and pycountry.currencies.get(alpha_3=value.upper()):
        return None
    return f"currency {value!r} is not an ISO 4217 code"


def _positive_decimal(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    try:
        amount = D(value)
    except MoneyError:
        return f"{value!r} is not a decimal number"
    if amount <= 0:
        return f"{value} is not a positive amount"
    return None


def _legal_entity(value: str, _d: DealInput, _r: Rule, ctx: ReadinessContext) -> str | None:
    if value in ctx.legal_entities:
        return None
    return f"{value!r} is not one of our selling entities ({', '.join(sorted(ctx.legal_entities))})"


def _payment_terms(value: str, _d: DealInput, _r: Rule, ctx: ReadinessContext) -> str | None:
    if value in ctx.payment_terms:
        return None
    return f"{value!r} is not one of the payment terms ({', '.join(sorted(ctx.payment_terms))})"


@lru_cache(maxsize=65536)
def _vat_valid(number: str) -> bool:
    return bool(eu_vat.is_valid(number))


def _eu_vat_id(value: str, deal: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    number = re.sub(r"[\s.\-/]", "", value).upper()  # stdnum's compact() raises on a foreign prefix
    country = deal.get("country").upper()
    expected = vat_prefix(country)
    if not number[:2].isalpha():
        return f"VAT id {value!r} lacks the country prefix {expected}"
    if number[:2] != expected:
        return f"VAT id {value!r} has prefix {number[:2]}, expected {expected} for country {country}"
    if not _vat_valid(number):
        return f"VAT id {value!r} fails the {expected} format or checksum"
    return None


def _one_of(value: str, _d: DealInput, rule: Rule, _c: ReadinessContext) -> str | None:
    return None if value in rule.values else f"{value!r} is not one of {', '.join(rule.values)}"


def _pattern(value: str, _d: DealInput, rule: Rule, _c: ReadinessContext) -> str | None:
    assert rule.pattern is not None  # guaranteed by the rules loader
    return None if re.fullmatch(rule.pattern, value) else f"{value!r} does not match {rule.pattern}"


def _boolean(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return None if value.lower() in TRUE_WORDS | FALSE_WORDS else f"{value!r} is not a yes/no value"


def _present(_v: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return None


CHECKS: dict[str, Check] = {
    "present": _present,
    "email": _email,
    "country": _country,
    "currency": _currency,
    "positive_decimal": _positive_decimal,
    "legal_entity": _legal_entity,
    "payment_terms": _payment_terms,
    "eu_vat_id": _eu_vat_id,
    "one_of": _one_of,
    "pattern": _pattern,
    "boolean": _boolean,
}

# `optional_*` checks judge a value only when one is given (no `missing` problem).
OPTIONAL_PREFIX = "optional_"


def _business_in_eu(deal: DealInput) -> bool:
    return deal.is_business and deal.get("country").upper() in EU_MEMBER_STATES


CONDITIONS: dict[str, Callable[[DealInput], bool]] = {
    "business_in_eu": _business_in_eu,
    "requires_po": lambda deal: deal.requires_po is True,
    "business": lambda deal: deal.is_business,
    "consumer": lambda deal: not deal.is_business,
}


def check(deal: DealInput, ruleset: RuleSet) -> list[Problem]:
    """Every problem that stands between this deal and an invoice, in rule order."""
    problems: list[Problem] = []
    for rule in ruleset.rules:
        if rule.when is not None and not CONDITIONS[rule.when](deal):
            continue
        value = deal.get(rule.field).strip()
        optional = rule.check.startswith(OPTIONAL_PREFIX)
        if not value:
            if not optional:
                problems.append(Problem(MISSING, rule.field, f"{rule.field} is missing"))
            continue
        message = CHECKS[rule.check.removeprefix(OPTIONAL_PREFIX)](value, deal, rule, ruleset.context)
        if message is not None:
            problems.append(Problem(INVALID, rule.field, rule.message or message))
    return problems

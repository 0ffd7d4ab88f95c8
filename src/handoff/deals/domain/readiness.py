"""Billing readiness: configurable rules that judge a deal's fields and return problems as data.

A rule names a field, a check and optionally a condition under which it applies. Checks never
raise: each failure is a `Problem(code, field, message)` with code `missing` (no value) or
`invalid` (a value that fails the check). The exception queue is simply the stored problems.

Lines are judged too, each by the line rules (a field of the line: `unit_price`, `quantity`, ...),
their problems named by line, `lines[2].unit_price` (counted from 0, as in JSON). A deal with lines
whose amount differs from the sum of their nets (quantity x price, rounded as on the invoice) by
more than the configured tolerance gets an `amount_mismatch` problem on `amount`: the invoice bills
the lines, so a disagreement is a question for the deal's owner, never billed silently. Whatever
drafting parses (`orders.to_billable`) is judged here first, so a bad value blocks the deal instead
of failing its event.

The rule set is business configuration (YAML, see `handoff.config`); this module only knows the
vocabulary of checks and conditions a rules file may use.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import pycountry
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat

from handoff.deals.domain.countries import country_code, country_error
from handoff.deals.domain.orders import FALSE_WORDS, TRUE_WORDS, DealInput, LineInput
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES, SUPPLY_KINDS
from handoff.kernel.money import CENT, ZERO, D, MoneyError, round2
from handoff.kernel.parties import EU_MEMBER_STATES, vat_prefix


class ProblemCode(enum.StrEnum):
    """What is wrong with a field (stable, relied on by `handoff check` consumers)."""

    MISSING = "missing"  # no value
    INVALID = "invalid"  # a value that fails its check
    AMOUNT_MISMATCH = "amount_mismatch"  # the deal's amount is not what its lines add up to


MISSING = ProblemCode.MISSING
INVALID = ProblemCode.INVALID
AMOUNT_MISMATCH = ProblemCode.AMOUNT_MISMATCH

# Amounts, prices and quantities must stay below this (in absolute value): larger ones are typing
# accidents, and an invoice's totals must fit its columns (20 digits, 6 of them decimals).
MAX_NUMBER = Decimal("1e12")


@dataclass(frozen=True, slots=True)
class Problem:
    code: str  # a ProblemCode
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "field": self.field, "message": self.message}


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
    """What the checks need from configuration: our selling entities and allowed terms, and how
    far a deal's amount may differ from the sum of its lines (in the deal's currency)."""

    legal_entities: frozenset[str]
    payment_terms: frozenset[str]
    amount_tolerance: Decimal = CENT


# What every line of a deal must pass unless a rules file says otherwise (`lines:`): what drafting
# reads of a line. Empty optional values take their defaults (quantity 1, standard, services).
DEFAULT_LINE_RULES: tuple[Rule, ...] = (
    Rule("unit_price", "decimal"),
    Rule("quantity", "optional_positive_decimal"),
    Rule("tax_category", "optional_tax_category"),
    Rule("supply", "optional_supply"),
    Rule("currency", "optional_line_currency"),
)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    context: ReadinessContext
    _compiled: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    line_rules: tuple[Rule, ...] = DEFAULT_LINE_RULES  # judge each line; `field` names a line field


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
    return country_error(value)


def _deal_country(deal: DealInput) -> str:
    """The deal's ISO country code (its value upper-cased when it names no country: readiness
    reports that on `country`)."""
    value = deal.get("country")
    return country_code(value) or value.upper()


def _currency(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if len(value) == 3 and value.isalpha() and pycountry.currencies.get(alpha_3=value.upper()):
        return None
    return f"currency {value!r} is not an ISO 4217 code"


def _number_error(value: str, positive: bool) -> str | None:
    try:
        number = D(value)
    except MoneyError:
        return f"{value!r} is not a decimal number"
    if positive and number <= 0:
        return f"{value} is not a positive amount"
    if abs(number) >= MAX_NUMBER:
        return f"{value} is out of range: it must be below {MAX_NUMBER:,f} in absolute value"
    return None


def _positive_decimal(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return _number_error(value, positive=True)


def _decimal(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return _number_error(value, positive=False)


def _tax_category(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if value.lower() in PRODUCT_CATEGORIES:
        return None
    return f"tax category {value!r} is not one of {', '.join(sorted(PRODUCT_CATEGORIES))}"


def _supply(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if value.lower() in SUPPLY_KINDS:
        return None
    return f"supply {value!r} is not one of {', '.join(sorted(SUPPLY_KINDS))}"


def _line_currency(value: str, deal: DealInput, r: Rule, c: ReadinessContext) -> str | None:
    error = _currency(value, deal, r, c)
    if error is not None:
        return error
    deal_currency = deal.get("currency").upper()
    if deal_currency and value.upper() != deal_currency:
        return f"currency {value.upper()} is not the deal's currency {deal_currency}: an invoice has one currency"
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
    country = _deal_country(deal)
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
    "decimal": _decimal,
    "tax_category": _tax_category,
    "supply": _supply,
    "line_currency": _line_currency,
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
    return deal.is_business and _deal_country(deal) in EU_MEMBER_STATES


CONDITIONS: dict[str, Callable[[DealInput], bool]] = {
    "business_in_eu": _business_in_eu,
    "requires_po": lambda deal: deal.requires_po is True,
    "business": lambda deal: deal.is_business,
    "consumer": lambda deal: not deal.is_business,
}


def _judge(value: str, name: str, deal: DealInput, rule: Rule, ctx: ReadinessContext, prefix: str) -> Problem | None:
    """One rule on one value (`name`: the field a problem names; `prefix`: said before its message)."""
    value = value.strip()
    if not value:
        optional = rule.check.startswith(OPTIONAL_PREFIX)
        return None if optional else Problem(MISSING, name, f"{name} is missing")
    message = CHECKS[rule.check.removeprefix(OPTIONAL_PREFIX)](value, deal, rule, ctx)
    return None if message is None else Problem(INVALID, name, prefix + (rule.message or message))


def _line_problems(deal: DealInput, ruleset: RuleSet) -> list[Problem]:
    problems: list[Problem] = []
    rules = [r for r in ruleset.line_rules if r.when is None or CONDITIONS[r.when](deal)]
    for index, ln in enumerate(deal.lines):
        for rule in rules:
            name = f"lines[{index}].{rule.field}"
            problem = _judge(ln.get(rule.field), name, deal, rule, ruleset.context, f"line {index + 1}: ")
            if problem is not None:
                problems.append(problem)
    return problems


def lines_net(lines: tuple[LineInput, ...]) -> Decimal | None:
    """What the lines add up to on the invoice (each line's quantity x price rounded to cents), or
    None while a line's quantity or price is not a number."""
    total = ZERO
    try:
        for ln in lines:
            total += round2(D(ln.quantity.strip() or "1") * D(ln.unit_price))
    except (MoneyError, ArithmeticError):  # ArithmeticError: decimal's own, for an absurd magnitude
        return None
    return total


def _amount_problem(deal: DealInput, ctx: ReadinessContext) -> Problem | None:
    """The deal's amount against its lines; none while either is not a number (a rules file
    without rules on them leaves that to drafting)."""
    try:
        amount = D(deal.get("amount"))
    except MoneyError:
        return None
    total = lines_net(deal.lines)
    if total is None or abs(amount - total) <= ctx.amount_tolerance:
        return None
    return Problem(
        AMOUNT_MISMATCH,
        "amount",
        f"amount {amount} differs from the sum of the lines {total} by {abs(amount - total)} "
        f"(tolerance {ctx.amount_tolerance}): the invoice would bill the lines",
    )


def check(deal: DealInput, ruleset: RuleSet) -> list[Problem]:
    """Every problem that stands between this deal and an invoice: the deal's rules in order, then
    each line's, then the amount against the lines."""
    problems: list[Problem] = []
    ctx = ruleset.context
    for rule in ruleset.rules:
        if rule.when is not None and not CONDITIONS[rule.when](deal):
            continue
        problem = _judge(deal.get(rule.field), rule.field, deal, rule, ctx, "")
        if problem is not None:
            problems.append(problem)
    if deal.lines:
        line_problems = _line_problems(deal, ruleset)
        problems += line_problems
        # compared once the values compared are good (a line's bad quantity is its own problem)
        if not line_problems and not any(p.field == "amount" for p in problems):
            mismatch = _amount_problem(deal, ctx)
            if mismatch is not None:
                problems.append(mismatch)
    return problems

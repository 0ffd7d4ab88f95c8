"""Billing readiness: configurable rules that judge a deal's fields and return problems as data.

A rule names a field, a check and optionally a condition under which it applies. Checks never
raise: each failure is a `Problem(code, field, message)` with code `missing` (no value) or
`invalid` (a value that fails the check). The exception queue is simply the stored problems.

Lines are judged too, each by the line rules (a field of the line: `unit_price`, `quantity`, ...),
their problems named by line, `lines[2].unit_price` (counted from 0, as in JSON). Discounts (a
line's `discount`, the deal's `discount`: "10%" or an amount) are judged always, a bad one invalid
on `lines[2].discount` or `discount`. A deal with lines whose amount differs from the sum of their
nets (quantity x price, rounded as on the invoice, less the line's discount) by more than the
configured tolerance, and from that sum less the deal's discount too, gets an `amount_mismatch`
problem on `amount`: the invoice bills the lines, so a disagreement is a question for the deal's
owner, never billed silently. Whatever
drafting parses (`orders.to_billable`) is judged here first, so a bad value blocks the deal instead
of failing its event; and so is what drafting's VAT determination needs of a line (a known tax
category with a rate configured where the line is taxed), on `lines[2].tax_category`, whatever the
rules file says; and the customer's e-invoice preference (`invoice_format`), for the same reason.
So are a line's billing terms (`billing`, `frequency`, `start`, `ramp`, `milestones`, ...: what
the quote lock reads, `billing_terms`) and the deal's `billing_start` and signed document, when
given: a deal without any pays one look at a few empty strings. A deal with a line billed per
period, per hour or per use is not compared with its amount (a CRM states a yearly, a total or a
first-period value there).

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
from typing import NamedTuple

import pycountry
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat

from handoff.deals.domain.billing_terms import TermsError, billed_over_time, day, term_problems
from handoff.deals.domain.countries import country_code, country_error, subdivision_code
from handoff.deals.domain.drafting import untaxable_lines
from handoff.deals.domain.orders import FALSE_WORDS, TRUE_WORDS, DealInput, LineInput
from handoff.invoicing.domain.allowances import DiscountError, parse_discount
from handoff.invoicing.domain.einvoice import leitweg_id_error, peppol_id_error
from handoff.invoicing.domain.formats import format_error
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES, SUPPLY_KINDS, VatRates
from handoff.kernel.money import CENT, ZERO, D, MoneyError, round2
from handoff.kernel.parties import EU_MEMBER_STATES, LegalEntity, vat_prefix


class ProblemCode(enum.StrEnum):
    """What is wrong with a field (stable, relied on by `handoff check` consumers)."""

    MISSING = "missing"  # no value
    INVALID = "invalid"  # a value that fails its check
    AMOUNT_MISMATCH = "amount_mismatch"  # the deal's amount is not what its lines add up to
    # drafting could not determine the tax (no rate, no jurisdiction, tax engine down or refusing):
    # set by intake, never by `check`, so `handoff check` never reports it
    TAX_UNDETERMINED = "tax_undetermined"
    # its e-invoice failed a fatal validation rule at issue (`einvoice_holds`); the draft waits
    EINVOICE_INVALID = "einvoice_invalid"


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
    far a deal's amount may differ from the sum of its lines (in the deal's currency); with the
    entities' details and the VAT rates, each line is also checked to be taxable as drafting taxes it."""

    legal_entities: frozenset[str]
    payment_terms: frozenset[str]
    amount_tolerance: Decimal = CENT
    entities: Mapping[str, LegalEntity] = field(default_factory=dict)
    vat_rates: VatRates | None = None
    # which (seller, buyer's tax facts, supply, category) drafting can tax: asked once per context
    tax_verdicts: dict[tuple[object, ...], str | None] = field(default_factory=dict, compare=False, repr=False)


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
    # the rules resolved once to their check functions and conditions (`_plan`): `check` runs per deal
    plan: tuple[PlannedRule, ...] = field(init=False, repr=False, compare=False)
    line_plan: tuple[PlannedRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", _plan(self.rules))
        object.__setattr__(self, "line_plan", _plan(self.line_rules))


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
    value = deal.fields.get("country", "")
    return country_code(value) or value.upper()


@lru_cache(maxsize=1024)
def _currency_error(value: str) -> str | None:
    if len(value) == 3 and value.isalpha() and pycountry.currencies.get(alpha_3=value.upper()):
        return None
    return f"currency {value!r} is not an ISO 4217 code"


def _currency(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return _currency_error(value)


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
    return None if value.lower() in BOOLEAN_WORDS else f"{value!r} is not a yes/no value"


def _invoice_format(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return format_error(value)


def _present(_v: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    return None


def _us_state(value: str, _d: DealInput, _r: Rule, _c: ReadinessContext) -> str | None:
    if subdivision_code("US", value) is not None:
        return None
    return f"state {value!r} is not a US state, district or territory (a USPS code such as TX, or its name)"


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
    "invoice_format": _invoice_format,
    "us_state": _us_state,
}

# `optional_*` checks judge a value only when one is given (no `missing` problem).
OPTIONAL_PREFIX = "optional_"
BOOLEAN_WORDS = TRUE_WORDS | FALSE_WORDS


def _business_in_eu(deal: DealInput) -> bool:
    return deal.is_business and _deal_country(deal) in EU_MEMBER_STATES


CONDITIONS: dict[str, Callable[[DealInput], bool]] = {
    "business_in_eu": _business_in_eu,
    "requires_po": lambda deal: deal.requires_po is True,
    "business": lambda deal: deal.is_business,
    "consumer": lambda deal: not deal.is_business,
    "us_customer": lambda deal: _deal_country(deal) == "US",  # sales tax needs the state and ZIP
}


class PlannedRule(NamedTuple):
    """A rule resolved to what judging it calls: its check, whether a missing value is fine, and
    its condition (None: always)."""

    rule: Rule
    judge: Check
    optional: bool
    when: Callable[[DealInput], bool] | None


def _plan(rules: tuple[Rule, ...]) -> tuple[PlannedRule, ...]:
    """The rules resolved once per rule set, so judging a deal looks nothing up by name (the rules
    loader has checked every check and condition name)."""
    return tuple(
        PlannedRule(
            r,
            CHECKS[r.check.removeprefix(OPTIONAL_PREFIX)],
            r.check.startswith(OPTIONAL_PREFIX),
            None if r.when is None else CONDITIONS[r.when],
        )
        for r in rules
    )


def _judge(
    value: str, name: str, deal: DealInput, planned: PlannedRule, ctx: ReadinessContext, prefix: str
) -> Problem | None:
    """One rule on one value (`name`: the field a problem names; `prefix`: said before its message)."""
    value = value.strip()
    if not value:
        return None if planned.optional else Problem(MISSING, name, f"{name} is missing")
    message = planned.judge(value, deal, planned.rule, ctx)
    return None if message is None else Problem(INVALID, name, prefix + (planned.rule.message or message))


def _line_problems(deal: DealInput, ruleset: RuleSet) -> list[Problem]:
    problems: list[Problem] = []
    plan = [p for p in ruleset.line_plan if p.when is None or p.when(deal)]
    for index, ln in enumerate(deal.lines):
        for planned in plan:
            name = f"lines[{index}].{planned.rule.field}"
            problem = _judge(ln.get(planned.rule.field), name, deal, planned, ruleset.context, f"line {index + 1}: ")
            if problem is not None:
                problems.append(problem)
    return problems


def _line_gross(ln: LineInput) -> Decimal | None:
    """A line's quantity x price rounded to cents, as on the invoice; None while not numbers."""
    try:
        return round2(D(ln.quantity.strip() or "1") * D(ln.unit_price))
    except (MoneyError, ArithmeticError):  # ArithmeticError: decimal's own, for an absurd magnitude
        return None


def lines_net(lines: tuple[LineInput, ...]) -> Decimal | None:
    """What the lines add up to on the invoice (BT-106: each line's quantity x price rounded to
    cents, less its own discount), or None while a line's quantity, price or discount is not good."""
    total = ZERO
    for ln in lines:
        gross = _line_gross(ln)
        try:
            discount = parse_discount(ln.discount)
        except DiscountError:
            return None
        if gross is None:
            return None
        total += gross - (discount.of(gross) if discount else ZERO)
    return total


def _amount_problem(deal: DealInput, ctx: ReadinessContext) -> Problem | None:
    """The deal's amount against its lines after their discounts, or after the deal's discount
    too (a CRM may state the amount either way); none while any of them is not good (a rules file
    without rules on them leaves that to drafting)."""
    try:
        amount = D(deal.get("amount"))
        discount = parse_discount(deal.get("discount"))
    except (MoneyError, DiscountError):
        return None
    total = lines_net(deal.lines)
    if total is None:
        return None
    billed = total - discount.of(total) if discount and not discount.is_zero else None
    if any(abs(amount - x) <= ctx.amount_tolerance for x in (total, billed) if x is not None):
        return None
    if billed is None:
        said = f"differs from the sum of the lines {total} by {abs(amount - total)}"
    else:
        said = f"is neither the sum of the lines {total} nor that less the deal's discount of {discount}, {billed}"
    return Problem(
        AMOUNT_MISMATCH,
        "amount",
        f"amount {amount} {said} (tolerance {ctx.amount_tolerance}): the invoice would bill the lines",
    )


def _discount_problems(deal: DealInput) -> list[Problem]:
    """Each discount drafting reads (each line's, then the deal's), judged whatever the rules file
    says: readable, not negative, at most 100 % or the amount it comes off (a line's quantity x
    price; for the deal, its lines' total after their discounts, or its amount without lines),
    which must be positive for a discount to come off it. A line whose price or quantity is not a
    number is compared with nothing (its own problem says so), nor is the deal then."""
    if not deal.get("discount") and not any(ln.discount for ln in deal.lines):
        return []  # the common case: nothing to judge
    problems: list[Problem] = []
    for index, ln in enumerate(deal.lines):
        problem = _discount_problem(
            ln.discount, _line_gross(ln), f"lines[{index}].discount", f"line {index + 1}: ", "the line's amount"
        )
        if problem is not None:
            problems.append(problem)
    if deal.lines:
        base = None if problems else lines_net(deal.lines)
        what = "the lines' total"
    else:
        try:
            base = D(deal.get("amount"))
        except MoneyError:
            base = None
        what = "the deal's amount"
    problem = _discount_problem(deal.get("discount"), base, "discount", "", what)
    return problems + ([problem] if problem is not None else [])


def _discount_problem(text: str, base: Decimal | None, name: str, prefix: str, what: str) -> Problem | None:
    try:
        discount = parse_discount(text)
    except DiscountError as exc:
        return Problem(INVALID, name, f"{prefix}{exc}")
    if discount is None or discount.is_zero or base is None:
        return None
    if base <= 0:
        why = f"discount {discount} needs a positive amount to come off; {what} is {base}"
        return Problem(INVALID, name, prefix + why)
    if discount.of(base) > base:
        return Problem(INVALID, name, f"{prefix}discount {discount} is above {what} {base}")
    return None


def _tax_problems(deal: DealInput, ctx: ReadinessContext, found: list[Problem]) -> list[Problem]:
    """A line drafting could not tax, as a problem on its `tax_category` (or its `supply`, when that
    is what is unknown): an unknown category, or no VAT rate configured where the line is taxed.
    Asked of drafting itself (`drafting.untaxable_lines`), so readiness and drafting agree; not
    while the seller or the buyer's country is in question (their own problems say so), nor again
    for a line whose category or supply a rule already judged bad. A deal without lines is billed
    as one standard-rated line: a problem there is the selling entity's (`legal_entity`)."""
    seller = ctx.entities.get(deal.get("legal_entity"))
    if seller is None or ctx.vat_rates is None or country_code(deal.get("country")) is None:
        return []
    untaxable = untaxable_lines(deal, seller, ctx.vat_rates, ctx.tax_verdicts)
    if not untaxable:
        return []
    judged = {p.field for p in found}
    problems: list[Problem] = []
    for index, why in untaxable:
        if not deal.lines:
            problems.append(Problem(INVALID, "legal_entity", f"the deal is billed as one standard-rated line: {why}"))
            continue
        ln = deal.lines[index]
        name = "supply" if (ln.supply.strip().lower() or "services") not in SUPPLY_KINDS else "tax_category"
        if {f"lines[{index}].tax_category", f"lines[{index}].supply"} & judged:
            continue
        problems.append(Problem(INVALID, f"lines[{index}].{name}", f"line {index + 1}: {why}"))
    return problems


INVOICE_FORMAT_RULE = _plan((Rule("invoice_format", "optional_invoice_format"),))[0]  # judged for every deal


def check(deal: DealInput, ruleset: RuleSet) -> list[Problem]:
    """Every problem that stands between this deal and an invoice: the deal's rules in order, then
    each line's, then the discounts, then the amount against the lines, then whether each line can
    be taxed."""
    problems: list[Problem] = []
    ctx = ruleset.context
    given = deal.fields.get  # a generic field's value in one lookup; a custom one through `get`
    for planned in ruleset.plan:
        if planned.when is not None and not planned.when(deal):
            continue
        name = planned.rule.field
        value = given(name)
        problem = _judge(deal.get(name) if value is None else value, name, deal, planned, ctx, "")
        if problem is not None:
            problems.append(problem)
    line_problems = _line_problems(deal, ruleset) if deal.lines else []
    problems += line_problems
    discount_problems = _discount_problems(deal)
    problems += discount_problems
    terms_given, billed_over_time = _terms_given(deal)
    if terms_given:
        problems += _billing_term_problems(deal)
    # compared once the values compared are good (a line's bad quantity is its own problem); not
    # for a line billed per period, per use or per hour: the deal's amount is no sum of its prices
    if (
        deal.lines
        and not billed_over_time
        and not line_problems
        and not discount_problems
        and not any(p.field == "amount" for p in problems)
    ):
        mismatch = _amount_problem(deal, ctx)
        if mismatch is not None:
            problems.append(mismatch)
    problems += _tax_problems(deal, ctx, problems)
    # drafting reads the e-invoice preference whatever the rules file says, so it is judged here too
    if not any(p.field == "invoice_format" for p in problems):
        fmt = _judge(deal.get("invoice_format"), "invoice_format", deal, INVOICE_FORMAT_RULE, ctx, "")
        problems += [fmt] if fmt is not None else []
    problems += _einvoice_address_problems(deal, problems)
    return problems


def _terms_given(deal: DealInput) -> tuple[bool, bool]:
    """(whether the deal gives billing terms, whether a line of it is billed over time). Cheap for
    the common deal, which gives none: a few empty strings looked at. A line's terms are judged
    when one of its lines says how it bills (`billing`, `frequency`, `milestones`, `ramp`: what
    changes what it bills); the others only apply to a line that says so."""
    get = deal.fields.get
    given = bool(get("billing_start") or get("signed_document_url") or get("signed_document_sha256"))
    over_time = False
    for ln in deal.lines:
        if ln.billing or ln.frequency or ln.milestones or ln.ramp:
            given = True
            over_time = over_time or billed_over_time(ln)
    return given, over_time


def _billing_term_problems(deal: DealInput) -> list[Problem]:
    """Each line's billing terms (`billing_terms.term_problems`) and the deal's contract fields,
    judged whatever the rules file says, as the quote lock reads them: a bad value is `invalid` on
    `lines[N].<field>` (or the deal field), a recurring line without its frequency or an end
    `missing`."""
    problems: list[Problem] = []
    for index, ln in enumerate(deal.lines):
        for found in term_problems(ln):
            code = MISSING if found.missing else INVALID
            problems.append(Problem(code, f"lines[{index}].{found.field}", f"line {index + 1}: {found.message}"))
    if deal.get("discount") and any(not ln.is_one_time for ln in deal.lines):
        why = "a deal-level discount is not carried to a contract: give each line its own discount"
        problems.append(Problem(INVALID, "discount", why))
    if text := deal.get("billing_start"):
        try:
            day(text, "billing_start")
        except TermsError as exc:
            problems.append(Problem(INVALID, "billing_start", str(exc)))
    url, digest = deal.get("signed_document_url"), deal.get("signed_document_sha256")
    if digest and not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        problems.append(Problem(INVALID, "signed_document_sha256", f"{digest!r} is not a SHA-256 hex digest"))
    if digest and not url:
        why = "signed_document_url is missing: the signed document's SHA-256 is given, not where it is"
        problems.append(Problem(MISSING, "signed_document_url", why))
    if url and not digest:
        why = "signed_document_sha256 is missing: the signed document is kept with its SHA-256"
        problems.append(Problem(MISSING, "signed_document_sha256", why))
    return problems


def _einvoice_address_problems(deal: DealInput, found: list[Problem]) -> list[Problem]:
    """The e-invoice addressing drafting reads whatever the rules file says: a Peppol ID (BT-49)
    and a Leitweg-ID (BT-10) must be valid when given; a German public buyer needs its Leitweg-ID."""
    peppol_id, leitweg_id = deal.get("peppol_id").strip(), deal.get("leitweg_id").strip()
    public = deal.get("public_sector").strip().lower()
    if not (peppol_id or leitweg_id or public):
        return []  # the common case: no e-invoice addressing given, none needed
    judged = {p.field for p in found}
    problems: list[Problem] = []
    if "peppol_id" not in judged and peppol_id and (why := peppol_id_error(peppol_id)):
        problems.append(Problem(INVALID, "peppol_id", why))
    if "public_sector" not in judged and public not in BOOLEAN_WORDS:
        problems.append(Problem(INVALID, "public_sector", f"{public!r} is not a yes/no value"))
    if "leitweg_id" in judged:
        return problems
    if leitweg_id and (why := leitweg_id_error(leitweg_id)):
        problems.append(Problem(INVALID, "leitweg_id", why))
    elif not leitweg_id and public in TRUE_WORDS and country_code(deal.get("country")) == "DE":
        problems.append(
            Problem(MISSING, "leitweg_id", "leitweg_id is missing: a German public buyer is invoiced by its Leitweg-ID")
        )
    return problems

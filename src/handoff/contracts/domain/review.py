"""Deal-desk review of a contract version: the approval matrix.

A `TermsPolicy` says which terms a contract may carry without review: the largest discount (a
percentage; an amount discount counts as its share of the line's quantity x unit_price per
period), the longest payment terms (codes such as "net30" mapped to days by the configured
payment terms, EN 16931 BT-20 states them on the invoice), the most days from the deal's close to
the start of billing, whether a price not from the price list needs review and whether a manual
tax treatment does. `review` returns the findings as data, never raises: each with a stable code,
the field it concerns (`lines[L2].discount`, `payment_terms`, `billing_start`,
`lines[L1].unit_price`, `lines[L1].ramp[2028-01-01].unit_price`, `tax_treatment`) and a message
with the numbers. `policy_from_mapping` reads a policy from configuration, refusing what cannot be
one with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from handoff.contracts.domain.model import ContractLine, ContractVersion
from handoff.invoicing.domain.allowances import DiscountError, parse_discount
from handoff.kernel.money import ZERO

HUNDRED = Decimal(100)

# Finding codes (stable: stored, filtered on and shown to approvers)
DISCOUNT_ABOVE_LIMIT = "discount_above_limit"
DISCOUNT_UNREADABLE = "discount_unreadable"  # a discount no one can judge (validate refuses it too)
PAYMENT_TERMS_BEYOND_LIMIT = "payment_terms_beyond_limit"
PAYMENT_TERMS_UNKNOWN = "payment_terms_unknown"  # terms not in the mapping: their days are unknown
BILLING_START_LATE = "billing_start_late"
PRICE_OFF_LIST = "price_off_list"
MANUAL_TAX_TREATMENT = "manual_tax_treatment"

ListPrice = Callable[[str, str, date], Decimal | None]  # (sku, currency, day) -> unit price, None if unlisted


class PolicyError(ValueError):
    """A review policy that cannot be read; the message names the key."""


@dataclass(frozen=True, slots=True)
class TermsPolicy:
    """What a contract may carry without review; a None limit is no limit."""

    max_discount_percent: Decimal | None = None
    max_payment_terms_days: int | None = None
    max_days_to_billing_start: int | None = None  # from the close date to billing_start
    review_price_off_list: bool = True
    review_manual_tax: bool = True
    payment_terms: Mapping[str, int] = field(default_factory=dict)  # code -> days until due


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


def review(
    version: ContractVersion, policy: TermsPolicy, close_date: date | None, list_price: ListPrice, manual_tax: bool
) -> list[Finding]:
    """The findings that send `version` to review under `policy`, lines first (in their order),
    then the terms. `list_price` gives the price list's unit price of a sku in a currency on a day.
    `close_date`: the deal's close; unknown (a contract locked by hand), the billing start is not
    judged against it and prices are those of the billing start."""
    findings: list[Finding] = []
    currency = version.terms.currency
    start = version.terms.billing_start
    for line in version.lines:
        findings.extend(_discount(line, policy))
        if policy.review_price_off_list:
            findings.extend(_prices(line, currency, close_date or start, list_price))
    findings.extend(_payment_terms(version.terms.payment_terms, policy))
    if policy.max_days_to_billing_start is not None and close_date is not None:
        days = (start - close_date).days
        if days > policy.max_days_to_billing_start:
            findings.append(
                Finding(
                    BILLING_START_LATE,
                    "billing_start",
                    f"billing starts on {start}, {days} days after the close on {close_date}: "
                    f"more than the {policy.max_days_to_billing_start} days allowed",
                )
            )
    if manual_tax and policy.review_manual_tax:
        findings.append(
            Finding(MANUAL_TAX_TREATMENT, "tax_treatment", "the tax treatment was set by hand, not determined")
        )
    return findings


def _discount(line: ContractLine, policy: TermsPolicy) -> list[Finding]:
    limit = policy.max_discount_percent
    if limit is None:
        return []
    where = f"lines[{line.key}].discount"
    try:
        discount = parse_discount(line.discount)
    except DiscountError as exc:
        return [Finding(DISCOUNT_UNREADABLE, where, f"line {line.key} discount is unreadable: {exc}")]
    if discount is None or discount.is_zero:
        return []
    if discount.percentage is not None:
        percent, stated = discount.percentage, f"{discount.percentage}%"
    else:
        base = line.quantity * line.unit_price
        amount = discount.amount or ZERO
        percent = HUNDRED if base <= ZERO else amount * HUNDRED / base  # compared unrounded
        shown = percent.quantize(Decimal("0.01"))
        stated = f"{amount} ({shown}% of {line.quantity} x {line.unit_price})"
    if percent <= limit:
        return []
    return [Finding(DISCOUNT_ABOVE_LIMIT, where, f"line {line.key} discount {stated} is above the {limit}% limit")]


def _prices(line: ContractLine, currency: str, close_date: date, list_price: ListPrice) -> list[Finding]:
    key, sku = line.key, line.product
    if not sku:
        return [
            Finding(
                PRICE_OFF_LIST,
                f"lines[{key}].unit_price",
                f"line {key} has no product: its price {line.unit_price} {currency} is not from the price list",
            )
        ]
    checks = [(f"lines[{key}].unit_price", line.unit_price, close_date)]
    checks += [(f"lines[{key}].ramp[{s.starts}].unit_price", s.unit_price, s.starts) for s in line.rule.ramp]
    findings = []
    for where, price, day in checks:
        listed = list_price(sku, currency, day)
        if listed is None:
            message = f"line {key} price {price} {currency}: {sku} has no list price in {currency} on {day}"
        elif listed != price:
            message = f"line {key} price {price} {currency} differs from the list price {listed} of {sku} on {day}"
        else:
            continue
        findings.append(Finding(PRICE_OFF_LIST, where, message))
    return findings


def _payment_terms(code: str, policy: TermsPolicy) -> list[Finding]:
    limit = policy.max_payment_terms_days
    if limit is None:
        return []
    days = policy.payment_terms.get(code)
    if days is None:
        return [
            Finding(
                PAYMENT_TERMS_UNKNOWN,
                "payment_terms",
                f"payment terms {code!r} are not among the configured terms: their days cannot be "
                f"checked against the {limit}-day limit",
            )
        ]
    if days <= limit:
        return []
    return [
        Finding(
            PAYMENT_TERMS_BEYOND_LIMIT,
            "payment_terms",
            f"payment terms {code} give {days} days, more than the {limit} days allowed",
        )
    ]


# ---- reading a policy ----

_KEYS = (
    "max_discount_percent",
    "max_payment_terms_days",
    "max_days_to_billing_start",
    "review_price_off_list",
    "review_manual_tax",
)


def policy_from_mapping(doc: Mapping[str, Any], payment_terms: Mapping[str, int] | None = None) -> TermsPolicy:
    """The policy a configuration mapping states (keys as `TermsPolicy`'s fields; all optional);
    `payment_terms`: the configured payment terms codes and their days. PolicyError naming the
    key on anything else."""
    if not isinstance(doc, Mapping):
        raise PolicyError(f"review policy: is not a mapping but {type(doc).__name__}")
    unknown = sorted(str(key) for key in doc if key not in _KEYS)
    if unknown:
        raise PolicyError(f"review policy: unknown keys {', '.join(unknown)} (known: {', '.join(_KEYS)})")
    terms: dict[str, int] = {}
    for code, days in (payment_terms or {}).items():
        terms[str(code)] = _whole(days, f"payment_terms.{code}")
    percent = doc.get("max_discount_percent")
    return TermsPolicy(
        max_discount_percent=None if percent is None else _percent(percent),
        max_payment_terms_days=_optional_whole(doc, "max_payment_terms_days"),
        max_days_to_billing_start=_optional_whole(doc, "max_days_to_billing_start"),
        review_price_off_list=_flag(doc, "review_price_off_list"),
        review_manual_tax=_flag(doc, "review_manual_tax"),
        payment_terms=terms,
    )


def _percent(value: Any) -> Decimal:
    name = "max_discount_percent"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PolicyError(f"review policy: {name} must be a number from 0 to 100, not {value!r}")
    try:
        # a YAML 12.5 arrives as a float: read it by its shortest repr, which is what was written
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip().removesuffix("%"))
    except InvalidOperation:
        raise PolicyError(f"review policy: {name} must be a number from 0 to 100, not {value!r}") from None
    if not number.is_finite() or not ZERO <= number <= HUNDRED:
        raise PolicyError(f"review policy: {name} must be a number from 0 to 100, not {value!r}")
    return number


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"review policy: {name} must be a whole number of days, 0 or more, not {value!r}")
    return value


def _optional_whole(doc: Mapping[str, Any], name: str) -> int | None:
    value = doc.get(name)
    return None if value is None else _whole(value, name)


def _flag(doc: Mapping[str, Any], name: str) -> bool:
    value = doc.get(name, True)
    if not isinstance(value, bool):
        raise PolicyError(f"review policy: {name} must be true or false, not {value!r}")
    return value

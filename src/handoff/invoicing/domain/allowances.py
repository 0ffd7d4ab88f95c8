"""Discounts and the EN 16931 allowances they become.

A deal states a discount (`Discount`) as a percentage of what it applies to ("10%") or as an amount
in the deal currency ("500.00"); `parse_discount` reads that text, refusing what cannot be one
(unreadable, negative, above 100 %, more than two decimals, out of range).

- A line's discount is a line allowance (BG-27: amount BT-136, base BT-137, percentage BT-138,
  reason BT-139, reason code BT-140). It lowers the line net amount (BT-131 = quantity x price,
  rounded, minus the line's allowances: BR-LIN-04). A percentage is taken of the line's
  quantity x price rounded to cents; the allowance is rounded to cents.
- A deal's discount is a document-level allowance (BG-20: amount BT-92, base BT-93, percentage
  BT-94, VAT category BT-95 and rate BT-96, reason BT-97, reason code BT-98), one per VAT category
  and rate of the deal's lines, since each VAT breakdown's taxable amount (BT-116) is its lines'
  nets less its allowances (BR-S-08, BR-AE-08, ...). The discount is first rounded to cents as a
  whole (a percentage of the lines' nets after their own discounts), then split over the
  categories in proportion to their nets, each share rounded to cents and the remainder on the
  last, so the shares add up to the discount exactly. Only categories with a positive net take a
  share (a credit line is not discounted).

Allowances are discounts (UNCL 5189 reason code 95, "Discount"); charges do not arise. Amounts are
Decimal throughout and every rounding is `round2` (half away from zero, to cents).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from handoff.invoicing.domain.tax import VatCategory
from handoff.kernel.money import ZERO, round2

DISCOUNT_REASON = "Discount"  # BT-97 / BT-139
DISCOUNT_CODE = "95"  # BT-98 / BT-140: UNCL 5189 "Discount"

# Amounts must stay below this (as readiness's other amounts): larger ones are typing accidents.
MAX_DISCOUNT = Decimal("1e12")
HUNDRED = Decimal("100")
_PERCENT = re.compile(r"^(?P<number>[^%\s]+)\s*%$")


class DiscountError(ValueError):
    """Text that is not a usable discount; the message says why."""


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount as a deal states it: `percentage` (10 for "10%") or `amount` (deal currency)."""

    percentage: Decimal | None = None
    amount: Decimal | None = None

    def of(self, base: Decimal) -> Decimal:
        """How much comes off `base` (the percentage of it rounded to cents, or the amount)."""
        if self.percentage is not None:
            return round2(base * self.percentage / HUNDRED)
        return self.amount if self.amount is not None else ZERO

    @property
    def is_zero(self) -> bool:
        return not (self.percentage or self.amount)

    def __str__(self) -> str:
        if self.percentage is not None:
            return f"{self.percentage}%"
        return f"{self.amount}"


def parse_discount(text: str) -> Discount | None:
    """The discount `text` states ("10%", "12.5 %", "500.00"), None for an empty one."""
    value = text.strip()
    if not value:
        return None
    match = _PERCENT.match(value)
    number_text = match.group("number") if match else value
    try:
        number = Decimal(number_text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or "%" in number_text:
        raise DiscountError(f"discount {value!r} is neither a percentage like '10%' nor an amount like '500.00'")
    if number < 0:
        raise DiscountError(f"discount {value} is negative")
    if match:
        if number > HUNDRED:
            raise DiscountError(f"discount {value} is above 100 %")
        return Discount(percentage=number)
    if number >= MAX_DISCOUNT:
        raise DiscountError(f"discount {value} is out of range: it must be below {MAX_DISCOUNT:,f}")
    if number != round2(number):
        raise DiscountError(f"discount {value} has more than two decimals: an amount is in cents")
    return Discount(amount=number)


@dataclass(frozen=True, slots=True)
class LineAllowance:
    """BG-27: an allowance on one invoice line (a discount)."""

    amount: Decimal  # BT-136
    base_amount: Decimal | None = None  # BT-137, with a percentage only
    percentage: Decimal | None = None  # BT-138
    reason: str = DISCOUNT_REASON  # BT-139
    reason_code: str = DISCOUNT_CODE  # BT-140


@dataclass(frozen=True, slots=True)
class DocumentAllowance:
    """BG-20: an allowance on the document, in one VAT category and rate."""

    amount: Decimal  # BT-92
    category: VatCategory  # BT-95
    rate: Decimal  # BT-96
    base_amount: Decimal | None = None  # BT-93, with a percentage only
    percentage: Decimal | None = None  # BT-94
    reason: str = DISCOUNT_REASON  # BT-97
    reason_code: str = DISCOUNT_CODE  # BT-98
    order_ref: str = ""  # the deal whose discount this is


def line_allowance(
    base: Decimal, discount: Discount | None, quantity: Decimal | None = None, ordered: Decimal | None = None
) -> LineAllowance | None:
    """The allowance of a line whose quantity x price is `base` (rounded), or None without one.
    Billing `quantity` of `ordered` (a partial invoice or credit), an amount discount is that
    share of it, rounded to cents; a percentage is taken of `base`."""
    if discount is None or discount.is_zero:
        return None
    if discount.percentage is not None:
        amount = discount.of(base)
        return LineAllowance(amount, base, discount.percentage) if amount else None
    amount = discount.of(base)
    if quantity is not None and ordered and quantity != ordered:
        amount = round2(amount * quantity / ordered)
    return LineAllowance(amount) if amount else None


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`total` split in proportion to `weights` (positive, not all zero): each share rounded to
    cents, the last taking what is left, so the shares add up to `total` exactly."""
    whole = sum(weights, ZERO)
    shares = [round2(total * w / whole) for w in weights[:-1]]
    return [*shares, total - sum(shares, ZERO)]


class Billed(Protocol):
    """What allowances need of an invoice line."""

    @property
    def net_amount(self) -> Decimal: ...

    @property
    def order_ref(self) -> str: ...

    @property
    def tax(self) -> _Taxed: ...


class _Taxed(Protocol):
    @property
    def category(self) -> VatCategory: ...

    @property
    def rate(self) -> Decimal: ...


GroupKey = tuple[VatCategory, Decimal]


def vat_groups(lines: Iterable[Billed]) -> dict[GroupKey, Decimal]:
    """The lines' nets by VAT category and rate, in the order of the VAT breakdown."""
    groups: dict[GroupKey, Decimal] = defaultdict(lambda: ZERO)
    for ln in lines:
        groups[(ln.tax.category, ln.tax.rate)] += ln.net_amount
    return dict(sorted(groups.items()))


def document_allowances(
    lines: Sequence[Billed],
    discount: Discount | None,
    order_ref: str,
    reason: str = DISCOUNT_REASON,
    total: Decimal | None = None,
) -> tuple[DocumentAllowance, ...]:
    """An order's discount over its invoice `lines`: one allowance per VAT category and rate with
    a positive net. `total`: the amount to split when it is not the discount of these lines (the
    share of an amount discount that a partial invoice bills)."""
    if discount is None or discount.is_zero:
        return ()
    groups = {key: net for key, net in vat_groups(lines).items() if net > 0}
    if not groups:
        return ()
    base = sum(groups.values(), ZERO)
    amount = discount.of(base) if total is None else total
    shares = allocate(amount, list(groups.values()))
    return tuple(
        DocumentAllowance(
            share,
            category,
            rate,
            net if discount.percentage is not None else None,
            discount.percentage,
            reason,
            DISCOUNT_CODE,
            order_ref,
        )
        for ((category, rate), net), share in zip(groups.items(), shares, strict=True)
        if share
    )


def _net_of(lines: Iterable[Billed], a: DocumentAllowance) -> Decimal:
    """The net of the lines an allowance applies to: its order's (any order's when it names
    none) in its VAT category and rate."""
    return sum(
        (
            ln.net_amount
            for ln in lines
            if (ln.tax.category, ln.tax.rate) == (a.category, a.rate)
            and (ln.order_ref == a.order_ref or not a.order_ref)
        ),
        ZERO,
    )


def credited_allowances(
    allowances: Sequence[DocumentAllowance], invoiced: Sequence[Billed], credited: Sequence[Billed]
) -> tuple[DocumentAllowance, ...]:
    """The document allowances of a credit note for `credited` lines of an invoice with
    `invoiced` lines: each allowance in the share of its lines' net that is credited, rounded to
    cents (all of its lines: the allowance as it was)."""
    out = []
    for a in allowances:
        of, credited_net = _net_of(invoiced, a), _net_of(credited, a)
        if of <= 0 or credited_net <= 0:
            continue
        amount = a.amount if credited_net == of else round2(a.amount * credited_net / of)
        if amount:
            base = credited_net if a.percentage is not None else None
            out.append(
                DocumentAllowance(amount, a.category, a.rate, base, a.percentage, a.reason, a.reason_code, a.order_ref)
            )
    return tuple(out)


def document_allowance_shares(lines: Sequence[Billed], allowances: Sequence[DocumentAllowance]) -> list[Decimal]:
    """Each line's share of the document allowances: an allowance spread over the lines of its
    order and VAT category with a positive net, in proportion to their nets (rounded to cents,
    the remainder on the last). For a ledger that knows only line discounts."""
    shares = [ZERO] * len(lines)
    for a in allowances:
        members = [
            i
            for i, ln in enumerate(lines)
            if (ln.tax.category, ln.tax.rate) == (a.category, a.rate)
            and ln.net_amount > 0
            and (ln.order_ref == a.order_ref or not a.order_ref)
        ]
        if not members:
            continue
        for i, share in zip(members, allocate(a.amount, [lines[i].net_amount for i in members]), strict=True):
            shares[i] += share
    return shares


def allowance_totals(allowances: Iterable[DocumentAllowance]) -> Mapping[GroupKey, Decimal]:
    """The document allowances' amounts by VAT category and rate."""
    totals: dict[GroupKey, Decimal] = defaultdict(lambda: ZERO)
    for a in allowances:
        totals[(a.category, a.rate)] += a.amount
    return totals

"""Cash application vocabulary: open invoices, evidence, allocations, proposals, the policy.

The engine that produces proposals is `handoff.domain.matching`; these are the values it takes
and returns, and the evidence weights its confidence is computed from (1 - prod(1 - weight)).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

ZERO = Decimal("0")
WEIGHTS = {
    "reference": 0.9,  # valid structured reference equal to the invoice's payment reference
    "invoice_number": 0.8,  # invoice number found in the remittance text
    "invoice_number_near": 0.55,  # ... within one typo
    "amount_exact": 0.5,  # amount equals what is open
    "amount_sum": 0.5,  # amount equals the sum of the invoices found / combined
    "amount_within_tolerance": 0.3,
    "name": 0.5,  # payer name matches the customer
    "name_partial": 0.2,
    "unique_amount": 0.4,  # the only open invoice (or combination) of this customer with this amount
}
AMOUNT_CODES = frozenset({"amount_exact", "amount_sum", "amount_within_tolerance"})


class Decision(enum.StrEnum):
    AUTO = "auto"  # confident: apply without a person
    REVIEW = "review"  # a proposal a person confirms or corrects
    UNMATCHED = "unmatched"  # no candidate invoice: a person allocates it


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    number: str
    customer_id: str
    customer_name: str
    currency: str
    amount_open: Decimal
    payment_reference: str = ""  # e.g. the ISO 11649 RF reference printed on the invoice
    due_date: date | None = None


# Evidence, allocations and proposals are named tuples rather than frozen dataclasses: a
# matching run makes several per bank line, and a tuple is built at a fraction of the cost of a
# frozen dataclass (which sets each field through object.__setattr__); tuples holding only
# strings and numbers also drop out of the cycle collector's watch.


class Evidence(NamedTuple):
    code: str
    detail: str
    invoice_number: str = ""


class Allocation(NamedTuple):
    invoice_number: str
    amount: Decimal


class Proposal(NamedTuple):
    line_id: str
    amount: Decimal
    currency: str
    allocations: tuple[Allocation, ...]
    confidence: float
    evidence: tuple[Evidence, ...]
    decision: Decision
    unapplied: Decimal = ZERO  # overpayment left on account
    write_off: Decimal = ZERO  # short payment within tolerance (bank charges, FX)
    alternatives: tuple[str, ...] = ()  # other invoices that fit about as well


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    auto_apply_threshold: float = 0.85
    review_threshold: float = 0.3
    tolerance_abs: Decimal = Decimal("2.00")  # bank fee / FX difference accepted as paid in full
    tolerance_rel: Decimal = Decimal("0.005")  # ... and at most this share of the amount
    fuzzy_numbers: bool = True
    max_combination: int = 4  # at most this many invoices combined into one payment
    combination_pool: int = 12  # searched among this many oldest open invoices of the payer
    ambiguity_margin: float = 0.1


def confidence(evidence: Iterable[Evidence]) -> float:
    miss = 1.0
    for e in evidence:
        miss *= 1.0 - WEIGHTS.get(e.code, 0.0)
    return round(1.0 - miss, 4)

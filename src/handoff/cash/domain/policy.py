"""The matching policy and the proposal types of cash application.

`MatchPolicy` (thresholds, tolerances) and the evidence weights a confidence is computed from
(1 - prod(1 - weight)); and the values the matcher (`handoff.cash.domain.matching`) takes and
returns: open invoices, evidence, allocations, proposals, readings and their decision.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from handoff.kernel.money import ZERO

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


class Reading(NamedTuple):
    """What a bank line names, read against the open invoices as the matcher received them
    (`Matcher.read`). Invoices are a matcher's positions in its invoice list. A reading holds for
    as long as none of the invoices it found has been settled since."""

    found: dict[int, list[Evidence]]  # invoices named by a reference or an exact number
    cands: list[str]  # invoice-number candidates read from the text ([]: not needed)
    # when the invoices found do not decide the line (None: not looked up; the matcher does it then):
    customers: list[str] | None = None  # customers the payer's name stands for
    own: list[int] | None = None  # their invoices whose amount as issued agrees with the line's
    by_amount: list[int] | None = None  # any customer's such invoices (the first 50, by amount)
    near: dict[int, str | None] | None = None  # of some of them: the number read one typo from theirs
    proposal: Proposal | None = None  # read ahead: the proposal, when the invoices found decide it
    settles: tuple[int, ...] = ()  # ... and the invoices of its allocations, in their order


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


_MISS = {code: 1.0 - weight for code, weight in WEIGHTS.items()}  # 1 - weight, per code


def confidence(evidence: Iterable[Evidence]) -> float:
    miss = 1.0
    for e in evidence:
        miss *= _MISS.get(e.code, 1.0)
    return round(1.0 - miss, 4)

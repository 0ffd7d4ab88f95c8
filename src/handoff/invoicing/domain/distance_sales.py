"""EU distance sales and the EUR 10,000 threshold (Art. 59c and 14(4) of Directive 2006/112/EC,
as amended by Directive (EU) 2017/2455, in force since 1 July 2021).

What counts: intra-Community distance sales of goods (Art. 14(4)(1)) and telecommunications,
broadcasting and electronically supplied services (Art. 58; `digital` lines) to customers who are
not taxable persons (consumers, and businesses without a VAT id) in a member state other than the
seller's; their value exclusive of VAT, per seller, per calendar year, in EUR.

Where such a sale is taxed (Art. 59c(1)): in the seller's member state while the total of the
current calendar year does not exceed EUR 10,000 and the total of the previous year did not either;
in the customer's member state for the sale that makes this year's total exceed it, for every sale
after it, and for the whole year after a year in which it was exceeded. A seller may choose
destination taxation (Art. 59c(3)); one registered for the One-Stop Shop (union scheme, Art. 369a
ff.) taxes every such sale where the customer is and declares it there. Destination-taxed sales are
the ones reported through the OSS.

This module decides for one sale from the seller's position (`DistancePosition`); the running
totals are kept by `invoicing.service.taxation` and the decision is recorded in each line's tax
evidence (`PlaceDecision.evidence`): the rule applied, the total it saw and the sale's EUR value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from handoff.invoicing.domain.tax import DIGITAL, DISTANCE_SALES_THRESHOLD_EUR, EXEMPTIONS, GOODS
from handoff.kernel.money import round2
from handoff.kernel.parties import Customer, LegalEntity


class Basis(enum.StrEnum):
    """Why a distance sale is taxed where it is (stored in the evidence)."""

    BELOW = "below_threshold"  # origin: neither this year nor last year over EUR 10,000
    CROSSED = "crossed_by_this_sale"  # destination: this sale takes this year's total over it
    THIS_YEAR = "exceeded_this_year"  # destination: this year's total was over it before this sale
    PREVIOUS_YEAR = "exceeded_previous_year"  # destination: last year's total was over it
    CHOSEN = "destination_chosen"  # destination: the seller opted for it, or is OSS registered


def is_distance_sale(seller: LegalEntity, buyer: Customer, supply: str, tax_category: str) -> bool:
    """A line that counts towards the threshold and follows it: goods or digital services from an
    EU seller to a customer without VAT id in another member state (exempt products excepted)."""
    return (
        seller.in_eu
        and buyer.in_eu
        and buyer.country != seller.country
        and not (buyer.is_business and buyer.vat_id)
        and supply in (GOODS, DIGITAL)
        and tax_category not in EXEMPTIONS
    )


def to_eur(amount: Decimal, eur_rate: Decimal) -> Decimal:
    """An amount in EUR at `eur_rate` (EUR per unit of the invoice currency), rounded to cents."""
    return round2(amount * eur_rate)


@dataclass(frozen=True, slots=True)
class DistancePosition:
    """A seller's distance sales as the next sale sees them, in EUR: this calendar year's total
    so far and the previous year's total; and whether it chose destination taxation."""

    entity: str
    year: int
    total_eur: Decimal
    previous_year_eur: Decimal
    destination_chosen: bool = False


@dataclass(frozen=True, slots=True)
class PlaceDecision:
    """Where one sale's distance-sale lines are taxed, and why."""

    destination: bool
    basis: Basis
    sale_eur: Decimal  # the sale's distance-sale lines, net, in EUR
    eur_rate: Decimal  # EUR per unit of the invoice currency
    position: DistancePosition

    def evidence(self) -> dict[str, str]:
        """What each distance-sale line records of the decision."""
        p = self.position
        recorded = {
            "distance_sale": "true",
            "distance_sales_basis": self.basis.value,
            "distance_sales_year": str(p.year),
            "distance_sales_total_eur": str(round2(p.total_eur)),  # this year's total before this sale
            "distance_sales_previous_year_eur": str(round2(p.previous_year_eur)),
            "distance_sales_threshold_eur": str(DISTANCE_SALES_THRESHOLD_EUR),
            "distance_sale_eur": str(self.sale_eur),
            "eur_rate": str(self.eur_rate),
        }
        if self.destination:
            recorded["oss"] = "union_scheme"  # declared in the One-Stop Shop return
        return recorded


def decide(position: DistancePosition, sale_eur: Decimal, eur_rate: Decimal) -> PlaceDecision:
    """Origin or destination for a sale of `sale_eur` (net, EUR) given the seller's position."""
    threshold = DISTANCE_SALES_THRESHOLD_EUR
    if position.destination_chosen:
        basis = Basis.CHOSEN
    elif position.previous_year_eur > threshold:
        basis = Basis.PREVIOUS_YEAR
    elif position.total_eur > threshold:
        basis = Basis.THIS_YEAR
    elif position.total_eur + sale_eur > threshold:
        basis = Basis.CROSSED
    else:
        basis = Basis.BELOW
    return PlaceDecision(basis is not Basis.BELOW, basis, sale_eur, eur_rate, position)

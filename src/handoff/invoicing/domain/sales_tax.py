"""US sales tax: what a tax engine is asked and answers, and the built-in engine, a rate table.

A US seller's sale to a US customer is taxed where the customer is: the state's rate plus the
county, city and special-district rates of the ship-to address (state, ZIP code, city). A tax
engine (`SalesTaxEngine`) takes the seller, the ship-to address and the lines (net amount and
product tax code) and answers, per line, the rate, the tax and the jurisdictions it is made of.
Two engines: `SalesTaxRates`, a configurable rate table (YAML, `defaults/us_sales_tax.yaml`), and
Stripe Tax (`invoicing.connectors.stripe_tax`). Which one a US entity uses is configuration
(`tax.sales_tax.<entity>.engine`).

An engine never answers 0 for want of data: a state or an address it does not know is
`TaxUndetermined` naming what is missing, and the deal waits in the exception queue. A line is
untaxed only where a rule says so, recorded on the line: a supply kind the state does not tax
(`not_taxable`), an exempt product category, or the engine's own reason (Stripe's
`taxability_reason`, such as `not_collecting` where the seller is not registered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from handoff.invoicing.domain.tax import GOODS, SUPPLY_KINDS, Jurisdiction, TaxUndetermined
from handoff.kernel.money import ZERO, round2
from handoff.kernel.parties import LegalEntity

RATE_TABLE = "rate_table"
STRIPE_TAX = "stripe_tax"
ENGINES = (RATE_TABLE, STRIPE_TAX)
JURISDICTION_LEVELS = ("state", "county", "city", "district")

# Stripe's general product tax codes, the default for each supply kind (tax.product_tax_codes).
DEFAULT_PRODUCT_TAX_CODES: Mapping[str, str] = {
    GOODS: "txcd_99999999",  # General - Tangible Goods
    "services": "txcd_20030000",  # General - Services
    "digital": "txcd_10000000",  # General - Electronically Supplied Services
}


@dataclass(frozen=True, slots=True)
class ShipTo:
    """Where a US sale is delivered, which decides its tax (the customer's billing address)."""

    state: str  # USPS code, TX
    postal_code: str
    city: str
    street: str = ""
    country: str = "US"

    @property
    def zip5(self) -> str:
        return self.postal_code.strip()[:5]


@dataclass(frozen=True, slots=True)
class SalesTaxLine:
    reference: str  # the invoice line number
    amount: Decimal  # net, in the invoice currency
    product_tax_code: str
    supply: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class SalesTaxRequest:
    seller: LegalEntity
    ship_to: ShipTo
    currency: str
    lines: tuple[SalesTaxLine, ...]


@dataclass(frozen=True, slots=True)
class LineTax:
    """An engine's answer for one line: the combined rate (percent), the tax it computed, and the
    jurisdictions; `taxability` is `taxable` or the reason the line is not taxed."""

    reference: str
    rate: Decimal
    amount: Decimal
    jurisdictions: tuple[Jurisdiction, ...] = ()
    taxability: str = "taxable"
    note: str = ""


@dataclass(frozen=True, slots=True)
class SalesTaxResult:
    engine: str
    source: str  # the rate table and its date, or the engine's name
    lines: tuple[LineTax, ...]
    reference: str = ""  # the engine's id of the calculation (Stripe: taxcalc_...)

    def line(self, reference: str) -> LineTax | None:
        return next((ln for ln in self.lines if ln.reference == reference), None)


class SalesTaxEngine(Protocol):
    """Answers the sales tax of a request's lines, or raises `TaxUndetermined` (transient when it
    could not be reached, so the deal waits and is retried)."""

    @property
    def name(self) -> str: ...

    def calculate(self, request: SalesTaxRequest) -> SalesTaxResult: ...


@dataclass(frozen=True, slots=True)
class LocalRates:
    """The county, city and district rates of one place, found by ZIP code or else by city."""

    city: str
    zips: frozenset[str]
    jurisdictions: tuple[Jurisdiction, ...]


@dataclass(frozen=True, slots=True)
class StateRates:
    code: str
    name: str
    rate: Decimal  # percent
    local: tuple[LocalRates, ...] = ()  # empty: the state rate applies everywhere in the state
    taxable: frozenset[str] = SUPPLY_KINDS  # supply kinds the state taxes
    note: str = ""  # said on lines the state does not tax

    def place(self, ship_to: ShipTo) -> LocalRates | None:
        """The local rates of an address: by ZIP code first, then by city; None when the state has
        no local rates at all. Raises when it has some but none for this address."""
        if not self.local:
            return None
        by_zip = next((p for p in self.local if ship_to.zip5 in p.zips), None)
        if by_zip is not None:
            return by_zip
        city = " ".join(ship_to.city.split()).casefold()
        by_city = next((p for p in self.local if p.city.casefold() == city), None) if city else None
        if by_city is not None:
            return by_city
        raise TaxUndetermined(
            "no_jurisdiction",
            "tax.jurisdiction",
            f"no local sales tax jurisdiction in the rate table for {ship_to.city or '(no city)'}, "
            f"{self.code} {ship_to.postal_code}: add its ZIP code or city to the {self.code} entry",
        )


@dataclass(frozen=True, slots=True)
class SalesTaxRates:
    """The built-in engine: state rates with local rates by ZIP code or city."""

    states: Mapping[str, StateRates]
    source: str
    as_of: date

    @property
    def name(self) -> str:
        return RATE_TABLE

    def jurisdictions(self, ship_to: ShipTo) -> tuple[StateRates, tuple[Jurisdiction, ...]]:
        state = self.states.get(ship_to.state)
        if state is None:
            raise TaxUndetermined(
                "no_jurisdiction",
                "tax.jurisdiction",
                f"no sales tax rates for state {ship_to.state} in the rate table ({self.source}): add the state",
            )
        local = state.place(ship_to)
        return state, (Jurisdiction("state", state.name, state.rate), *(local.jurisdictions if local else ()))

    def calculate(self, request: SalesTaxRequest) -> SalesTaxResult:
        state, jurisdictions = self.jurisdictions(request.ship_to)
        rate = sum((j.rate for j in jurisdictions), ZERO)
        lines = []
        for item in request.lines:
            if rate == 0:
                note = state.note or f"{state.name} levies no sales tax"
                lines.append(LineTax(item.reference, ZERO, ZERO, jurisdictions, "no_sales_tax", note))
            elif item.supply not in state.taxable:
                note = state.note or f"{item.supply} not subject to sales tax in {state.name}"
                lines.append(LineTax(item.reference, ZERO, ZERO, (), "not_taxable", note))
            else:
                lines.append(LineTax(item.reference, rate, round2(item.amount * rate / 100), jurisdictions))
        return SalesTaxResult(RATE_TABLE, f"{self.source} ({self.as_of.isoformat()})", tuple(lines))

"""VAT determination for one invoice line: which EN 16931 VAT category (UNCL 5305) and rate apply.

Rules, in order (Council Directive 2006/112/EC):
- seller established outside the EU: outside the scope of EU VAT (category O);
- buyer in the seller's country: domestic supply at the seller country's rate for the line's
  product tax category (category S);
- buyer a business in another member state with a VAT id: reverse charge (category AE,
  Art. 196) for services, intra-community supply (category K, Art. 138) for goods;
- buyer a consumer (or unregistered) in another member state: the seller country's rate;
- buyer outside the EU: export, 0 % (category G, Art. 146 / 44).

Each decision carries its rule id, legal note (BT-120 / VATEX code BT-121) and the inputs it was
made from, so an invoice can store its tax evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Mapping

from handoff.domain.parties import Customer, LegalEntity


class TaxError(ValueError):
    """No rate is known for a country / tax category: configuration must be fixed."""


@dataclass(frozen=True, slots=True)
class VatRates:
    """Rates in percent by country and product tax category (`standard`, `reduced`, ...)."""

    rates: Mapping[str, Mapping[str, Decimal]]
    source: str
    as_of: date

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> VatRates:
        """From the rates data file's parsed content: `source`, `as_of`, `rates: {CC: {cat: pct}}`."""
        raw_rates = data["rates"]
        assert isinstance(raw_rates, Mapping)
        rates = {str(cc).upper(): {str(cat): Decimal(str(pct)) for cat, pct in cats.items()}
                 for cc, cats in raw_rates.items()}  # fmt: skip
        as_of = data["as_of"]
        return cls(rates, str(data["source"]), as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)))

    def rate(self, country: str, tax_category: str) -> Decimal:
        try:
            return self.rates[country][tax_category]
        except KeyError:
            raise TaxError(f"no VAT rate for {country} / {tax_category} in {self.source}") from None


@dataclass(frozen=True, slots=True)
class TaxDecision:
    category: str  # UNCL 5305 code, BT-151
    rate: Decimal  # percent, BT-152
    rule: str  # stable id of the rule applied
    note: str = ""  # exemption reason text, BT-120
    exemption_code: str = ""  # VATEX code, BT-121
    evidence: Mapping[str, str] = field(default_factory=dict)


ZERO = Decimal("0")


def determine(
    seller: LegalEntity, buyer: Customer, supply: str, tax_category: str, rates: VatRates
) -> TaxDecision:
    evidence = {
        "seller_country": seller.country,
        "buyer_country": buyer.country,
        "buyer_is_business": str(buyer.is_business).lower(),
        "buyer_vat_id": buyer.vat_id,
        "supply": supply,
        "tax_category": tax_category,
        "rates_source": f"{rates.source} ({rates.as_of.isoformat()})",
    }
    if not seller.in_eu:
        return TaxDecision("O", ZERO, "outside_scope", "Not subject to EU VAT", "VATEX-EU-O", evidence)
    if buyer.country == seller.country:
        rate = rates.rate(seller.country, tax_category)
        return TaxDecision("S", rate, "domestic", evidence=evidence)
    if buyer.in_eu:
        if buyer.is_business and buyer.vat_id:
            if supply == "goods":
                return TaxDecision("K", ZERO, "intra_community_supply",
                                   "Intra-community supply of goods (Art. 138 Directive 2006/112/EC)",
                                   "VATEX-EU-IC", evidence)  # fmt: skip
            return TaxDecision("AE", ZERO, "reverse_charge",
                               "Reverse charge: VAT to be accounted for by the recipient "
                               "(Art. 196 Directive 2006/112/EC)", "VATEX-EU-AE", evidence)  # fmt: skip
        rate = rates.rate(seller.country, tax_category)
        return TaxDecision("S", rate, "eu_b2c_origin", evidence=evidence)
    return TaxDecision("G", ZERO, "export",
                       "Export outside the EU, VAT exempt (Art. 146 Directive 2006/112/EC)",
                       "VATEX-EU-G", evidence)  # fmt: skip

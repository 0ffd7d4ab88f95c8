"""VAT determination for one invoice line: which EN 16931 VAT category (UNCL 5305, BT-151) and
rate (BT-152) apply, and why.

Rules, in order (Council Directive 2006/112/EC, "the Directive"):

1. seller established outside the EU: outside the scope of EU VAT (category O);
2. an exempt product (`exempt`, `exempt_financial`, ...): exempt (category E) with its VATEX code
   (BT-121) and legal note (BT-120), wherever it is supplied (Art. 132 / 135);
3. buyer in the seller's country: domestic supply at the seller country's rate for the line's
   product tax category (S), or zero-rated (Z) for a `zero` product;
4. buyer a business in another member state with a VAT id: intra-community supply of goods
   (K, Art. 138) or reverse charge on services (AE, Art. 44 + 196);
5. buyer a consumer (or a business without VAT id) in another member state: goods and
   electronically supplied ("digital") services are distance sales (Art. 33, 58): the seller
   country's rate while the seller is below the EU-wide EUR 10,000 threshold (Art. 59c), the
   buyer country's rate once over it (the seller's status is an input, `over_distance_threshold`);
   other services stay taxed where the supplier is (Art. 45);
6. buyer outside the EU: goods are exports (G, Art. 146); services to a business, and digital
   services to anyone, are supplied where the buyer is (Art. 44, 59), also reported as G with a
   note saying so; other services to a consumer stay taxed at origin (Art. 45, S).

A zero-rated decision (Z) carries a legal note for the reader, but no VATEX code: EN 16931
forbids exemption reasons on Z and S breakdowns (BR-Z-10, BR-S-10). Every exempt decision
(E, AE, K, G, O) carries both.

Each decision carries its rule id, legal note and an evidence mapping of the inputs it was made
from, so an invoice can store its tax evidence.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from handoff.kernel.money import ZERO
from handoff.kernel.parties import Customer, LegalEntity


class VatCategory(enum.StrEnum):
    """The VAT category of a line or breakdown: UNCL 5305 codes as EN 16931 allows them (BT-151, BT-118)."""

    STANDARD = "S"
    ZERO_RATED = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_COMMUNITY = "K"
    EXPORT = "G"
    OUTSIDE_SCOPE = "O"
    CANARY_ISLANDS = "L"
    CEUTA_MELILLA = "M"


class TaxError(ValueError):
    """No rate is known for a country / tax category: configuration must be fixed."""


class TaxUndetermined(TaxError):
    """The tax of an invoice cannot be determined, so it is not drafted (never charged at 0): the
    deal waits in the exception queue with `reason` (a stable id) on `field` (what is missing).
    `transient`: an outside tax engine that did not answer; retrying later may succeed."""

    def __init__(self, reason: str, field: str, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.reason, self.field, self.message, self.transient = reason, field, message, transient


# Supply kinds an order line may say (BillableLine.supply). `digital` is an electronically
# supplied service (Annex II of the Directive), which follows the distance-sales rules.
GOODS = "goods"
SERVICES = "services"
DIGITAL = "digital"
SUPPLY_KINDS = frozenset({GOODS, SERVICES, DIGITAL})

# Product tax categories whose rate is looked up in the rates table.
RATED_CATEGORIES = frozenset({"standard", "reduced", "reduced_low", "super_reduced", "parking"})
ZERO_CATEGORY = "zero"

# Exempt product categories: VATEX code (CEF VATEX code list) and legal note.
EXEMPTIONS: Mapping[str, tuple[str, str]] = {
    "exempt": ("VATEX-EU-132", "Exempt from VAT (Art. 132 Directive 2006/112/EC)"),
    "exempt_medical": ("VATEX-EU-132-1C", "Exempt from VAT: medical care (Art. 132(1)(c) Directive 2006/112/EC)"),
    "exempt_education": ("VATEX-EU-132-1I", "Exempt from VAT: education (Art. 132(1)(i) Directive 2006/112/EC)"),
    "exempt_financial": (
        "VATEX-EU-135-1",
        "Exempt from VAT: financial and insurance services (Art. 135(1) Directive 2006/112/EC)",
    ),
}
PRODUCT_CATEGORIES = RATED_CATEGORIES | {ZERO_CATEGORY} | frozenset(EXEMPTIONS)

# The EU-wide threshold for intra-EU distance sales and digital services to consumers (Art. 59c).
DISTANCE_SALES_THRESHOLD_EUR = Decimal("10000")


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
        rates = {
            str(cc).upper(): {str(cat): Decimal(str(pct)) for cat, pct in cats.items()}
            for cc, cats in raw_rates.items()
        }
        as_of = data["as_of"]
        return cls(rates, str(data["source"]), as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)))

    def rate(self, country: str, tax_category: str) -> Decimal:
        try:
            return self.rates[country][tax_category]
        except KeyError:
            raise TaxError(f"no VAT rate for {country} / {tax_category} in {self.source}") from None


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """One authority whose tax makes up a line's rate (US sales tax: state, county, city, district)."""

    level: str  # state | county | city | district
    name: str
    rate: Decimal  # percent


@dataclass(frozen=True, slots=True)
class TaxDecision:
    category: VatCategory  # BT-151
    rate: Decimal  # percent, BT-152
    rule: str  # stable id of the rule applied
    note: str = ""  # exemption reason text, BT-120 (for Z: a note for the reader only)
    exemption_code: str = ""  # VATEX code, BT-121
    evidence: Mapping[str, str] = field(default_factory=dict)
    place_of_supply: str = ""  # ISO country code where the supply is taxed, "" outside the EU
    jurisdictions: tuple[Jurisdiction, ...] = ()  # what the rate is made of (US sales tax), in order


NOTE_ZERO = "Zero-rated supply"
NOTE_OUTSIDE = "Not subject to EU VAT: seller established outside the EU"
NOTE_IC = "Intra-community supply of goods, VAT exempt (Art. 138 Directive 2006/112/EC)"
NOTE_AE = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)"
NOTE_EXPORT = "Export outside the EU, VAT exempt (Art. 146 Directive 2006/112/EC)"
NOTE_SERVICES_ABROAD = "Services supplied outside the EU, not subject to EU VAT (Art. 44 / 59 Directive 2006/112/EC)"


def determine(
    seller: LegalEntity,
    buyer: Customer,
    supply: str,
    tax_category: str,
    rates: VatRates,
    over_distance_threshold: bool = False,
    extra_evidence: Mapping[str, str] | None = None,
) -> TaxDecision:
    """The VAT decision for one line. `over_distance_threshold`: the seller's intra-EU B2C
    distance sales and digital services exceeded EUR 10,000 this or last calendar year (or it chose
    destination taxation; see `distance_sales`), which `extra_evidence` may explain."""
    if supply not in SUPPLY_KINDS:
        raise TaxError(f"unknown supply kind {supply!r}: expected one of {sorted(SUPPLY_KINDS)}")
    if tax_category not in PRODUCT_CATEGORIES:
        raise TaxError(f"unknown product tax category {tax_category!r}: expected one of {sorted(PRODUCT_CATEGORIES)}")
    evidence = {
        "seller_country": seller.country,
        "buyer_country": buyer.country,
        "buyer_is_business": str(buyer.is_business).lower(),
        "buyer_vat_id": buyer.vat_id,
        "supply": supply,
        "tax_category": tax_category,
        "over_distance_threshold": str(over_distance_threshold).lower(),
        "rates_source": f"{rates.source} ({rates.as_of.isoformat()})",
        **(extra_evidence or {}),
    }

    def decide(
        category: VatCategory, rate: Decimal, rule: str, place: str, note: str = "", code: str = ""
    ) -> TaxDecision:
        recorded = {**evidence, "rule": rule, "place_of_supply": place or "outside_eu"}
        return TaxDecision(category, rate, rule, note, code, recorded, place)

    def taxed(country: str, rule: str) -> TaxDecision:
        if tax_category == ZERO_CATEGORY:
            return decide(VatCategory.ZERO_RATED, ZERO, rule + "_zero", country, f"{NOTE_ZERO} ({country})")
        return decide(VatCategory.STANDARD, rates.rate(country, tax_category), rule, country)

    if not seller.in_eu:
        return decide(VatCategory.OUTSIDE_SCOPE, ZERO, "outside_scope", "", NOTE_OUTSIDE, "VATEX-EU-O")
    if tax_category in EXEMPTIONS:
        code, note = EXEMPTIONS[tax_category]
        place = buyer.country if buyer.in_eu else seller.country
        return decide(VatCategory.EXEMPT, ZERO, "exempt", place, note, code)
    if buyer.country == seller.country:
        return taxed(seller.country, "domestic")
    if buyer.in_eu:
        if buyer.is_business and buyer.vat_id:
            if supply == GOODS:
                return decide(
                    VatCategory.INTRA_COMMUNITY, ZERO, "intra_community_supply", buyer.country, NOTE_IC, "VATEX-EU-IC"
                )
            return decide(VatCategory.REVERSE_CHARGE, ZERO, "reverse_charge", buyer.country, NOTE_AE, "VATEX-EU-AE")
        if supply in (GOODS, DIGITAL) and over_distance_threshold:
            return taxed(buyer.country, "eu_b2c_destination")
        return taxed(seller.country, "eu_b2c_origin")
    if supply == GOODS:
        return decide(VatCategory.EXPORT, ZERO, "export", "", NOTE_EXPORT, "VATEX-EU-G")
    if buyer.is_business or supply == DIGITAL:
        return decide(VatCategory.EXPORT, ZERO, "services_outside_eu", "", NOTE_SERVICES_ABROAD, "VATEX-EU-G")
    return taxed(seller.country, "non_eu_b2c_services_origin")

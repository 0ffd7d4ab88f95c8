"""Parties: our selling legal entities and the customers we bill.

A customer is a business unless its customer type is `consumer`. Both carry the postal and tax
data that EN 16931 needs for the seller (BG-4) and buyer (BG-7) of an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# EU member states by ISO 3166-1 alpha-2 (Greece is GR here; its VAT ids use the prefix EL).
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)

# The VAT id prefix differs from the ISO country code only for Greece.
VAT_PREFIX = {"GR": "EL"}


def vat_prefix(country: str) -> str:
    return VAT_PREFIX.get(country, country)


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class LegalEntity:
    """One of our own selling companies, configured, with its own invoice numbering."""

    code: str
    name: str
    country: str
    currency: str
    address: Address
    vat_id: str = ""
    tax_id: str = ""
    iban: str = ""
    bic: str = ""
    email: str = ""
    invoice_prefix: str = ""
    phone: str = ""  # seller contact telephone, BT-42 (required by Peppol for DE-DE invoices)

    @property
    def in_eu(self) -> bool:
        return self.country in EU_MEMBER_STATES


@dataclass(frozen=True, slots=True)
class Customer:
    """The buyer as billed: a snapshot of the CRM company plus its billing contact."""

    customer_id: str
    legal_name: str
    country: str
    is_business: bool
    vat_id: str = ""
    billing_email: str = ""
    billing_contact_name: str = ""
    address: Address = field(default_factory=Address)

    @property
    def in_eu(self) -> bool:
        return self.country in EU_MEMBER_STATES

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
    region: str = ""  # country subdivision (BT-39 / BT-54): a US state's USPS code, which sales tax needs


@dataclass(frozen=True, slots=True)
class Branding:
    """How a selling entity's documents and e-mails look: its logo (the absolute path of a PNG or
    JPEG, checked when the configuration loads), brand colours (`#RRGGBB`) and a footer text."""

    logo: str = ""
    primary_colour: str = ""
    accent_colour: str = ""
    footer: str = ""


@dataclass(frozen=True, slots=True)
class LegalEntity:
    """One of our own selling companies, configured, with its own invoice numbering.

    How it is paid (BG-16): an IBAN (with BIC), a US ACH account (ABA routing and account number)
    and/or a payment page (`payment_link`, `{number}` standing for the invoice number);
    `payment_reference` says which reference its bank carries: `rf` (ISO 11649), `invoice_number`,
    or `auto` (RF for an IBAN in the SEPA area). See `invoicing.domain.payment`."""

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
    contact_name: str = ""  # seller contact point, BT-41 (XRechnung requires it)
    contact_email: str = ""  # seller contact e-mail, BT-43 (XRechnung requires it); else `email`
    company_register: str = ""  # court and number of the company register (BT-30 when given)
    bank_name: str = ""
    ach_routing_number: str = ""  # ABA routing number (BT-86 of an ACH credit transfer)
    ach_account_number: str = ""  # BT-84 of an ACH credit transfer
    payment_link: str = ""  # https URL of a payment page; `{number}` is the invoice number
    payment_reference: str = "auto"  # auto | rf | invoice_number
    branding: Branding = field(default_factory=Branding)

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
    # what the invoice e-mail carries (`invoicing.domain.formats`): pdf, facturx, ubl or cii; "" = pdf
    invoice_format: str = ""
    # its Peppol electronic address (BT-49) as "scheme:id", e.g. "0088:1234567890128"; "" = none known
    peppol_id: str = ""
    public_sector: bool = False  # a public body (in Germany: XRechnung, B2G)
    leitweg_id: str = ""  # a German public buyer's routing id (BT-10)

    @property
    def in_eu(self) -> bool:
        return self.country in EU_MEMBER_STATES

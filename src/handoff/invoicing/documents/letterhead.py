"""What the PDF and the invoice e-mail both show of the selling entity: its address block, its
registration numbers (VAT id BT-31, tax number BT-32, company register BT-30) and its footer text,
as lines of plain text. Each consumer escapes them for where they go (Jinja's autoescape in the HTML
e-mail; the PDF draws them as literal strings)."""

from __future__ import annotations

from functools import cache

import pycountry

from handoff.invoicing.documents.common import vat_id
from handoff.kernel.parties import LegalEntity

DEFAULT_PRIMARY = "#1F2937"  # near black: documents of an entity without brand colours
DEFAULT_ACCENT = "#6B7280"


@cache
def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code) if code else None
    return country.name if country is not None else code


# countries that write the city before the region and postal code ("San Francisco, CA 94105")
CITY_FIRST = frozenset({"US", "CA", "AU"})


def address_lines(entity: LegalEntity) -> list[str]:
    address = entity.address
    country = address.country or entity.country
    if country in CITY_FIRST:
        place = " ".join(
            p for p in (address.city + ("," if address.region else ""), address.region, address.postal_code) if p
        )
    else:
        place = f"{address.postal_code} {address.city}".strip()
    return [line for line in (address.street, place, country_name(country)) if line]


def registrations(entity: LegalEntity, show_vat_id: bool = True) -> list[tuple[str, str]]:
    """(label, number): VAT id (left out where the invoice may not show it, BR-O-02), tax number,
    company register."""
    found = []
    if entity.vat_id and show_vat_id:
        found.append(("VAT ID", vat_id(entity.country, entity.vat_id)))
    if entity.tax_id:
        found.append(("Tax number", entity.tax_id))
    if entity.company_register:
        found.append(("Company register", entity.company_register))
    return found


def registration_lines(entity: LegalEntity, show_vat_id: bool = True) -> list[str]:
    return [f"{label} {number}" for label, number in registrations(entity, show_vat_id)]


def footer_lines(entity: LegalEntity) -> list[str]:
    """The entity's footer text, line by line (control characters other than line breaks dropped)."""
    text = "".join(ch for ch in entity.branding.footer if ch == "\n" or ch.isprintable())
    return [line.strip() for line in text.splitlines() if line.strip()]


def colours(entity: LegalEntity) -> tuple[str, str]:
    """(primary, accent) brand colours as #RRGGBB, with neutral ones where none are configured."""
    branding = entity.branding
    return branding.primary_colour or DEFAULT_PRIMARY, branding.accent_colour or DEFAULT_ACCENT

"""Electronic addresses (BT-34 seller, BT-49 buyer) of UBL and CII invoices.

The seller's is built from its own VAT id (`endpoint`). The buyer's comes from the customer
master only (`buyer_endpoint`): its Peppol ID, or a German public body's Leitweg-ID (EAS 0204);
a buyer without one has none, and its UBL is not sent through Peppol.

The schemes follow the Electronic Address Scheme (EAS) code list of EN 16931 as published with
Peppol BIS Billing 3.0 (docs.peppol.eu/poacc/billing/3.0/codelist/eas/): ISO 6523 ICD codes and the
9xxx values assigned for national VAT numbers. Only schemes in that list are used, so an endpoint
is never invented.
"""

from __future__ import annotations

from handoff.invoicing.documents.common import NON_VAT_COUNTRIES, vat_id
from handoff.invoicing.domain.einvoice import is_public_de
from handoff.invoicing.domain.invoices import Invoice

LEITWEG_SCHEME = "0204"  # EAS code of the German Leitweg-ID

# The EAS scheme of an identifier built from a VAT (or tax) number, by country.
VAT_EAS = {
    "AT": "9914",
    "BE": "9925",
    "BG": "9926",
    "CY": "9928",
    "CZ": "9929",
    "DE": "9930",
    "EE": "9931",
    "GB": "9932",
    "GR": "9933",
    "HR": "9934",
    "IE": "9935",
    "LU": "9938",
    "LV": "9939",
    "MT": "9943",
    "NL": "9944",
    "PL": "9945",
    "PT": "9946",
    "RO": "9947",
    "SI": "9949",
    "SK": "9950",
    "FR": "9957",
    "HU": "9910",
    "ES": "9920",
    "IT": "0211",
    "FI": "0213",
    "US": "9959",
    "SE": "0007",
    "DK": "0184",
}


def endpoint(country: str, raw_vat_id: str) -> tuple[str, str] | None:
    """(scheme, id) of an electronic address derived from a VAT (or tax) id, or None when none is
    known: a consumer without one has no endpoint, and none is made up."""
    if not raw_vat_id:
        return None
    scheme = VAT_EAS.get(country)
    if scheme is None:
        return None
    digits = "".join(ch for ch in raw_vat_id if ch.isdigit())
    if country in NON_VAT_COUNTRIES or country == "DK":
        return scheme, digits  # US EIN; DK CVR number = the VAT number's digits
    if country == "SE" and len(digits) == 12:
        return scheme, digits[:10]  # the organisation number inside SE + org nr + 01
    return scheme, vat_id(country, raw_vat_id)


def seller_endpoint(invoice: Invoice) -> tuple[str, str] | None:
    return endpoint(invoice.seller.country, invoice.seller.vat_id)


def buyer_endpoint(invoice: Invoice) -> tuple[str, str] | None:
    """BT-49 from the customer master: its Peppol ID, else a German public body's Leitweg-ID."""
    buyer = invoice.buyer
    if buyer.peppol_id:
        scheme, _, ident = buyer.peppol_id.partition(":")
        return scheme, ident
    if is_public_de(invoice) and buyer.leitweg_id:
        return LEITWEG_SCHEME, buyer.leitweg_id
    return None

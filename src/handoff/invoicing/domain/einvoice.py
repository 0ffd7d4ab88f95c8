"""Which e-invoice an invoice is checked as before it is issued, and its findings in plain words.

- The syntax: the customer's own format (`invoice_format`: `ubl`, `cii`); a `pdf` customer's UBL
  is checked anyway as the structured truth of the invoice, a `facturx` customer's CII (the one
  inside its PDF).
- The rule sets: XSD and EN 16931 always; Peppol BIS Billing 3.0 when the UBL goes to a Peppol
  address, that is when the buyer has one in the customer master (`peppol_id`, BT-49: never
  derived or invented); XRechnung when the buyer is a German public body (`public_sector`).
- An invoice under US sales tax has no EN 16931 e-invoice: nothing to check.

A fatal finding stops the issue: its rule id, what it means in plain words and the field to fix
(`explain`: a table for the rules met in practice, the rule's own text otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import ean
from stdnum.be import vat as be_vat
from stdnum.iso7064 import mod_97_10
from stdnum.se import orgnr

from handoff.invoicing.domain.invoices import Invoice

# The Electronic Address Scheme (EAS) codes of the code list published with Peppol BIS Billing 3.0
# (docs.peppol.eu/poacc/billing/3.0/codelist/eas/): a Peppol ID is "scheme:identifier".
EAS_CODES = frozenset(
    "0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0147 0151 0154 0158 0170 0183 0184 "  # noqa: SIM905
    "0188 0190 0191 0192 0193 0194 0195 0196 0198 0199 0200 0201 0202 0203 0204 0205 0208 0209 0210 "
    "0211 0212 0213 0215 0216 0217 0218 0221 0225 0230 0235 0240 0242 0244 9901 9910 9913 9914 9915 "
    "9918 9919 9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 "
    "9938 9939 9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959 AN AQ "
    "AS AU EM".split()
)
_PEPPOL_ID = re.compile(r"^([0-9]{4}|[A-Z]{2}):([^\s:]{1,50})$")
# Leitweg-ID (KoSIT, Formatspezifikation 2.0): Grobadressierung (2-12 digits), optional
# Feinadressierung (up to 30 letters or digits), two check digits (ISO 7064 MOD 97-10).
_LEITWEG_ID = re.compile(r"^[0-9]{2,12}(-[0-9A-Za-z]{1,30})?-[0-9]{2}$")


def peppol_id_error(value: str) -> str | None:
    """Why `value` is not a Peppol ID, or None: "scheme:identifier", the scheme in the EAS code list,
    and where Peppol's own rules check an identifier (PEPPOL-COMMON-R040 GLN, R043 Belgian
    enterprise number, R049 Swedish organisation number) its check digits too, so that an address
    accepted here is never refused by the Peppol rules at issue."""
    m = _PEPPOL_ID.match(value.strip())
    if m is None:
        return f'peppol_id {value!r} is not "scheme:identifier", e.g. 0088:1234567890128 or 0208:0123456789'
    scheme, ident = m.groups()
    if scheme not in EAS_CODES:
        return f"peppol_id {value!r}: scheme {scheme} is not in the Peppol EAS code list"
    valid = {
        "0088": lambda: ean.is_valid(ident) and len(ident) == 13,
        "0208": lambda: be_vat.is_valid("BE" + ident),
        "0007": lambda: orgnr.is_valid(ident),
    }.get(scheme)
    if valid is not None and not valid():
        return f"peppol_id {value!r}: {ident} is not a valid identifier of scheme {scheme} (check digits)"
    return None


_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")


def phone_error(value: str) -> str | None:
    """Why `value` is not a telephone number (digits with + ( ) . / - and spaces, 5 to 30), or None."""
    if _PHONE.match(value.strip()) and sum(ch.isdigit() for ch in value) >= 5:
        return None
    return f"{value!r} is not a telephone number (e.g. +49 30 1234567)"


def leitweg_id_error(value: str) -> str | None:
    """Why `value` is not a Leitweg-ID (format and ISO 7064 MOD 97-10 check digits), or None."""
    text = value.strip()
    if not _LEITWEG_ID.match(text):
        return f"leitweg_id {value!r} is not a Leitweg-ID (e.g. 04011000-12345-03: area-[detail-]check digits)"
    if not mod_97_10.is_valid(text.replace("-", "").upper()):
        return f"leitweg_id {value!r}: its check digits do not match"
    return None


@dataclass(frozen=True, slots=True)
class Plan:
    syntax: str  # ubl | cii
    peppol: bool
    xrechnung: bool


def is_public_de(invoice: Invoice) -> bool:
    """A German public buyer: its invoices follow XRechnung (the E-Rechnungsverordnung)."""
    return invoice.buyer.public_sector and invoice.buyer.country == "DE"


def is_peppol(invoice: Invoice) -> bool:
    """The UBL goes out as Peppol BIS Billing 3.0 only to a buyer with a Peppol address (BT-49)."""
    return bool(invoice.buyer.peppol_id)


def plan(invoice: Invoice) -> Plan | None:
    """How the invoice's e-invoice is checked, or None when it has none (US sales tax)."""
    if any(ln.tax.rule.startswith("us_") for ln in invoice.lines):
        return None
    fmt = invoice.buyer.invoice_format or "pdf"
    syntax = "cii" if fmt in ("cii", "facturx") else "ubl"
    return Plan(syntax, peppol=syntax == "ubl" and is_peppol(invoice), xrechnung=is_public_de(invoice))


# rule id -> (field to fix, what is wrong in plain words)
PLAIN_WORDS: dict[str, tuple[str, str]] = {
    "DE-R-006": (
        "entities.<code>.phone",
        "the seller's contact telephone (BT-42) is missing: Peppol requires it on German domestic invoices",
    ),
    "BR-DE-6": ("entities.<code>.phone", "the seller's contact telephone (BT-42) is missing: XRechnung requires it"),
    "BR-DE-7": ("entities.<code>.email", "the seller's contact e-mail (BT-43) is missing: XRechnung requires it"),
    "BR-DE-5": ("entities.<code>.contact.name", "the seller's contact name (BT-41) is missing: XRechnung requires it"),
    "BR-DE-1": (
        "entities.<code>.iban",
        "XRechnung requires payment instructions (BG-16): configure the seller's IBAN "
        "(a payment link alone is not one)",
    ),
    "BR-DE-3": ("entities.<code>.address.city", "the seller's city (BT-37) is missing: XRechnung requires it"),
    "BR-DE-4": (
        "entities.<code>.address.postal_code",
        "the seller's post code (BT-38) is missing: XRechnung requires it",
    ),
    "BR-DE-8": ("billing_city", "the buyer's city (BT-52) is missing: XRechnung requires it"),
    "BR-DE-9": ("billing_postal_code", "the buyer's post code (BT-53) is missing: XRechnung requires it"),
    "BR-DE-15": ("leitweg_id", "the buyer reference (BT-10, the Leitweg-ID of a public buyer) is missing"),
    "PEPPOL-EN16931-R010": (
        "peppol_id",
        "the buyer's electronic address (BT-49) is missing: give its Peppol ID or send the invoice outside Peppol",
    ),
    "PEPPOL-EN16931-R020": ("entities.<code>.vat_id", "the seller's electronic address (BT-34) is missing"),
    "PEPPOL-EN16931-R003": ("po_number", "a buyer reference or a purchase order number is required"),
    "BR-CO-09": ("vat_id", "a VAT identifier does not start with its country prefix"),
    "BR-CO-16": ("(totals)", "the amount due does not equal the total with VAT less what was paid"),
    "BR-CO-15": ("(totals)", "the total with VAT does not equal the total without VAT plus the VAT"),
    "BR-06": ("entities.<code>.name", "the seller's name (BT-27) is missing"),
    "BR-07": ("customer_legal_name", "the buyer's name (BT-44) is missing"),
    "BR-08": ("entities.<code>.address", "the seller's postal address is missing"),
    "BR-10": ("billing_street", "the buyer's postal address is missing"),
    "BR-11": ("entities.<code>.address.country", "the seller's country is missing"),
    "BR-S-02": ("entities.<code>.vat_id", "standard-rated VAT needs the seller's VAT identifier"),
    "BR-AE-02": ("vat_id", "a reverse-charge invoice needs both VAT identifiers"),
    "BR-IC-02": ("vat_id", "an intra-community supply needs both VAT identifiers"),
    "BR-61": ("entities.<code>.iban", "a credit transfer needs the seller's account (IBAN, BT-84)"),
    "XSD": ("(document)", "the document does not follow the XML schema"),
}


def explain(rule: str, text: str, entity: str = "") -> tuple[str, str]:
    """(field to fix, message) for a finding: the plain-words table, else the rule's own text."""
    known = PLAIN_WORDS.get(rule)
    if known is None:
        return "(e-invoice)", text
    field, words = known
    return field.replace("<code>", entity or "<code>"), words
